//! [`MemoryStore`]: sessions in process memory.

use super::{
    DEFAULT_MAX_RECORD, Entry, Lookup, Record, Revoked, Saved, SessionStore, StoreError,
    StoreStats, TOMBSTONE_TTL, UserSession,
};
use crate::id::StoreKey;
use hashlink::LinkedHashMap;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Sessions in a bounded map in process memory.
///
/// For tests, single-process deployments, and as the cache in front of a
/// durable store. It is bounded twice: by a record count
/// ([`DEFAULT_CAPACITY`]) and by the bytes its records hold
/// ([`DEFAULT_MAX_BYTES`]). Eviction is a segmented LRU: a new record
/// starts on probation, and moves to the protected segment (at most 80% of
/// the store) when it is read again; the least recently used record on
/// probation goes first. A flood of new sessions that are never used again
/// (bots, scanners) therefore evicts itself, not the sessions of active
/// users. Everything is lost when the process exits.
///
/// It is not [`SHARED`](SessionStore::SHARED): other processes never see
/// it. As the cache of a [`Tiered`](super::Tiered) store over a shared
/// durable store, its entries are trusted for a short staleness bound.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    capacity: usize,
    max_bytes: usize,
    max_record: usize,
}

/// 100,000 sessions.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// 64 MiB of session records.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// What a record costs beyond its blobs: key, times, map links.
const RECORD_OVERHEAD: usize = 128;

/// A user of one session type: (cookie name, user), the user index's key.
type IndexKey = (Arc<str>, Arc<str>);

#[derive(Debug)]
struct Held {
    record: Record,
    /// When this process last wrote it, for the staleness bound.
    written: Instant,
    /// The session type's fingerprint, for stats.
    shape: u64,
    /// The session's place in the user index: its cookie name and user.
    user: Option<IndexKey>,
    /// When the record was created and last saved, Unix seconds.
    created_at: u64,
    written_at: u64,
}

impl Held {
    fn bytes(&self) -> usize {
        self.record.data.len() + self.record.quick.len() + RECORD_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// New records, least recently used first.
    probation: LinkedHashMap<StoreKey, Held>,
    /// Records read at least once since they were written, least recently
    /// used first.
    protected: LinkedHashMap<StoreKey, Held>,
    protected_bytes: usize,
    bytes: usize,
    /// (expires_at, key), for the reaper and stats.
    by_expiry: BTreeSet<(u64, StoreKey)>,
    /// Deleted keys and when their tombstone lapses, oldest first.
    tombstones: LinkedHashMap<StoreKey, Instant>,
    /// (Cookie name, user) → their records' keys (see [`crate::user`]).
    users: HashMap<IndexKey, HashSet<StoreKey>>,
    /// User → (revoked before, kept until) (see
    /// [`SessionStore::revoked_before`]).
    revocations: HashMap<String, (u64, Instant)>,
}

impl Inner {
    fn len(&self) -> usize {
        self.probation.len() + self.protected.len()
    }

    fn get(&self, key: &StoreKey) -> Option<&Held> {
        self.protected.get(key).or_else(|| self.probation.get(key))
    }

    fn is_tombstoned(&mut self, key: &StoreKey) -> bool {
        self.purge_tombstones();
        self.tombstones.contains_key(key)
    }

    fn purge_tombstones(&mut self) {
        let now = Instant::now();
        while let Some((_, until)) = self.tombstones.front() {
            if *until > now {
                break;
            }
            self.tombstones.pop_front();
        }
    }

    /// Marks `key` used: a probation record is promoted.
    fn touch(&mut self, key: &StoreKey, capacity: usize, max_bytes: usize) {
        if self.protected.to_back(key).is_some() {
            return;
        }
        let Some(held) = self.probation.remove(key) else {
            return;
        };
        self.protected_bytes += held.bytes();
        self.protected.insert(*key, held);
        // the protected segment keeps at most 80% of the store; what it
        // pushes out gets another chance on probation
        while self.protected.len() > capacity / 5 * 4 || self.protected_bytes > max_bytes / 5 * 4 {
            let Some((demoted, held)) = self.protected.pop_front() else {
                break;
            };
            self.protected_bytes -= held.bytes();
            self.probation.insert(demoted, held);
        }
    }

