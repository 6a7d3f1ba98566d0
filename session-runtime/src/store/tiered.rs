//! [`Tiered`]: a cache store in front of a durable one.

use super::guard::Breaker;
use super::{Entry, Lookup, Record, Saved, SessionStore, StoreError, StoreStats, UserSession};
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

impl<Cache: SessionStore, Durable: SessionStore> Tiered<Cache, Durable> {
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
    #[must_use]
    pub fn with_cache_timeout(mut self, timeout: Duration) -> Self {
        self.cache_timeout = timeout;
        self
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
}

impl<Cache: SessionStore, Durable: SessionStore> SessionStore for Tiered<Cache, Durable> {
    const NAME: &'static str = "tiered";
    const SPLITS_QUICK: bool = true;
    const EXPIRES_ITSELF: bool = Durable::EXPIRES_ITSELF;
    const SHARED: bool = Durable::SHARED;
    const TOMBSTONES: bool = Cache::TOMBSTONES;
    const KEEPS_REVOCATIONS: bool = Durable::KEEPS_REVOCATIONS;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        let durable = entry.without_quick();
        if !self.durable.create(key, durable).await? {
            return Ok(false);
        }
        self.fill_cache(key, entry, 1).await;
        Ok(true)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now, None).await?.into_record())
    }

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        _: Option<Duration>,
    ) -> Result<Lookup, StoreError> {
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

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        // the durable store keeps no tombstones: the cache's tell
        if let Ok(Lookup::Gone) = self.cached(self.cache.lookup(key, 0, None)).await {
            return Ok(false);
        }
        let durable = entry.without_quick();
        let written = self.durable.put(key, durable, version).await?;
        self.fill_cache(key, entry, version).await;
        Ok(written)
    }

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

    async fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // revocation times live in the durable tier only
        self.durable.delete_expired_revocations(now, limit).await
    }

    /// The durable tier's index: a cache (memcached, Redis Cluster) need
    /// keep none. Revoking (the default `revoke_user`) deletes through
    /// this store, so every cache keeps a tombstone.
    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.durable.user_sessions(cookie_name, user, now).await
    }

    /// The durable tier's: a cache may lose it.
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.durable.revoked_before(user).await
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<crate::user::Revoked, StoreError> {
        self.durable.revoke_before(user, at, keep_for).await
    }

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        self.durable.stats(now).await
    }
}
