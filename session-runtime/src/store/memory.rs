//! [`MemoryStore`]: sessions in process memory.

use super::{DEFAULT_MAX_RECORD, Entry, Record, Saved, SessionStore, StoreError, StoreStats};
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
}

impl SessionStore for MemoryStore {
    const NAME: &'static str = "memory";

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let mut inner = self.lock();
        if inner.records.contains_key(key) {
            return Ok(false);
        }
        inner.make_room(self.capacity);
        inner.insert(*key, entry.to_record(1));
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
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let mut inner = self.lock();
        let Some(current) = inner.records.get(key).filter(|r| r.expires_at > now) else {
            return Ok(Saved::Missing);
        };
        if current.version != version {
            return Ok(Saved::Conflict(current.clone()));
        }
        let version = version + 1;
        inner.insert(*key, entry.to_record(version));
        Ok(Saved::Saved { version })
    }

    async fn put(&self, key: &StoreKey, entry: Entry<'_>, version: u64) -> Result<(), StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let mut inner = self.lock();
        if !inner.records.contains_key(key) {
            inner.make_room(self.capacity);
        }
        inner.insert(*key, entry.to_record(version));
        Ok(())
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

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        let inner = self.lock();
        let expired = inner
            .by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .count();
        Ok(Some(StoreStats {
            records: inner.records.len() as u64,
            expired: expired as u64,
        }))
    }
}
