//! [`Tiered`]: a cache store in front of a durable one.

use super::guard::Breaker;
use super::views::{BoxFuture, QuickTier};
use super::{
    CacheStore, Entry, Lookup, QuickTierRef, Record, RevocationTimes, RevocationTimesRef, Revoked,
    Saved, SessionStore, StoreError, StoreStats, UserIndex, UserIndexRef, UserSession,
};
use crate::id::StoreKey;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a cache call may take before the durable store answers
/// instead: 250 ms.
pub const DEFAULT_CACHE_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a [`Tiered`] store trusts an entry of a cache that is not
/// shared between processes ([`MemoryStore`](super::MemoryStore)): 1 second.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1);

/// Keys whose cache entry may be outdated, remembered while the cache
/// cannot be told of a write, so they are read from the durable store and
/// brought up to date when the cache answers again.
const MAX_PENDING: usize = 100_000;

/// A cache (memcached, Redis, memory) in front of a durable store (SQL).
///
/// * Reads try the cache, then the durable store, and fill the cache with
///   what they find. A fill never replaces a newer version and never
///   revives a deleted session (see [the cache contract](super#caches-and-coherence)).
/// * Writes go to the durable store first (its compare-and-set decides),
///   then to the cache.
/// * Deletes go to both, and leave a tombstone in the cache. A delete the
///   cache cannot record is an error: a logout that answered success must
///   not leave a cache able to serve the session.
/// * A cache that fails or takes longer than its timeout (default 250 ms)
///   is skipped: reads and writes are served by the durable store, and a
///   cache that keeps failing is not asked at all for a short while (a
///   circuit breaker). Keys written meanwhile are read from the durable
///   store, and brought up to date in the cache as soon as it answers
///   again, so it never serves what it held before the outage.
/// * `#[session(quick)]` fields go to the cache only (gae-sessions'
///   `set_quick`): cheap to write, lost when the cache drops the entry.
/// * A cache that is not shared between processes is trusted for at most
///   [`DEFAULT_MAX_STALENESS`] after it was filled
///   ([`with_max_staleness`](Self::with_max_staleness)); a shared cache
///   (Redis, memcached) is always coherent.
/// * The user index and the revocation times are the durable store's (a
///   cache may lose them): `Tiered` implements [`UserIndex`] and
///   [`RevocationTimes`] when its durable store does, and hands the layer
///   the durable store's (revocations of a user's sessions delete through
///   the `Tiered` store, so its cache keeps tombstones).
///
/// For a cache with no durable store behind it (gae-sessions'
/// `no_datastore`), use the cache store directly.
///
/// ```
/// use session_runtime::{MemoryStore, Tiered};
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Tiered::new(
///     MemoryStore::default(),
///     session_runtime::store::SqliteStore::in_memory().await?,
/// );
/// # let _ = store;
/// # Ok::<(), session_runtime::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Tiered<Cache, Durable> {
    cache: Cache,
    durable: Durable,
    cache_timeout: Duration,
    max_staleness: Option<Duration>,
    health: Arc<CacheHealth>,
}

/// Shared by the clones of one [`Tiered`] store.
#[derive(Debug)]
struct CacheHealth {
    /// Opens at the first cache timeout: a request pays at most one.
    breaker: Breaker,
    /// Keys written while the cache could not be told.
    pending: Mutex<HashSet<StoreKey>>,
    has_pending: AtomicBool,
}

impl Default for CacheHealth {
    fn default() -> Self {
        Self {
            breaker: Breaker::opening_on_timeout(),
            pending: Mutex::default(),
            has_pending: AtomicBool::default(),
        }
    }
}

impl<Cache: CacheStore, Durable: SessionStore> Tiered<Cache, Durable> {
    /// `cache` in front of `durable`.
    #[must_use]
    pub fn new(cache: Cache, durable: Durable) -> Self {
        Self {
            cache,
            durable,
            cache_timeout: DEFAULT_CACHE_TIMEOUT,
            max_staleness: (!Cache::SHARED).then_some(DEFAULT_MAX_STALENESS),
            health: Arc::default(),
        }
    }

