//! How the layer reaches a store's optional duties without knowing its
//! type: [`SessionStore::user_index`], [`SessionStore::revocation_times`]
//! and [`SessionStore::quick_tier`] hand out these views, which call the
//! store's [`UserIndex`], [`RevocationTimes`] or quick tier behind `dyn`.
//! One boxed future per call: noise next to a network round trip.

#[cfg(doc)]
use super::Tiered;
use super::{RevocationTimes, Revoked, SessionStore, StoreError, UserIndex, UserSession};
use crate::id::StoreKey;
use std::future::Future;
use std::pin::Pin;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`UserIndex`], object-safe.
trait DynUserIndex: Send + Sync {
    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>>;
    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
}

impl<S: UserIndex> DynUserIndex for S {
    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>> {
        Box::pin(UserIndex::user_sessions(self, cookie_name, user, now))
    }

    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(UserIndex::revoke_user(
            self,
            cookie_name,
            user,
            except,
            limit,
        ))
    }
}

/// [`SessionStore::delete`], object-safe.
trait DynDelete: Send + Sync {
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<S: SessionStore> DynDelete for S {
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::delete(self, key))
    }
}

/// Deletes the first `limit` of `sessions` but `except` through `delete`,
/// one by one; how many. What a revocation does where the index cannot
/// delete in bulk (or must not: a [`Tiered`] store's deletes tombstone its
/// cache).
pub(super) async fn delete_listed<'k, F, Fut>(
    sessions: &'k [UserSession],
    except: Option<&StoreKey>,
    limit: usize,
    delete: F,
) -> Result<usize, StoreError>
where
    F: Fn(&'k StoreKey) -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let mut revoked = 0;
    for session in sessions
        .iter()
        .filter(|session| Some(&session.key) != except)
        .take(limit)
    {
        delete(&session.key).await?;
        revoked += 1;
    }
    Ok(revoked)
}

/// A store's user index, as [`SessionStore::user_index`] hands it to the
/// layer: its [`UserIndex`] behind `dyn`.
#[derive(Clone, Copy)]
pub struct UserIndexRef<'a> {
    index: &'a dyn DynUserIndex,
    /// Where revocations delete, when not through the index's own
    /// [`UserIndex::revoke_user`].
    deletes: Option<&'a dyn DynDelete>,
}

impl std::fmt::Debug for UserIndexRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserIndexRef")
            .field("deletes_through_another_store", &self.deletes.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> UserIndexRef<'a> {
    /// `store`'s index.
    #[must_use]
    pub fn new<S: UserIndex>(store: &'a S) -> Self {
        Self {
            index: store,
            deletes: None,
        }
    }

    /// The same index, but revoking deletes each session through `store`,
    /// one by one: for a store that wraps this one and must see every
    /// delete (a [`Tiered`] store, whose deletes leave tombstones in its
    /// cache).
    #[must_use]
    pub fn deleting_through<S: SessionStore>(self, store: &'a S) -> Self {
        Self {
            deletes: Some(store),
            ..self
        }
    }

    /// As [`UserIndex::user_sessions`].
    ///
    /// # Errors
    ///
    /// As [`UserIndex::user_sessions`].
    pub fn user_sessions<'b>(
        self,
        cookie_name: &'b str,
        user: &'b str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send + 'b
    where
        'a: 'b,
    {
        self.index.user_sessions(cookie_name, user, now)
    }

    /// As [`UserIndex::revoke_user`] (through the wrapping store, see
    /// [`deleting_through`](Self::deleting_through)).
    ///
    /// # Errors
    ///
    /// As [`UserIndex::revoke_user`].
    pub async fn revoke_user(
        self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let Some(deletes) = self.deletes else {
            return self
                .index
                .revoke_user(cookie_name, user, except, limit)
                .await;
        };
        let sessions = self.index.user_sessions(cookie_name, user, 0).await?;
        delete_listed(&sessions, except, limit, |key| deletes.delete(key)).await
    }
}

