//! [`MemoryStore`]: sessions in process memory.

use super::{
    CacheStore, Entry, KeyStore, Lookup, Record, RevocationTimes, RevocationTimesRef, Revoked,
    Saved, SessionStore, StoreError, StoreStats, StoredKey, TOMBSTONE_TTL, UserIndex, UserIndexRef,
    UserSession,
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
/// It is a [`CacheStore`], with a [`UserIndex`] and [`RevocationTimes`]
/// (kept per process, like everything else). It is not
/// [`SHARED`](CacheStore::SHARED): other processes never see
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
pub const DEFAULT_CAPACITY: std::num::NonZeroUsize = std::num::NonZeroUsize::new(100_000).unwrap();
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
    updated_at: u64,
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
    /// [`RevocationTimes::revoked_before`]).
    revocations: HashMap<String, (u64, Instant)>,
    /// A managed key ring's keys, by number (see [`KeyStore`]).
    keys: std::collections::BTreeMap<u32, StoredKey>,
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
            .map_or(entry.updated_at, |held| held.created_at);
        let user: Option<IndexKey> = entry
            .user
            .map(|user| (Arc::from(entry.cookie_name), Arc::from(user)));
        let held = Held {
            record: entry.to_record(version),
            written: Instant::now(),
            shape: entry.shape,
            user: user.clone(),
            created_at,
            updated_at: entry.updated_at,
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
    /// A store holding at most `capacity` sessions and
    /// [`DEFAULT_MAX_BYTES`].
    #[must_use]
    pub fn new(capacity: std::num::NonZeroUsize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.get(),
            max_bytes: DEFAULT_MAX_BYTES,
            max_record: crate::codec::DECODE_LIMIT,
        }
    }

    /// Holds at most `bytes` of records (default 64 MiB), counting each
    /// record's blobs and a small fixed overhead.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: std::num::NonZeroUsize) -> Self {
        self.max_bytes = bytes.get();
        self
    }

    /// Refuses records larger than `bytes` (default 1 MiB,
    /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT)).
    #[must_use]
    pub fn with_max_record(mut self, bytes: std::num::NonZeroUsize) -> Self {
        self.max_record = bytes.get();
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

    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        Some(UserIndexRef::new(self))
    }

    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        Some(RevocationTimesRef::new(self))
    }
}

impl CacheStore for MemoryStore {
    const SHARED: bool = false;

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
        let (user, updated_at) = (held.user.clone(), held.updated_at);
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
            updated_at,
        };
        inner.write(*key, entry, version, self.bounds());
        Ok(true)
    }
}

impl UserIndex for MemoryStore {
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
                        held.updated_at,
                        held.record.expires_at,
                    )
                })
            })
            .collect();
        sessions.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
        Ok(sessions)
    }
}