    fn remove(&mut self, key: &StoreKey) -> Option<Record> {
        let held = match self.protected.remove(key) {
            Some(held) => {
                self.protected_bytes -= held.bytes();
                held
            }
            None => self.probation.remove(key)?,
        };
        self.bytes -= held.bytes();
        self.by_expiry.remove(&(held.record.expires_at, *key));
        if let Some(user) = &held.user
            && let Some(keys) = self.users.get_mut(user)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.users.remove(user);
            }
        }
        Some(held.record)
    }

    /// Writes `record` under `key`, in its segment if it is there, else on
    /// probation; then evicts until the bounds hold again.
    fn write(&mut self, key: StoreKey, entry: Entry<'_>, version: u64, bounds: (usize, usize)) {
        let (capacity, max_bytes) = bounds;
        let created_at = self
            .get(&key)
            .map_or(entry.written_at, |held| held.created_at);
        let user: Option<IndexKey> = entry
            .user
            .map(|user| (Arc::from(entry.cookie_name), Arc::from(user)));
        let held = Held {
            record: entry.to_record(version),
            written: Instant::now(),
            shape: entry.shape,
            user: user.clone(),
            created_at,
            written_at: entry.written_at,
        };
        let promoted = self.protected.contains_key(&key);
        self.remove(&key);
        if let Some(user) = user {
            self.users.entry(user).or_default().insert(key);
        }
        self.bytes += held.bytes();
        self.by_expiry.insert((held.record.expires_at, key));
        if promoted {
            self.protected_bytes += held.bytes();
            self.protected.insert(key, held);
        } else {
            self.probation.insert(key, held);
        }
        while self.len() > capacity || self.bytes > max_bytes {
            // never the record just written
            let victim = self
                .probation
                .keys()
                .chain(self.protected.keys())
                .find(|candidate| **candidate != key)
                .copied();
            match victim {
                Some(victim) => {
                    self.remove(&victim);
                }
                None => break,
            }
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` sessions (at least one) and
    /// [`DEFAULT_MAX_BYTES`].
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            max_bytes: DEFAULT_MAX_BYTES,
            max_record: DEFAULT_MAX_RECORD,
        }
    }

    /// Holds at most `bytes` of records (default 64 MiB), counting each
    /// record's blobs and a small fixed overhead.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
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
        self.lock().len()
    }

    /// Whether the store holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the records occupy, as counted against the bound.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn bounds(&self) -> (usize, usize) {
        (self.capacity, self.max_bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, key: &StoreKey, now: u64, max_staleness: Option<Duration>) -> Option<Record> {
        let mut inner = self.lock();
        let held = inner.get(key)?;
        if held.record.expires_at <= now {
            return None;
        }
        if max_staleness.is_some_and(|max| held.written.elapsed() > max) {
            return None;
        }
        let record = held.record.clone();
        inner.touch(key, self.capacity, self.max_bytes);
        Some(record)
    }
}

impl SessionStore for MemoryStore {
    const NAME: &'static str = "memory";
    const SHARED: bool = false;
    const TOMBSTONES: bool = true;
    const KEEPS_REVOCATIONS: bool = true;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let mut inner = self.lock();
        if inner.get(key).is_some() || inner.is_tombstoned(key) {
            return Ok(false);
        }
        inner.write(*key, entry, 1, self.bounds());
        Ok(true)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        Ok(self.live(key, now, None))
    }

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<Duration>,
    ) -> Result<Lookup, StoreError> {
        if let Some(record) = self.live(key, now, max_staleness) {
            return Ok(Lookup::Hit(record));
        }
        Ok(if self.lock().is_tombstoned(key) {
            Lookup::Gone
        } else {
            Lookup::Miss
        })
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
        let Some(current) = inner.get(key).filter(|held| held.record.expires_at > now) else {
            return Ok(Saved::Missing);
        };
        if current.record.version != version {
            return Ok(Saved::Conflict(current.record.clone()));
        }
        let version = version + 1;
        inner.write(*key, entry, version, self.bounds());
        Ok(Saved::Saved { version })
    }

    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(held) = inner.get(key) else {
            return Ok(false);
        };
        if held.record.version != version || held.record.expires_at <= now {
            return Ok(false);
        }
        let (data, expires_at, shape) =
            (held.record.data.clone(), held.record.expires_at, held.shape);
        let (user, written_at) = (held.user.clone(), held.written_at);
        // the record as it will be: its data and the new quick blob
        StoreError::check_size(
            &Entry::new(&data, expires_at).with_quick(quick),
            self.max_record,
        )?;
        let entry = Entry {
            data: &data,
            quick,
            expires_at,
            shape,
            cookie_name: user.as_ref().map_or("", |(cookie_name, _)| cookie_name),
            user: user.as_ref().map(|(_, user)| &**user),
            written_at,
        };
        inner.write(*key, entry, version, self.bounds());
        Ok(true)
    }

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let mut inner = self.lock();
        if inner.is_tombstoned(key) {
            return Ok(false);
        }
        if inner
            .get(key)
            .is_some_and(|held| held.record.version >= version)
        {
            return Ok(false);
        }
        inner.write(*key, entry, version, self.bounds());
        Ok(true)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let existed = inner.remove(key).is_some();
        inner.purge_tombstones();
        inner.tombstones.remove(key);
        inner
            .tombstones
            .insert(*key, Instant::now() + TOMBSTONE_TTL);
        // tombstones are small, but bounded all the same
        while inner.tombstones.len() > self.capacity {
            inner.tombstones.pop_front();
        }
        Ok(existed)
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

    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        let inner = self.lock();
        let index = |cookie_name: &str| inner.users.get(&(Arc::from(cookie_name), Arc::from(user)));
        // records written without a cookie name are every type's
        let unnamed = (!cookie_name.is_empty()).then(|| index("")).flatten();
        let mut sessions: Vec<UserSession> = index(cookie_name)
            .into_iter()
            .chain(unnamed)
            .flatten()
            .filter_map(|key| {
                let held = inner.get(key)?;
                (held.record.expires_at > now).then(|| {
                    UserSession::new(
                        *key,
                        held.created_at,
                        held.written_at,
                        held.record.expires_at,
                    )
                })
            })
            .collect();
        sessions.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.key.cmp(&b.key)));
        Ok(sessions)
    }

    /// Revocation times whose keep has lapsed (on the monotonic clock the
    /// store keeps them by; `now` is not used).
    async fn delete_expired_revocations(
        &self,
        _now: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let lapsed: Vec<String> = inner
            .revocations
            .iter()
            .filter(|(_, (_, kept))| *kept <= now)
            .map(|(user, _)| user.clone())
            .take(limit)
            .collect();
        for user in &lapsed {
            inner.revocations.remove(user);
        }
        Ok(lapsed.len())
    }

    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .revocations
            .get(user)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(at, _)| *at))
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<Revoked, StoreError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let until = now + Duration::from_secs(keep_for);
        // bounded like the records: lapsed entries go first
        if inner.revocations.len() >= self.capacity {
            inner.revocations.retain(|_, (_, kept)| *kept > now);
        }
        let previous = inner
            .revocations
            .get(user)
            .filter(|(_, kept)| *kept > now)
            .map(|(before, _)| *before);
        let revoked = Revoked::after(previous, at);
        let kept = inner
            .revocations
            .get(user)
            .map_or(until, |(_, kept)| (*kept).max(until));
        inner
            .revocations
            .insert(user.to_owned(), (revoked.before, kept));
        Ok(revoked)
    }

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        let inner = self.lock();
        let expired = inner
            .by_expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .count();
        let mut shapes: Vec<(u64, u64)> = Vec::new();
        for held in inner.probation.values().chain(inner.protected.values()) {
            if held.record.expires_at <= now {
                continue;
            }
            match shapes.iter_mut().find(|(shape, _)| *shape == held.shape) {
                Some((_, count)) => *count += 1,
                None => shapes.push((held.shape, 1)),
            }
        }
        shapes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Some(StoreStats {
            records: inner.len() as u64,
            expired: expired as u64,
            shapes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SessionId;

    fn key() -> StoreKey {
        SessionId::generate().unwrap().store_key()
    }

    #[tokio::test]
    async fn bytes_are_bounded_and_accounted() {
        let store = MemoryStore::new(1_000).with_max_bytes(10 * (1_000 + RECORD_OVERHEAD));
        let data = vec![7u8; 1_000];
        for _ in 0..50 {
            assert!(store.create(&key(), Entry::new(&data, 10)).await.unwrap());
        }
        assert_eq!(store.len(), 10);
        assert_eq!(store.bytes(), 10 * (1_000 + RECORD_OVERHEAD));
        let first = key();
        store.create(&first, Entry::new(&data, 10)).await.unwrap();
        store.delete(&first).await.unwrap();
        assert_eq!(store.bytes(), 9 * (1_000 + RECORD_OVERHEAD));
    }

    #[tokio::test]
    async fn a_stale_local_entry_is_a_miss_for_a_cache() {
        let store = MemoryStore::default();
        let k = key();
        store.create(&k, Entry::new(b"x", 10)).await.unwrap();
        assert!(matches!(
            store
                .lookup(&k, 0, Some(Duration::from_secs(5)))
                .await
                .unwrap(),
            Lookup::Hit(_)
        ));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            store
                .lookup(&k, 0, Some(Duration::from_millis(10)))
                .await
                .unwrap(),
            Lookup::Miss
        );
    }

    #[tokio::test]
    async fn a_quick_save_counts_the_quick_blob_against_the_record_limit() {
        let store = MemoryStore::default().with_max_record(4);
        let k = key();
        store.create(&k, Entry::new(b"dd", 100)).await.unwrap();
        assert!(store.save_quick(&k, b"qq", 1, 0).await.unwrap());
        assert!(matches!(
            store.save_quick(&k, b"qqq", 1, 0).await,
            Err(StoreError::TooLarge { len: 5, max: 4 })
        ));
        assert_eq!(store.load(&k, 0).await.unwrap().unwrap().quick, b"qq");
    }
}