    /// How long a cache call may take before it counts as failed and the
    /// durable store answers (default 250 ms).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Timeout`](crate::ConfigError::Timeout) for zero or
    /// more than a minute, as the layer's timeouts.
    pub fn with_cache_timeout(mut self, timeout: Duration) -> Result<Self, crate::ConfigError> {
        self.cache_timeout = crate::config::check_short_duration("the cache timeout", timeout)?;
        Ok(self)
    }

    /// For a cache that is not shared between processes: how long after a
    /// fill its entry is trusted before the durable store is read again
    /// (default 1 second). Other processes' writes and logouts are seen
    /// within this bound. Ignored for shared caches, which are coherent.
    ///
    /// # Security
    ///
    /// A larger bound lets another process keep serving a session for
    /// that long after it was terminated.
    #[must_use]
    pub fn with_max_staleness(mut self, staleness: Duration) -> Self {
        if !Cache::SHARED {
            self.max_staleness = Some(staleness);
        }
        self
    }

    /// The cache tier.
    #[must_use]
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The durable tier.
    #[must_use]
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// What a read finds of `key` at `now`: the cache's record or
    /// tombstone ([`Lookup::Gone`]: the session was deleted, the durable
    /// store is not asked), else the durable store's record (which fills
    /// the cache), else nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the durable store fails (a failing cache is
    /// skipped).
    pub async fn lookup(&self, key: &StoreKey, now: u64) -> Result<Lookup, StoreError> {
        let outdated = self.is_pending(key);
        if !outdated {
            match self
                .cached(self.cache.lookup(key, now, self.max_staleness))
                .await
            {
                Ok(Lookup::Miss) => {}
                Ok(known) => return Ok(known),
                Err(err) => self.cache_failed("load", key, &err),
            }
        }
        let Some(record) = self.durable.load(key, now).await? else {
            return Ok(Lookup::Miss);
        };
        if outdated {
            // the fill replaces the outdated entry (it is a newer version)
            if self
                .guarded(self.cache.put(key, record.entry(), record.version))
                .await
                .is_ok()
            {
                self.forget_pending(key);
            }
        } else {
            self.fill_cache(key, record.entry(), record.version).await;
        }
        Ok(Lookup::Hit(record))
    }

    fn cache_failed(&self, operation: &str, key: &StoreKey, err: &StoreError) {
        tracing::warn!(
            cache = Cache::NAME,
            operation,
            ?key,
            error = %err,
            source = ?std::error::Error::source(err),
            "session cache failed; the durable store answers"
        );
    }