/// [`RevocationTimes`], object-safe.
trait DynRevocationTimes: Send + Sync {
    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<Revoked, StoreError>>;
    fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>>;
}

impl<S: RevocationTimes> DynRevocationTimes for S {
    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(RevocationTimes::revoked_before(self, user))
    }

    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<Revoked, StoreError>> {
        Box::pin(RevocationTimes::revoke_before(self, user, at, keep_for))
    }

    fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(RevocationTimes::delete_expired_revocations(
            self, now, limit,
        ))
    }
}

/// A store's users' revocation times, as
/// [`SessionStore::revocation_times`] hands them to the layer and the
/// reaper: its [`RevocationTimes`] behind `dyn`.
#[derive(Clone, Copy)]
pub struct RevocationTimesRef<'a> {
    times: &'a dyn DynRevocationTimes,
}

impl std::fmt::Debug for RevocationTimesRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationTimesRef").finish_non_exhaustive()
    }
}

impl<'a> RevocationTimesRef<'a> {
    /// `store`'s revocation times.
    #[must_use]
    pub fn new<S: RevocationTimes>(store: &'a S) -> Self {
        Self { times: store }
    }

    /// As [`RevocationTimes::revoked_before`].
    ///
    /// # Errors
    ///
    /// As [`RevocationTimes::revoked_before`].
    pub fn revoked_before<'b>(
        self,
        user: &'b str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send + 'b
    where
        'a: 'b,
    {
        self.times.revoked_before(user)
    }

    /// As [`RevocationTimes::revoke_before`].
    ///
    /// # Errors
    ///
    /// As [`RevocationTimes::revoke_before`].
    pub fn revoke_before<'b>(
        self,
        user: &'b str,
        at: u64,
        keep_for: u64,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send + 'b
    where
        'a: 'b,
    {
        self.times.revoke_before(user, at, keep_for)
    }

    /// As [`RevocationTimes::delete_expired_revocations`].
    ///
    /// # Errors
    ///
    /// As [`RevocationTimes::delete_expired_revocations`].
    pub fn delete_expired_revocations(
        self,
        now: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send + 'a {
        self.times.delete_expired_revocations(now, limit)
    }
}

/// A store with a cache tier where `#[session(quick)]` fields are kept
/// apart and saved alone: [`Tiered`].
pub(crate) trait QuickTier: Send + Sync {
    /// Replaces only the quick-fields blob of the record at `version`
    /// (see [`CacheStore::save_quick`](super::CacheStore::save_quick)).
    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// A [`Tiered`] store's cache tier, as [`SessionStore::quick_tier`] hands
/// it to the layer: where `#[session(quick)]` fields are kept apart from
/// the durable data and saved alone. Only a `Tiered` store makes one; a
/// store that wraps one passes it on.
#[derive(Clone, Copy)]
pub struct QuickTierRef<'a> {
    tier: &'a dyn QuickTier,
}

impl std::fmt::Debug for QuickTierRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickTierRef").finish_non_exhaustive()
    }
}

impl<'a> QuickTierRef<'a> {
    pub(crate) fn new(tier: &'a dyn QuickTier) -> Self {
        Self { tier }
    }

    /// Replaces only the quick-fields blob of the record at `version`,
    /// keeping its durable data and version (see
    /// [`CacheStore::save_quick`](super::CacheStore::save_quick));
    /// `Ok(false)` when the tier does not hold the record at that version
    /// (or cannot be reached): the caller then saves it in full.
    ///
    /// # Errors
    ///
    /// As [`CacheStore::save_quick`](super::CacheStore::save_quick).
    pub fn save_quick<'b>(
        self,
        key: &'b StoreKey,
        quick: &'b [u8],
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send + 'b
    where
        'a: 'b,
    {
        self.tier.save_quick(key, quick, version, now)
    }
}