/// One process's key ring: for tests and a single process (the keys go
/// with it, and every session sealed with them).
impl KeyStore for MemoryStore {
    async fn load_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.lock().keys.values().cloned().collect())
    }

    async fn add_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.keys.contains_key(&key.kid) {
            return Ok(false);
        }
        inner.keys.insert(key.kid, key.clone());
        Ok(true)
    }

    async fn revoke_key(&self, kid: u32, at: u64) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.keys.get_mut(&kid) {
            Some(key) if key.revoked_at.is_none() => {
                key.revoked_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_key(&self, kid: u32) -> Result<bool, StoreError> {
        Ok(self.lock().keys.remove(&kid).is_some())
    }
}

impl RevocationTimes for MemoryStore {
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
        let store = MemoryStore::new(std::num::NonZeroUsize::new(1_000).unwrap())
            .with_max_bytes(std::num::NonZeroUsize::new(10 * (1_000 + RECORD_OVERHEAD)).unwrap());
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

    fn record(data: &[u8], expires_at: u64, version: u64) -> Record {
        Entry::new(data, expires_at).to_record(version)
    }

    #[tokio::test]
    async fn versions_count_saves_and_a_stale_version_conflicts() {
        let store = MemoryStore::default();
        let k = key();
        assert!(store.create(&k, Entry::new(b"a", 100)).await.unwrap());
        assert!(
            !store.create(&k, Entry::new(b"b", 100)).await.unwrap(),
            "a key is created once"
        );
        assert_eq!(
            store.load(&k, 10).await.unwrap(),
            Some(record(b"a", 100, 1))
        );
        let saved = store.save(&k, Entry::new(b"b", 200), 1, 10).await.unwrap();
        assert_eq!(saved, Saved::Saved { version: 2 });
        // a writer that loaded version 1 lost the race: it gets the record
        let stale = store.save(&k, Entry::new(b"c", 300), 1, 10).await.unwrap();
        assert_eq!(stale, Saved::Conflict(record(b"b", 200, 2)));
        assert_eq!(
            store.save(&k, Entry::new(b"c", 300), 3, 10).await.unwrap(),
            Saved::Conflict(record(b"b", 200, 2)),
            "a version from the future conflicts too"
        );
        assert_eq!(
            store.save(&k, Entry::new(b"c", 300), 2, 10).await.unwrap(),
            Saved::Saved { version: 3 }
        );
        // a save never recreates a record: absent or expired is Missing
        assert_eq!(
            store
                .save(&key(), Entry::new(b"x", 300), 1, 10)
                .await
                .unwrap(),
            Saved::Missing
        );
        assert_eq!(
            store.save(&k, Entry::new(b"d", 400), 3, 300).await.unwrap(),
            Saved::Missing,
            "expired at 300"
        );
        assert_eq!(
            store.save(&k, Entry::new(b"d", 400), 3, 299).await.unwrap(),
            Saved::Saved { version: 4 }
        );
    }

    #[tokio::test]
    async fn a_record_is_live_until_its_expiry() {
        let store = MemoryStore::default();
        let k = key();
        store.create(&k, Entry::new(b"a", 100)).await.unwrap();
        assert!(store.load(&k, 99).await.unwrap().is_some());
        assert_eq!(store.load(&k, 100).await.unwrap(), None);
        assert_eq!(store.lookup(&k, 100, None).await.unwrap(), Lookup::Miss);
        assert_eq!(store.load(&key(), 0).await.unwrap(), None);
        assert_eq!(store.len(), 1, "expired, held until reaped");
        assert!(!store.is_empty());
    }

    #[tokio::test]
    async fn a_deleted_key_is_a_tombstone_nothing_recreates() {
        let store = MemoryStore::default();
        let k = key();
        store.create(&k, Entry::new(b"a", 100)).await.unwrap();
        assert!(store.delete(&k).await.unwrap());
        assert!(!store.delete(&k).await.unwrap(), "already gone");
        assert!(store.is_empty());
        assert_eq!(store.lookup(&k, 0, None).await.unwrap(), Lookup::Gone);
        assert_eq!(store.load(&k, 0).await.unwrap(), None);
        // a late cache fill or a replayed create cannot bring it back
        assert!(!store.put(&k, Entry::new(b"b", 100), 5).await.unwrap());
        assert!(!store.create(&k, Entry::new(b"b", 100)).await.unwrap());
        assert_eq!(store.len(), 0);
        // a key never deleted is a plain miss
        assert_eq!(store.lookup(&key(), 0, None).await.unwrap(), Lookup::Miss);
        // a lookup of a live record is a hit
        let live = key();
        store.create(&live, Entry::new(b"c", 100)).await.unwrap();
        assert_eq!(
            store.lookup(&live, 0, None).await.unwrap(),
            Lookup::Hit(record(b"c", 100, 1))
        );
    }

    #[tokio::test]
    async fn tombstones_are_bounded_by_the_capacity() {
        let store = MemoryStore::new(std::num::NonZeroUsize::new(3).unwrap());
        let keys: Vec<StoreKey> = (0..5).map(|_| key()).collect();
        for k in &keys {
            store.delete(k).await.unwrap();
        }
        // the oldest two tombstones made room for newer ones
        for (i, k) in keys.iter().enumerate() {
            let expected = if i < 2 { Lookup::Miss } else { Lookup::Gone };
            assert_eq!(store.lookup(k, 0, None).await.unwrap(), expected, "{i}");
        }
        // deleting a key again moves its tombstone to the back
        store.delete(&keys[2]).await.unwrap();
        store.delete(&key()).await.unwrap();
        assert_eq!(store.lookup(&keys[2], 0, None).await.unwrap(), Lookup::Gone);
        assert_eq!(store.lookup(&keys[3], 0, None).await.unwrap(), Lookup::Miss);
    }

    #[tokio::test]
    async fn a_fill_never_replaces_a_newer_version() {
        let store = MemoryStore::default();
        let k = key();
        assert!(store.put(&k, Entry::new(b"v3", 100), 3).await.unwrap());
        assert!(!store.put(&k, Entry::new(b"v2", 100), 2).await.unwrap());
        assert!(!store.put(&k, Entry::new(b"v3'", 100), 3).await.unwrap());
        assert_eq!(
            store.load(&k, 0).await.unwrap(),
            Some(record(b"v3", 100, 3))
        );
        assert!(store.put(&k, Entry::new(b"v4", 100), 4).await.unwrap());
        assert_eq!(
            store.load(&k, 0).await.unwrap(),
            Some(record(b"v4", 100, 4))
        );
    }

    #[tokio::test]
    async fn quick_fields_are_saved_at_the_version_only() {
        let store = MemoryStore::default();
        let k = key();
        store
            .create(
                &k,
                Entry::new(b"d", 100)
                    .with_shape(9)
                    .with_user("s", Some("u"), 5),
            )
            .await
            .unwrap();
        assert!(
            !store.save_quick(&k, b"q", 2, 0).await.unwrap(),
            "wrong version"
        );
        assert!(
            !store.save_quick(&k, b"q", 1, 100).await.unwrap(),
            "expired"
        );
        assert!(
            !store.save_quick(&key(), b"q", 1, 0).await.unwrap(),
            "absent"
        );
        assert!(store.save_quick(&k, b"q", 1, 99).await.unwrap());
        let loaded = store.load(&k, 0).await.unwrap().unwrap();
        assert_eq!(
            (loaded.data, loaded.quick, loaded.version),
            (b"d".to_vec(), b"q".to_vec(), 1)
        );
        // the record keeps its place in the user index and its shape
        assert_eq!(store.user_sessions("s", "u", 0).await.unwrap().len(), 1);
        assert_eq!(store.stats(0).await.unwrap().unwrap().shapes, [(9, 1)]);
    }

    #[tokio::test]
    async fn a_records_bytes_count_its_quick_blob_too() {
        let store = MemoryStore::default();
        let k = key();
        store
            .create(&k, Entry::new(&[1; 10], 100).with_quick(&[2; 5]))
            .await
            .unwrap();
        assert_eq!(store.bytes(), 15 + RECORD_OVERHEAD);
        store.delete(&k).await.unwrap();
        assert_eq!(store.bytes(), 0);
    }

    #[tokio::test]
    async fn a_quick_save_counts_the_quick_blob_against_the_record_limit() {
        let store = MemoryStore::default().with_max_record(std::num::NonZeroUsize::new(4).unwrap());
        let k = key();
        store.create(&k, Entry::new(b"dd", 100)).await.unwrap();
        assert!(store.save_quick(&k, b"qq", 1, 0).await.unwrap());
        assert!(matches!(
            store.save_quick(&k, b"qqq", 1, 0).await,
            Err(StoreError::TooLarge { len: 5, max: 4 })
        ));
        assert_eq!(store.load(&k, 0).await.unwrap().unwrap().quick, b"qq");
    }

    #[tokio::test]
    async fn records_over_the_limit_are_refused() {
        let store = MemoryStore::default().with_max_record(std::num::NonZeroUsize::new(4).unwrap());
        let k = key();
        assert!(store.create(&k, Entry::new(b"1234", 100)).await.unwrap());
        assert!(matches!(
            store.create(&key(), Entry::new(b"12345", 100)).await,
            Err(StoreError::TooLarge { len: 5, max: 4 })
        ));
        assert!(matches!(
            store.save(&k, Entry::new(b"12345", 100), 1, 0).await,
            Err(StoreError::TooLarge { .. })
        ));
        assert!(matches!(
            store
                .put(&key(), Entry::new(b"123", 100).with_quick(b"45"), 1)
                .await,
            Err(StoreError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn the_reaper_takes_what_expired_before_the_cutoff_up_to_its_limit() {
        let store = MemoryStore::default();
        let keys: Vec<StoreKey> = (0..4).map(|_| key()).collect();
        for (k, expires_at) in keys.iter().zip([10, 20, 30, 40]) {
            store.create(k, Entry::new(b"x", expires_at)).await.unwrap();
        }
        // dormant for 5 seconds past its expiry: cutoff 25
        assert_eq!(store.delete_expired(30, 5, 1).await.unwrap(), 1, "limit");
        assert_eq!(store.delete_expired(30, 5, 10).await.unwrap(), 1);
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.delete_expired(30, 0, 10).await.unwrap(),
            1,
            "30 is expired at 30"
        );
        assert_eq!(
            store
                .load(&keys[3], 30)
                .await
                .unwrap()
                .map(|r| r.expires_at),
            Some(40)
        );
        assert_eq!(
            store.delete_expired(5, 10, 10).await.unwrap(),
            0,
            "no underflow"
        );
    }

    #[tokio::test]
    async fn stats_count_records_expired_ones_and_live_shapes() {
        let store = MemoryStore::default();
        for (shape, expires_at) in [(1, 10), (2, 100), (2, 100), (3, 100), (1, 100)] {
            store
                .create(&key(), Entry::new(b"x", expires_at).with_shape(shape))
                .await
                .unwrap();
        }
        let stats = store.stats(10).await.unwrap().unwrap();
        assert_eq!((stats.records, stats.expired), (5, 1));
        // most first, then by shape; the expired record of shape 1 not counted
        assert_eq!(stats.shapes, [(2, 2), (1, 1), (3, 1)]);
    }

    #[tokio::test]
    async fn a_users_sessions_are_listed_per_session_type_newest_first() {
        let store = MemoryStore::default();
        let (a, b, c, other, anonymous) = (key(), key(), key(), key(), key());
        let entry = |expires_at| Entry::new(b"x", expires_at);
        store
            .create(&a, entry(100).with_user("s", Some("u"), 5))
            .await
            .unwrap();
        store
            .create(&b, entry(100).with_user("s", Some("u"), 7))
            .await
            .unwrap();
        store
            .create(&c, entry(20).with_user("s", Some("u"), 9))
            .await
            .unwrap();
        store
            .create(&other, entry(100).with_user("admin", Some("u"), 8))
            .await
            .unwrap();
        store
            .create(&anonymous, entry(100).with_user("s", None, 8))
            .await
            .unwrap();
        let listed = store.user_sessions("s", "u", 20).await.unwrap();
        assert_eq!(
            listed,
            [
                UserSession::new(b, 7, 7, 100),
                UserSession::new(a, 5, 5, 100)
            ],
            "c expired at 20; the admin type's session is its own"
        );
        // a save keeps the creation time and moves `updated_at`
        store
            .save(&a, entry(200).with_user("s", Some("u"), 11), 1, 20)
            .await
            .unwrap();
        let listed = store.user_sessions("s", "u", 20).await.unwrap();
        assert_eq!(listed[0], UserSession::new(a, 5, 11, 200));
        // a record written without a cookie name is every type's
        let unnamed = key();
        store
            .create(&unnamed, entry(100).with_user("", Some("v"), 3))
            .await
            .unwrap();
        assert_eq!(store.user_sessions("s", "v", 0).await.unwrap().len(), 1);
        assert_eq!(store.user_sessions("", "v", 0).await.unwrap().len(), 1);
        // a deleted record leaves the index
        store.delete(&b).await.unwrap();
        assert_eq!(store.user_sessions("s", "u", 20).await.unwrap().len(), 1);
        store.delete(&a).await.unwrap();
        assert!(
            store.user_sessions("s", "u", 0).await.unwrap().len() == 1,
            "c, not yet expired at 0"
        );
    }

    #[tokio::test]
    async fn revocation_times_only_move_forward() {
        let store = MemoryStore::default();
        assert_eq!(store.revoked_before("u").await.unwrap(), None);
        let first = store.revoke_before("u", 100, 3600).await.unwrap();
        assert_eq!(first, Revoked::new(None, 100));
        assert_eq!(store.revoked_before("u").await.unwrap(), Some(100));
        // an earlier clock still moves it past the time kept
        let second = store.revoke_before("u", 50, 3600).await.unwrap();
        assert_eq!(second, Revoked::new(Some(100), 101));
        let third = store.revoke_before("u", 500, 3600).await.unwrap();
        assert_eq!(third, Revoked::new(Some(101), 500));
        assert_eq!(store.revoked_before("v").await.unwrap(), None, "per user");
        // kept for 0 seconds: lapsed at once, and reaped
        store.revoke_before("w", 10, 0).await.unwrap();
        assert_eq!(store.revoked_before("w").await.unwrap(), None);
        assert_eq!(store.delete_expired_revocations(0, 10).await.unwrap(), 1);
        assert_eq!(store.delete_expired_revocations(0, 10).await.unwrap(), 0);
        assert_eq!(store.revoked_before("u").await.unwrap(), Some(500));
        // a lapsed time is no previous one
        store.revoke_before("x", 10, 0).await.unwrap();
        assert_eq!(
            store.revoke_before("x", 5, 3600).await.unwrap(),
            Revoked::new(None, 5)
        );
    }

    #[tokio::test]
    async fn revocations_are_bounded_by_the_capacity_lapsed_first() {
        let store = MemoryStore::new(std::num::NonZeroUsize::new(2).unwrap());
        store.revoke_before("lapsed", 1, 0).await.unwrap();
        store.revoke_before("kept", 1, 3600).await.unwrap();
        store.revoke_before("new", 1, 3600).await.unwrap();
        assert_eq!(
            store.delete_expired_revocations(0, 10).await.unwrap(),
            0,
            "already dropped"
        );
        assert_eq!(store.revoked_before("kept").await.unwrap(), Some(1));
        assert_eq!(store.revoked_before("new").await.unwrap(), Some(1));
    }

    #[tokio::test]
    async fn new_records_that_are_never_read_evict_each_other_not_the_read_ones() {
        let store = MemoryStore::new(std::num::NonZeroUsize::new(10).unwrap());
        let active: Vec<StoreKey> = (0..5).map(|_| key()).collect();
        for k in &active {
            store.create(k, Entry::new(b"x", 100)).await.unwrap();
            store.load(k, 0).await.unwrap();
        }
        // a flood of sessions nobody uses again
        for _ in 0..50 {
            store.create(&key(), Entry::new(b"x", 100)).await.unwrap();
        }
        assert_eq!(store.len(), 10);
        for k in &active {
            assert!(
                store.load(k, 0).await.unwrap().is_some(),
                "an active session was evicted"
            );
        }
        assert_eq!(store.bytes(), 10 * (1 + RECORD_OVERHEAD));
    }

    #[tokio::test]
    async fn the_protected_segment_keeps_at_most_four_fifths() {
        let cost = 1 + RECORD_OVERHEAD;
        // bounded by count, then by bytes (the count bound far away)
        for store in [
            MemoryStore::new(std::num::NonZeroUsize::new(10).unwrap()),
            MemoryStore::new(std::num::NonZeroUsize::new(1_000).unwrap())
                .with_max_bytes(std::num::NonZeroUsize::new(10 * cost).unwrap()),
        ] {
            let keys: Vec<StoreKey> = (0..10).map(|_| key()).collect();
            for k in &keys {
                store.create(k, Entry::new(b"x", 100)).await.unwrap();
            }
            // all read: 8 stay protected, the 2 read first go back to probation
            for k in &keys {
                store.load(k, 0).await.unwrap();
            }
            // a flood of new sessions evicts those 2 and each other, never the 8
            for _ in 0..20 {
                store.create(&key(), Entry::new(b"x", 100)).await.unwrap();
            }
            assert_eq!(store.len(), 10);
            for (i, k) in keys.iter().enumerate() {
                let held = store.lookup(k, 0, None).await.unwrap() != Lookup::Miss;
                assert_eq!(held, i >= 2, "key {i}");
            }
        }
    }

    #[tokio::test]
    async fn the_byte_bound_holds_for_protected_records_and_rewrites() {
        let data = vec![1u8; 100];
        let cost = 100 + RECORD_OVERHEAD;
        let store = MemoryStore::new(std::num::NonZeroUsize::new(1_000).unwrap())
            .with_max_bytes(std::num::NonZeroUsize::new(5 * cost).unwrap());
        let keys: Vec<StoreKey> = (0..5).map(|_| key()).collect();
        for k in &keys {
            store.create(k, Entry::new(&data, 100)).await.unwrap();
            store.load(k, 0).await.unwrap();
        }
        assert_eq!(store.bytes(), 5 * cost);
        // a rewrite replaces the record's bytes, it does not add to them
        store
            .save(&keys[4], Entry::new(&data[..50], 100), 1, 0)
            .await
            .unwrap();
        assert_eq!(store.bytes(), 4 * cost + 50 + RECORD_OVERHEAD);
        assert_eq!(store.len(), 5);
        // a record read again stays where it is (protected): no double count
        store.load(&keys[4], 0).await.unwrap();
        store
            .save(&keys[4], Entry::new(&data, 100), 2, 0)
            .await
            .unwrap();
        assert_eq!(store.bytes(), 5 * cost);
        store.create(&key(), Entry::new(&data, 100)).await.unwrap();
        assert_eq!((store.len(), store.bytes()), (5, 5 * cost));
        // the protected segment's own count stayed right through the
        // rewrites: promoting one more demotes exactly the oldest protected
        let fresh = key();
        store.create(&fresh, Entry::new(&data, 100)).await.unwrap();
        store.load(&fresh, 0).await.unwrap();
        for _ in 0..10 {
            store.create(&key(), Entry::new(&data, 100)).await.unwrap();
        }
        for (i, k) in keys.iter().enumerate() {
            let held = store.lookup(k, 0, None).await.unwrap() != Lookup::Miss;
            assert_eq!(held, i >= 2, "key {i}");
        }
        assert!(store.load(&fresh, 0).await.unwrap().is_some());
    }
}