    /// A cache call under the cache's timeout and breaker. The first call
    /// after an outage first brings up to date what was written meanwhile.
    async fn cached<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.health.has_pending.load(Ordering::Acquire) && !self.health.breaker.is_open() {
            self.refresh_pending().await?;
        }
        self.guarded(call).await
    }

    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.health
            .breaker
            .call(Cache::NAME, self.cache_timeout, call)
            .await
    }

    /// Whether the cache may hold an outdated entry for `key`: it could not
    /// be told of a write. Such keys are read from the durable store.
    fn is_pending(&self, key: &StoreKey) -> bool {
        self.health.has_pending.load(Ordering::Acquire)
            && self
                .health
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(key)
    }

    /// Puts the durable record of every pending key in the cache (a
    /// version-guarded fill replaces what the cache held before the
    /// outage), or a tombstone where the durable record is gone.
    async fn refresh_pending(&self) -> Result<(), StoreError> {
        let keys: Vec<StoreKey> = {
            let mut pending = self
                .health
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.health.has_pending.store(false, Ordering::Release);
            pending.drain().collect()
        };
        for (done, key) in keys.iter().enumerate() {
            if let Err(err) = self.refresh(key).await {
                // still failing: keep the rest for the next attempt
                self.remember(&keys[done..]);
                return Err(err);
            }
        }
        if !keys.is_empty() {
            tracing::info!(
                cache = Cache::NAME,
                keys = keys.len(),
                "session cache answers again: entries written during the outage brought up to date"
            );
        }
        Ok(())
    }

    /// Brings the cache entry of `key` up to date with the durable store.
    async fn refresh(&self, key: &StoreKey) -> Result<(), StoreError> {
        // expiry is checked when the entry is read: any live-or-not record
        let record = self.durable.load(key, 0).await?;
        match record {
            Some(record) => {
                self.guarded(self.cache.put(key, record.entry(), record.version))
                    .await?;
            }
            None => {
                self.guarded(self.cache.delete(key)).await?;
            }
        }
        Ok(())
    }

    fn remember(&self, keys: &[StoreKey]) {
        let mut pending = self
            .health
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            if pending.len() >= MAX_PENDING {
                tracing::error!(
                    cache = Cache::NAME,
                    "too many session writes during a cache outage to track them all: entries cached before the outage may be served until they expire"
                );
                break;
            }
            pending.insert(*key);
        }
        self.health.has_pending.store(true, Ordering::Release);
    }

    fn forget_pending(&self, key: &StoreKey) {
        self.health
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    /// Writes `entry` at `version` to the cache; if the cache cannot be
    /// told, the key is read from the durable store until it can.
    async fn fill_cache(&self, key: &StoreKey, entry: Entry<'_>, version: u64) {
        if let Err(err) = self.cached(self.cache.put(key, entry, version)).await {
            self.cache_failed("put", key, &err);
            self.remember(&[*key]);
        }
    }

    /// Writes `quick` as the record's quick fields to the cache alone, at
    /// `version` (see [`CacheStore::save_quick`]); `Ok(false)` where the
    /// cache may be outdated or fails: the caller then saves in full.
    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        // a key the cache may hold outdated, or a cache that fails: the
        // caller saves in full, through the durable store
        if self.is_pending(key) {
            return Ok(false);
        }
        match self
            .cached(self.cache.save_quick(key, quick, version, now))
            .await
        {
            Ok(written) => Ok(written),
            Err(err) => {
                self.cache_failed("save_quick", key, &err);
                Ok(false)
            }
        }
    }
}

impl<Cache: CacheStore, Durable: SessionStore> SessionStore for Tiered<Cache, Durable> {
    const NAME: &'static str = "tiered";

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        let durable = entry.without_quick();
        if !self.durable.create(key, durable).await? {
            return Ok(false);
        }
        self.fill_cache(key, entry, 1).await;
        Ok(true)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now).await?.into_record())
    }

    async fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        let durable = entry.without_quick();
        match self.durable.save(key, durable, version, now).await? {
            Saved::Saved { version } => {
                self.fill_cache(key, entry, version).await;
                Ok(Saved::Saved { version })
            }
            Saved::Conflict(mut current) => {
                // the winner's quick fields, if the cache has that version
                if !self.is_pending(key)
                    && let Ok(Lookup::Hit(cached)) = self
                        .cached(self.cache.lookup(key, now, self.max_staleness))
                        .await
                    && cached.version == current.version
                {
                    current.quick = cached.quick;
                }
                Ok(Saved::Conflict(current))
            }
            Saved::Missing => {
                if let Err(err) = self.cached(self.cache.delete(key)).await {
                    self.cache_failed("delete", key, &err);
                    self.remember(&[*key]);
                }
                Ok(Saved::Missing)
            }
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let existed = self.durable.delete(key).await?;
        // the tombstone is part of the promise: without it the cache could
        // serve the session after this logout answered success
        if let Err(err) = self.cached(self.cache.delete(key)).await {
            self.cache_failed("delete", key, &err);
            self.remember(&[*key]);
            return Err(err);
        }
        Ok(existed)
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // cache entries carry their own expiry
        self.durable.delete_expired(now, dormant_for, limit).await
    }

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        self.durable.stats(now).await
    }

    /// The durable store's index, revoking through this store (so the
    /// cache keeps tombstones).
    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        self.durable
            .user_index()
            .map(|index| index.deleting_through(self))
    }

    /// The durable store's: a cache may lose them.
    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        self.durable.revocation_times()
    }

    /// The cache: quick fields are written there alone.
    fn quick_tier(&self) -> Option<QuickTierRef<'_>> {
        Some(QuickTierRef::new(self))
    }
}

impl<Cache: CacheStore, Durable: SessionStore> QuickTier for Tiered<Cache, Durable> {
    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        // the inherent method
        Box::pin(Self::save_quick(self, key, quick, version, now))
    }
}

