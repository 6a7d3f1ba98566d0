//! Users' revocation times: a per-user "not valid before" time kept in a
//! store. With `SessionLayer::with_user_revocation` every load of a
//! session with a user checks it (cookie sessions included); on a
//! server layer without it, the layer's own store keeps a per-type time
//! as a fence for sessions issued while a revocation runs.

use super::guarded::Guarded;
use crate::store::StoreError;
use crate::user::Revoked;

/// The store that keeps users' revocation times, behind a guard.
#[derive(Clone, Debug)]
pub(crate) struct Revocation {
    pub(crate) guarded: Guarded,
}

impl Revocation {
    /// The store's name, for logs and metrics.
    pub(crate) fn name(&self) -> &'static str {
        self.guarded.name()
    }

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
        let store = &self.guarded.store;
        self.guarded
            .call("revoked_before", store.revoked_before(user))
            .await
    }

    /// Revokes every session of `user` issued at or before `now` plus
    /// [`REVOCATION_CLOCK_TOLERANCE`](crate::user::REVOCATION_CLOCK_TOLERANCE)
    /// (or one past the time already kept, whichever is later).
    pub(crate) async fn revoke(&self, user: &str, now: u64) -> Result<Revoked, StoreError> {
        let at = now.saturating_add(crate::user::REVOCATION_CLOCK_TOLERANCE.as_secs());
        let keep = crate::user::KEEP_REVOCATIONS.as_secs();
        let store = &self.guarded.store;
        self.guarded
            .call("revoke_before", store.revoke_before(user, at, keep))
            .await
    }
}
