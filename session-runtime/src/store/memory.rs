//! [`MemoryStore`]: sessions in process memory.

use super::{Record, Saved, SessionStore, StoreError};
use crate::id::StoreKey;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Sessions in a bounded map in process memory.
///
/// For tests, single-process deployments, and as the cache in front of a
/// durable store. It is bounded: when full, expired records go first, then
/// the record closest to expiry, so memory use stays at `capacity` records
/// (each at most `max_record` bytes). Everything is lost when the process
/// exits.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
    max_record: usize,
}

#[derive(Debug, Default)]
struct Inner {
    records: HashMap<StoreKey, Record>,
    /// (expires_at, key), to find expired and soonest-expiring records.
    by_expiry: BTreeSet<(u64, StoreKey)>,
}

impl Inner {
    fn insert(&mut self, key: StoreKey, record: Record) {
        if let Some(old) = self.records.insert(key, record.clone()) {
            self.by_expiry.remove(&(old.expires_at, key));
        }
        self.by_expiry.insert((record.expires_at, key));
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Record> {
        let old = self.records.remove(key)?;
        self.by_expiry.remove(&(old.expires_at, *key));
        Some(old)
    }

    /// Makes room for one more record.
    fn make_room(&mut self, capacity: usize) {
        while self.records.len() >= capacity {
            let Some(&(_, key)) = self.by_expiry.iter().next() else {
                return;
            };
            self.remove(&key);
        }
    }
}

/// 10,000 sessions.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// 1 MiB, gae-sessions' cap.
pub const DEFAULT_MAX_RECORD: usize = 1 << 20;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` sessions (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            max_record: DEFAULT_MAX_RECORD,
        }
    }

    /// Refuses records larger than `bytes` (default 1 MiB).
    #[must_use]
    pub fn with_max_record(mut self, bytes: usize) -> Self {
        self.max_record = bytes;
        self
    }

    /// The number of records held, expired or not.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether the store holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check_size(&self, data: &[u8]) -> Result<(), StoreError> {
        if data.len() > self.max_record {
            return Err(StoreError::TooLarge {
                len: data.len(),
                max: self.max_record,
            });
        }
        Ok(())
    }
}

impl SessionStore for MemoryStore {
    async fn create(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        self.check_size(data)?;
        let mut inner = self.lock();
        if inner.records.contains_key(key) {
            return Ok(false);
        }
        inner.make_room(self.capacity);
        inner.insert(
            *key,
            Record {
                data: data.to_vec(),
                expires_at,
                version: 1,
            },
        );
        Ok(true)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .records
            .get(key)
            .filter(|record| record.expires_at > now)
            .cloned())
    }

    async fn save(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: u64,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        self.check_size(data)?;
        let mut inner = self.lock();
        let Some(current) = inner.records.get(key).filter(|r| r.expires_at > now) else {
            return Ok(Saved::Missing);
        };
        if current.version != version {
            return Ok(Saved::Conflict(current.clone()));
        }
        let version = version + 1;
        inner.insert(
            *key,
            Record {
                data: data.to_vec(),
                expires_at,
                version,
            },
        );
        Ok(Saved::Saved { version })
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        Ok(self.lock().remove(key).is_some())
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(dormant_for);
        let mut inner = self.lock();
        let doomed: Vec<StoreKey> = inner
            .by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= cutoff)
            .take(limit)
            .map(|(_, key)| *key)
            .collect();
        for key in &doomed {
            inner.remove(key);
        }
        Ok(doomed.len())
    }
}
