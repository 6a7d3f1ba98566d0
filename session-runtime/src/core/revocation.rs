//! User revocation for sessions that live in a cookie: a per-user "not
//! valid before" time kept in a store and checked when a session of that
//! user is loaded (see `SessionLayer::with_user_revocation`).

use crate::store::ErasedStore;
use crate::store::StoreError;
use crate::store::guard::Breaker;
use crate::user::Revoked;
use std::sync::Arc;
use std::time::Duration;

/// The store that keeps users' revocation times, behind the layer's
/// timeout and its own circuit breaker.
#[derive(Clone)]
pub(crate) struct Revocation {
    pub(crate) store: Arc<dyn ErasedStore>,
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("store", &self.store.name())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Revocation {
    /// Whether a session of `user` issued at `issued_at` was revoked: at
    /// or before the user's revocation time.
    pub(crate) async fn is_revoked(&self, user: &str, issued_at: u64) -> Result<bool, StoreError> {
        Ok(self
            .revoked_before(user)
            .await?
            .is_some_and(|before| issued_at <= before))
    }

    /// The user's revocation time, if any: sessions of theirs issued at
    /// or before it are refused.
    pub(crate) async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let store = self.store.name();
        let started = std::time::Instant::now();
        let result = self
            .breaker
            .call(store, self.timeout, self.store.revoked_before(user))
            .await;
        crate::telemetry::store_call(store, "revoked_before", started.elapsed());
        result
    }

    /// Revokes every session of `user` issued at or before `now` plus
    /// [`REVOCATION_CLOCK_TOLERANCE`](crate::user::REVOCATION_CLOCK_TOLERANCE)
    /// (or one past the time already kept, whichever is later).
    pub(crate) async fn revoke(&self, user: &str, now: u64) -> Result<Revoked, StoreError> {
        let at = now.saturating_add(crate::user::REVOCATION_CLOCK_TOLERANCE.as_secs());
        let store = self.store.name();
        let started = std::time::Instant::now();
        let result = self
            .breaker
            .call(
                store,
                self.timeout,
                self.store
                    .revoke_before(user, at, crate::user::KEEP_REVOCATIONS.as_secs()),
            )
            .await;
        crate::telemetry::store_call(store, "revoke_before", started.elapsed());
        result
    }
}
