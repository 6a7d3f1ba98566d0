//! [`Probe`]: a real store with call counters and an outage switch, to
//! check what reaches a store's write path and how the layer behaves when
//! the store goes down. Every call that passes goes to the real store.

use session_runtime::id::StoreKey;
use session_runtime::store::{
    CacheStore, QuickTierRef, RevocationTimes, RevocationTimesRef, Revoked, UserIndex,
    UserIndexRef, UserSession,
};
use session_runtime::{Entry, Lookup, Record, Saved, SessionStore, StoreError, StoreStats};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts and an outage switch around `S`.
#[derive(Debug)]
pub struct Probe<S> {
    inner: Arc<S>,
    state: Arc<ProbeState>,
}

impl<S> Clone for Probe<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            state: Arc::clone(&self.state),
        }
    }
}

/// What a [`Probe`] saw; shared by its clones.
#[derive(Debug, Default)]
pub struct ProbeState {
    /// Calls to `load`.
    pub loads: AtomicUsize,
    /// Calls to `create`, `save` and `put`.
    pub writes: AtomicUsize,
    /// Calls to `delete`.
    pub deletes: AtomicUsize,
    /// While set, every call fails as a backend error.
    pub down: AtomicBool,
    /// While set, every call hangs (a store that stopped answering).
    pub hung: AtomicBool,
}

impl<S: SessionStore> Probe<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            state: Arc::default(),
        }
    }

    /// The counters and the switch.
    #[must_use]
    pub fn state(&self) -> &ProbeState {
        &self.state
    }

    /// The real store.
    #[must_use]
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Takes the store down (`true`) or back up.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Makes every call hang (`true`) or answer again.
    pub fn set_hung(&self, hung: bool) {
        self.state.hung.store(hung, Ordering::SeqCst);
    }

    async fn check(&self, counter: &AtomicUsize) -> Result<(), StoreError> {
        counter.fetch_add(1, Ordering::SeqCst);
        while self.state.hung.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if self.state.down.load(Ordering::SeqCst) {
            return Err(StoreError::backend(
                "probe",
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "store is down"),
            ));
        }
        Ok(())
    }
}

impl<S: SessionStore> SessionStore for Probe<S> {
    const NAME: &'static str = S::NAME;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner.create(key, entry).await
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner.load(key, now).await
    }

    async fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner.save(key, entry, version, now).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.check(&self.state.deletes).await?;
        self.inner.delete(key).await
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.check(&self.state.deletes).await?;
        self.inner.delete_expired(now, dormant_for, limit).await
    }

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner.stats(now).await
    }

    /// The probe itself, where the inner store has an index: every call
    /// passes the switch.
    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        self.inner.user_index().map(|_| UserIndexRef::new(self))
    }

    /// As [`user_index`](Self::user_index).
    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        self.inner
            .revocation_times()
            .map(|_| RevocationTimesRef::new(self))
    }

    /// The inner store's (a tiered one's cache), past the switch.
    fn quick_tier(&self) -> Option<QuickTierRef<'_>> {
        self.inner.quick_tier()
    }
}

impl<S: CacheStore> CacheStore for Probe<S> {
    const SHARED: bool = S::SHARED;

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<std::time::Duration>,
    ) -> Result<Lookup, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner.lookup(key, now, max_staleness).await
    }

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner.put(key, entry, version).await
    }

    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner.save_quick(key, quick, version, now).await
    }
}

/// For every inner store: the inner store's index (`Unsupported` where it
/// has none), past the switch. A probe is a test tool, so it takes the
/// index of whatever it wraps rather than only of stores whose type has
/// one.
impl<S: SessionStore> UserIndex for Probe<S> {
    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner_index()?
            .user_sessions(cookie_name, user, now)
            .await
    }

    async fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner_index()?
            .revoke_user(cookie_name, user, except, limit)
            .await
    }
}

/// As the [`UserIndex`] of a probe: the inner store's revocation times.
impl<S: SessionStore> RevocationTimes for Probe<S> {
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner_times()?.revoked_before(user).await
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<Revoked, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner_times()?.revoke_before(user, at, keep_for).await
    }

    async fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.check(&self.state.deletes).await?;
        self.inner_times()?
            .delete_expired_revocations(now, limit)
            .await
    }
}

impl<S: SessionStore> Probe<S> {
    fn inner_index(&self) -> Result<UserIndexRef<'_>, StoreError> {
        self.inner.user_index().ok_or(StoreError::Unsupported {
            store: S::NAME,
            what: "a user index",
        })
    }

    fn inner_times(&self) -> Result<RevocationTimesRef<'_>, StoreError> {
        self.inner
            .revocation_times()
            .ok_or(StoreError::Unsupported {
                store: S::NAME,
                what: "user revocation times",
            })
    }
}