/// The durable tier's index: a cache (memcached, Redis Cluster) need keep
/// none. Revoking lists with it and deletes through this store, so every
/// cache keeps a tombstone.
impl<Cache: CacheStore, Durable: UserIndex> UserIndex for Tiered<Cache, Durable> {
    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.durable.user_sessions(cookie_name, user, now).await
    }

    async fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let sessions = self.durable.user_sessions(cookie_name, user, 0).await?;
        super::views::delete_listed(&sessions, except, limit, |key| self.delete(key)).await
    }
}

/// The durable tier's: a cache may lose them.
impl<Cache: CacheStore, Durable: RevocationTimes> RevocationTimes for Tiered<Cache, Durable> {
    /// The durable tier's: a cache may lose it.
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.durable.revoked_before(user).await
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<Revoked, StoreError> {
        self.durable.revoke_before(user, at, keep_for).await
    }

    async fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // revocation times live in the durable tier only
        self.durable.delete_expired_revocations(now, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::id::SessionId;
    use std::sync::atomic::AtomicBool;

    fn key() -> StoreKey {
        SessionId::generate().unwrap().store_key()
    }

    /// A shared cache (as Redis is) over a memory store, that fails while
    /// `down` is set.
    #[derive(Clone, Default)]
    struct Flaky {
        inner: Arc<MemoryStore>,
        down: Arc<AtomicBool>,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::backend("flaky", "down"));
            }
            Ok(())
        }

        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
    }

    impl SessionStore for Flaky {
        const NAME: &'static str = "flaky";

        async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.create(key, entry).await
        }

        async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
            self.check()?;
            self.inner.load(key, now).await
        }

        async fn save(
            &self,
            key: &StoreKey,
            entry: Entry<'_>,
            version: u64,
            now: u64,
        ) -> Result<Saved, StoreError> {
            self.check()?;
            self.inner.save(key, entry, version, now).await
        }

        async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.delete(key).await
        }

        async fn delete_expired(
            &self,
            now: u64,
            dormant_for: u64,
            limit: usize,
        ) -> Result<usize, StoreError> {
            self.check()?;
            self.inner.delete_expired(now, dormant_for, limit).await
        }
    }

    impl CacheStore for Flaky {
        const SHARED: bool = true;

        async fn lookup(
            &self,
            key: &StoreKey,
            now: u64,
            max_staleness: Option<Duration>,
        ) -> Result<Lookup, StoreError> {
            self.check()?;
            self.inner.lookup(key, now, max_staleness).await
        }

        async fn put(
            &self,
            key: &StoreKey,
            entry: Entry<'_>,
            version: u64,
        ) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.put(key, entry, version).await
        }

        async fn save_quick(
            &self,
            key: &StoreKey,
            quick: &[u8],
            version: u64,
            now: u64,
        ) -> Result<bool, StoreError> {
            self.check()?;
            self.inner.save_quick(key, quick, version, now).await
        }
    }

    fn tiered() -> (Tiered<Flaky, Arc<MemoryStore>>, Flaky, Arc<MemoryStore>) {
        let cache = Flaky::default();
        let durable = Arc::new(MemoryStore::default());
        let store = Tiered::new(cache.clone(), Arc::clone(&durable));
        (store, cache, durable)
    }

    fn entry(data: &'static [u8], quick: &'static [u8]) -> Entry<'static> {
        Entry::new(data, 1_000).with_quick(quick)
    }

    #[tokio::test]
    async fn writes_go_to_both_tiers_and_quick_fields_to_the_cache_only() {
        let (store, cache, durable) = tiered();
        assert!(Arc::ptr_eq(store.durable(), &durable));
        assert!(Arc::ptr_eq(&store.cache().inner, &cache.inner));
        let k = key();
        assert!(store.create(&k, entry(b"d1", b"q1")).await.unwrap());
        assert!(!store.create(&k, entry(b"x", b"x")).await.unwrap());
        let kept = durable.load(&k, 0).await.unwrap().unwrap();
        assert_eq!(
            (kept.data.as_slice(), kept.quick.as_slice()),
            (&b"d1"[..], &b""[..])
        );
        let cached = cache.inner.load(&k, 0).await.unwrap().unwrap();
        assert_eq!((cached.quick.as_slice(), cached.version), (&b"q1"[..], 1));
        assert_eq!(
            store.save(&k, entry(b"d2", b"q2"), 1, 0).await.unwrap(),
            Saved::Saved { version: 2 }
        );
        let cached = cache.inner.load(&k, 0).await.unwrap().unwrap();
        assert_eq!((cached.data.as_slice(), cached.version), (&b"d2"[..], 2));
        assert_eq!(durable.load(&k, 0).await.unwrap().unwrap().version, 2);
        // a read is served by the cache, quick fields included
        let read = store.load(&k, 0).await.unwrap().unwrap();
        assert_eq!((read.quick.as_slice(), read.version), (&b"q2"[..], 2));
    }

    #[tokio::test]
    async fn a_read_missing_in_the_cache_comes_from_the_durable_store_and_fills_it() {
        let (store, cache, durable) = tiered();
        let k = key();
        durable.create(&k, Entry::new(b"d", 1_000)).await.unwrap();
        assert_eq!(store.load(&k, 0).await.unwrap().unwrap().data, b"d");
        assert_eq!(cache.inner.load(&k, 0).await.unwrap().unwrap().data, b"d");
        assert_eq!(store.load(&key(), 0).await.unwrap(), None);
        // a tombstone in the cache is the answer: the durable store is not asked
        let gone = key();
        durable
            .create(&gone, Entry::new(b"d", 1_000))
            .await
            .unwrap();
        cache.inner.delete(&gone).await.unwrap();
        assert_eq!(store.lookup(&gone, 0).await.unwrap(), Lookup::Gone);
    }

    #[tokio::test]
    async fn a_conflict_carries_the_winners_quick_fields_when_the_cache_has_its_version() {
        let (store, _, _) = tiered();
        let k = key();
        store.create(&k, entry(b"d1", b"q1")).await.unwrap();
        store.save(&k, entry(b"d2", b"q2"), 1, 0).await.unwrap();
        let Saved::Conflict(current) = store.save(&k, entry(b"d3", b"q3"), 1, 0).await.unwrap()
        else {
            panic!("a stale version conflicts");
        };
        assert_eq!(
            (
                current.data.as_slice(),
                current.quick.as_slice(),
                current.version
            ),
            (&b"d2"[..], &b"q2"[..], 2)
        );
    }

    #[tokio::test]
    async fn a_save_of_a_record_gone_from_the_durable_store_tombstones_the_cache() {
        let (store, cache, durable) = tiered();
        let k = key();
        store.create(&k, entry(b"d", b"q")).await.unwrap();
        // another process deleted it (its cache is not ours)
        durable.delete(&k).await.unwrap();
        assert_eq!(
            store.save(&k, entry(b"d2", b""), 1, 0).await.unwrap(),
            Saved::Missing
        );
        assert_eq!(cache.inner.lookup(&k, 0, None).await.unwrap(), Lookup::Gone);
        assert_eq!(store.load(&k, 0).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_delete_tombstones_the_cache_and_a_fill_cannot_revive_it() {
        let (store, cache, durable) = tiered();
        let k = key();
        store.create(&k, entry(b"d", b"q")).await.unwrap();
        assert!(store.delete(&k).await.unwrap());
        assert!(!store.delete(&k).await.unwrap());
        assert_eq!(cache.inner.lookup(&k, 0, None).await.unwrap(), Lookup::Gone);
        assert_eq!(store.lookup(&k, 0).await.unwrap(), Lookup::Gone);
        // a late fill (a load that read the durable store before the delete)
        assert!(!cache.put(&k, Entry::new(b"d", 1_000), 1).await.unwrap());
        assert_eq!(durable.load(&k, 0).await.unwrap(), None);
        assert_eq!(store.load(&k, 0).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_delete_the_cache_cannot_record_is_an_error_and_is_recorded_later() {
        let (store, cache, durable) = tiered();
        let k = key();
        store.create(&k, entry(b"d", b"q")).await.unwrap();
        cache.set_down(true);
        assert!(
            store.delete(&k).await.is_err(),
            "a logout must not report success"
        );
        assert_eq!(durable.load(&k, 0).await.unwrap(), None);
        assert_eq!(
            store.load(&k, 0).await.unwrap(),
            None,
            "not served meanwhile"
        );
        cache.set_down(false);
        // the next cache call first brings the cache up to date
        assert_eq!(store.load(&key(), 0).await.unwrap(), None);
        assert_eq!(cache.inner.lookup(&k, 0, None).await.unwrap(), Lookup::Gone);
    }

    #[tokio::test]
    async fn what_was_written_during_a_cache_outage_is_never_served_from_before_it() {
        let (store, cache, durable) = tiered();
        let (k, other) = (key(), key());
        store.create(&k, entry(b"v1", b"q1")).await.unwrap();
        store.create(&other, entry(b"o1", b"q1")).await.unwrap();
        cache.set_down(true);
        // (two failing cache calls: a third in a row would open its breaker)
        assert!(
            !store.save_quick(&other, b"q", 1, 0).await.unwrap(),
            "a failing cache: save in full"
        );
        assert_eq!(
            store.save(&k, entry(b"v2", b"q2"), 1, 0).await.unwrap(),
            Saved::Saved { version: 2 }
        );
        assert_eq!(durable.load(&k, 0).await.unwrap().unwrap().data, b"v2");
        cache.set_down(false);
        // the cache still holds v1; the key is read from the durable store
        assert!(!store.save_quick(&k, b"q", 2, 0).await.unwrap(), "pending");
        assert_eq!(store.load(&k, 0).await.unwrap().unwrap().data, b"v2");
        assert_eq!(cache.inner.load(&k, 0).await.unwrap().unwrap().version, 2);
        // brought up to date by that read: the cache's again
        assert!(store.save_quick(&k, b"q", 2, 0).await.unwrap());
        // a key written before the outage is the cache's as before
        assert!(store.save_quick(&other, b"q2", 1, 0).await.unwrap());
        assert!(
            !store.save_quick(&other, b"q2", 7, 0).await.unwrap(),
            "wrong version"
        );
        assert_eq!(store.load(&other, 0).await.unwrap().unwrap().quick, b"q2");
    }

    #[tokio::test]
    async fn a_recovered_cache_gets_every_pending_key_up_to_date() {
        let (store, cache, _) = tiered();
        let (a, b, c) = (key(), key(), key());
        for k in [&a, &b, &c] {
            store.create(k, entry(b"v1", b"")).await.unwrap();
        }
        cache.set_down(true);
        store.save(&a, entry(b"v2", b""), 1, 0).await.unwrap();
        store.save(&b, entry(b"v2", b""), 1, 0).await.unwrap();
        cache.set_down(false);
        // one call that touches neither key refreshes both
        assert!(store.load(&c, 0).await.unwrap().is_some());
        for k in [&a, &b] {
            assert_eq!(cache.inner.load(k, 0).await.unwrap().unwrap().version, 2);
        }
        assert!(
            store.save_quick(&a, b"q", 2, 0).await.unwrap(),
            "no longer pending"
        );
    }

    #[tokio::test]
    async fn a_save_missing_during_an_outage_tombstones_the_cache_when_it_returns() {
        let (store, cache, durable) = tiered();
        let k = key();
        store.create(&k, entry(b"d", b"q")).await.unwrap();
        durable.delete(&k).await.unwrap();
        cache.set_down(true);
        assert_eq!(
            store.save(&k, entry(b"d", b""), 1, 0).await.unwrap(),
            Saved::Missing
        );
        cache.set_down(false);
        assert_eq!(store.load(&key(), 0).await.unwrap(), None);
        assert_eq!(cache.inner.lookup(&k, 0, None).await.unwrap(), Lookup::Gone);
    }

    #[tokio::test]
    async fn a_process_local_cache_is_trusted_only_for_its_staleness_bound() {
        let durable = Arc::new(MemoryStore::default());
        let k = key();
        let fresh = Tiered::new(MemoryStore::default(), Arc::clone(&durable))
            .with_max_staleness(Duration::ZERO);
        fresh.create(&k, Entry::new(b"v1", 1_000)).await.unwrap();
        // another process saved: the durable store has v2
        durable
            .save(&k, Entry::new(b"v2", 1_000), 1, 0)
            .await
            .unwrap();
        assert_eq!(fresh.load(&k, 0).await.unwrap().unwrap().data, b"v2");
        // the default bound (1 s) trusts a fill just made
        let k = key();
        let trusting = Tiered::new(MemoryStore::default(), Arc::clone(&durable));
        trusting.create(&k, Entry::new(b"v1", 1_000)).await.unwrap();
        durable
            .save(&k, Entry::new(b"v2", 1_000), 1, 0)
            .await
            .unwrap();
        assert_eq!(trusting.load(&k, 0).await.unwrap().unwrap().data, b"v1");
        // a shared cache is coherent: the bound does not apply
        let (shared, _, durable) = tiered();
        let shared = shared.with_max_staleness(Duration::ZERO);
        shared.create(&k, Entry::new(b"s1", 1_000)).await.unwrap();
        durable
            .save(&k, Entry::new(b"s2", 1_000), 1, 0)
            .await
            .unwrap();
        assert_eq!(shared.load(&k, 0).await.unwrap().unwrap().data, b"s1");
    }

    #[tokio::test]
    async fn the_user_index_revocations_reaping_and_stats_are_the_durable_stores() {
        let (store, cache, durable) = tiered();
        let k = key();
        store
            .create(
                &k,
                Entry::new(b"d", 100)
                    .with_user("s", Some("u"), 5)
                    .with_shape(3),
            )
            .await
            .unwrap();
        let listed = store.user_sessions("s", "u", 0).await.unwrap();
        assert_eq!(listed, durable.user_sessions("s", "u", 0).await.unwrap());
        assert_eq!(listed.len(), 1);
        assert_eq!(store.stats(0).await.unwrap().unwrap().shapes, [(3, 1)]);
        let revoked = store.revoke_before("u", 50, 3600).await.unwrap();
        assert_eq!(revoked.before, 50);
        assert_eq!(store.revoked_before("u").await.unwrap(), Some(50));
        assert_eq!(durable.revoked_before("u").await.unwrap(), Some(50));
        store.revoke_before("w", 1, 0).await.unwrap();
        assert_eq!(store.delete_expired_revocations(0, 10).await.unwrap(), 1);
        assert_eq!(store.delete_expired(200, 0, 10).await.unwrap(), 1);
        assert!(durable.is_empty());
        assert_eq!(
            cache.inner.len(),
            1,
            "the cache's entries expire by themselves"
        );
    }

    /// Counts warnings: what an operator's log shows of a cache outage.
    #[derive(Clone, Default)]
    struct Warnings(Arc<std::sync::atomic::AtomicUsize>);

    impl tracing::Subscriber for Warnings {
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            *metadata.level() <= tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test]
    async fn a_failing_cache_is_logged_as_a_warning() {
        let warnings = Warnings::default();
        keep_tracing_callsites_open();
        let _guard = tracing::subscriber::set_default(warnings.clone());
        let (store, cache, _) = tiered();
        let k = key();
        store.create(&k, entry(b"d", b"")).await.unwrap();
        assert_eq!(warnings.0.load(Ordering::SeqCst), 0);
        cache.set_down(true);
        assert!(store.load(&k, 0).await.unwrap().is_some());
        assert!(
            warnings.0.load(Ordering::SeqCst) >= 1,
            "the cache failure is logged"
        );
    }

    use crate::telemetry::keep_tracing_callsites_open;

    #[test]
    fn a_cache_timeout_out_of_range_is_refused() {
        let tiered = || Tiered::new(MemoryStore::default(), MemoryStore::default());
        for timeout in [Duration::ZERO, Duration::from_secs(61)] {
            assert!(
                matches!(
                    tiered().with_cache_timeout(timeout),
                    Err(crate::ConfigError::Timeout { .. })
                ),
                "{timeout:?}"
            );
        }
        let store = tiered()
            .with_cache_timeout(Duration::from_millis(1))
            .unwrap();
        assert_eq!(store.cache_timeout, Duration::from_millis(1));
    }
}
