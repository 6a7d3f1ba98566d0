//! [`Tiered`]: a cache store in front of a durable one.

use super::{Entry, Record, Saved, SessionStore, StoreError, StoreStats};
use crate::id::StoreKey;

/// A cache (memcached, Redis, memory) in front of a durable store (SQL).
///
/// * Reads try the cache, then the durable store, and put what they find
///   back in the cache.
/// * Writes go to the durable store first (its compare-and-set decides),
///   then to the cache.
/// * A cache failure is logged and never fails the request: the durable
///   store has the data. After a failed cache write the entry is deleted so
///   the cache cannot serve the older version.
/// * `#[session(quick)]` fields go to the cache only (gae-sessions'
///   `set_quick`): cheap to write, lost when the cache drops the entry.
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
}

impl<Cache: SessionStore, Durable: SessionStore> Tiered<Cache, Durable> {
    /// `cache` in front of `durable`.
    #[must_use]
    pub fn new(cache: Cache, durable: Durable) -> Self {
        Self { cache, durable }
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
            "session cache failed; the durable store has the data"
        );
    }

    /// Writes `entry` at `version` to the cache, or makes sure the cache
    /// holds nothing for the key.
    async fn fill_cache(&self, key: &StoreKey, entry: Entry<'_>, version: u64) {
        if let Err(err) = self.cache.put(key, entry, version).await {
            self.cache_failed("put", key, &err);
            self.forget(key).await;
        }
    }

    async fn forget(&self, key: &StoreKey) {
        if let Err(err) = self.cache.delete(key).await {
            self.cache_failed("delete", key, &err);
        }
    }
}

impl<Cache: SessionStore, Durable: SessionStore> SessionStore for Tiered<Cache, Durable> {
    const NAME: &'static str = "tiered";
    const SPLITS_QUICK: bool = true;
    const EXPIRES_ITSELF: bool = Durable::EXPIRES_ITSELF;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        let durable = entry.without_quick();
        if !self.durable.create(key, durable).await? {
            return Ok(false);
        }
        self.fill_cache(key, entry, 1).await;
        Ok(true)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        match self.cache.load(key, now).await {
            Ok(Some(record)) => return Ok(Some(record)),
            Ok(None) => {}
            Err(err) => self.cache_failed("load", key, &err),
        }
        let Some(record) = self.durable.load(key, now).await? else {
            return Ok(None);
        };
        self.fill_cache(key, record.entry(), record.version).await;
        Ok(Some(record))
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
                if let Ok(Some(cached)) = self.cache.load(key, now).await
                    && cached.version == current.version
                {
                    current.quick = cached.quick;
                }
                Ok(Saved::Conflict(current))
            }
            Saved::Missing => {
                self.forget(key).await;
                Ok(Saved::Missing)
            }
        }
    }

    async fn put(&self, key: &StoreKey, entry: Entry<'_>, version: u64) -> Result<(), StoreError> {
        let durable = entry.without_quick();
        self.durable.put(key, durable, version).await?;
        self.fill_cache(key, entry, version).await;
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let existed = self.durable.delete(key).await?;
        self.forget(key).await;
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
}
