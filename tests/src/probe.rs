//! [`Probe`]: a real store with call counters and an outage switch, to
//! check what reaches a store's write path and how the layer behaves when
//! the store goes down. Every call that passes goes to the real store.

use session_runtime::id::StoreKey;
use session_runtime::store::UserSession;
use session_runtime::{Entry, Lookup, Record, Saved, SessionStore, StoreError};
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
    const SPLITS_QUICK: bool = S::SPLITS_QUICK;
    const KEEPS_QUICK: bool = S::KEEPS_QUICK;
    const EXPIRES_ITSELF: bool = S::EXPIRES_ITSELF;
    const SHARED: bool = S::SHARED;
    const TOMBSTONES: bool = S::TOMBSTONES;
    const KEEPS_REVOCATIONS: bool = S::KEEPS_REVOCATIONS;

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

    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner.user_sessions(cookie_name, user, now).await
    }

    async fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner
            .revoke_user(cookie_name, user, except, limit)
            .await
    }

    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        self.check(&self.state.loads).await?;
        self.inner.revoked_before(user).await
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<session_runtime::store::Revoked, StoreError> {
        self.check(&self.state.writes).await?;
        self.inner.revoke_before(user, at, keep_for).await
    }
}

/// A probe keeps revocation times when the store it wraps does.
impl<S: session_runtime::user::KeepsRevocations> session_runtime::user::KeepsRevocations
    for Probe<S>
{
}
