//! The store contract: [`SessionStore`], what every store does, and the
//! duties some stores take on beside it, each a trait of its own:
//! [`CacheStore`], [`UserIndex`] and [`RevocationTimes`].

use super::views::{QuickTierRef, RevocationTimesRef, UserIndexRef};
use super::{Entry, Lookup, Record, Revoked, Saved, StoreError, StoreStats, UserSession};
#[cfg(doc)]
use super::{MemoryStore, Tiered};
use crate::id::StoreKey;
use std::future::Future;
use std::time::Duration;

/// How long a cache keeps the tombstone of a deleted session: far longer
/// than any fill can take (fills race only with the load that read the
/// durable store, itself bounded by the store timeouts).
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// Server-side session storage: what every store does, and all a durable
/// store must do.
///
/// A store keeps one [`Record`] per [`StoreKey`]: it creates it, loads it
/// while it is live, replaces it by compare-and-set on its version, deletes
/// it, and removes the expired ones in bounded batches. That is enough for
/// [`SessionLayer::with_store`](crate::SessionLayer::with_store), alone or
/// as the durable tier of a [`Tiered`] store; the [module
/// docs](crate::store#a-store-of-your-own) build one.
///
/// Every method takes the current time where it matters (`now`, Unix
/// seconds) so that expiry is decided by the caller's clock, and returns a
/// `Send` future so the layer can run in any executor. Implementations keep
/// the sealed blobs as they are: opening and authenticating them is the
/// layer's job, so a store never sees session contents.
///
/// A store that does more says so twice: it implements the trait of that
/// duty ([`UserIndex`], [`RevocationTimes`]), which is what code that knows
/// the store's type calls (the CLI, a job, and
/// [`with_user_revocation`](crate::SessionLayer::with_user_revocation),
/// which requires [`RevocationTimes`] by type), and it hands the layer that
/// duty from [`user_index`](Self::user_index) or
/// [`revocation_times`](Self::revocation_times), which is how the layer,
/// holding the store as any `SessionStore`, finds it. The defaults hand out
/// nothing: the layer then answers [`StoreError::Unsupported`] where it
/// needs them. (A [`CacheStore`] needs no such method: only a [`Tiered`]
/// store calls its duties, and it knows its cache's type.)
pub trait SessionStore: Send + Sync + 'static {
    /// A short name for logs and errors.
    const NAME: &'static str;

    /// Inserts a record with version 1, unless the key is taken (by a live
    /// or an expired record): `Ok(false)` then, and nothing changes. A
    /// store with a [`UserIndex`] also puts the record in the index of
    /// [`Entry::user`] and [`Entry::cookie_name`].
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the record is too large.
    fn create(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The record, unless it is missing or expired at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn load(
        &self,
        key: &StoreKey,
        now: u64,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Replaces the record if its version is still `version` (and it has not
    /// expired at `now`); the new version is `version + 1`. Otherwise
    /// [`Saved::Conflict`] with the record as it is, or [`Saved::Missing`]
    /// when there is no live record: a save never creates one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the record is too large.
    fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Removes the record (and its place in a user index); `Ok(true)` when
    /// there was a live one. A [`CacheStore`] also leaves a tombstone.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes at most `limit` records that expired at least `dormant_for`
    /// seconds before `now`; returns how many. Call it repeatedly until it
    /// returns less than `limit` to clean up in bounded batches (see
    /// [`crate::cleanup`]). A store whose server expires records by itself
    /// (Redis, memcached) has nothing to do: `Ok(0)`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Counts records, where the backend can tell cheaply (`sessionkit
    /// stats`). The default: `Ok(None)`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn stats(
        &self,
        now: u64,
    ) -> impl Future<Output = Result<Option<StoreStats>, StoreError>> + Send {
        let _ = now;
        async { Ok(None) }
    }

    /// The store's user index, for the layer: `Some(UserIndexRef::new(self))`
    /// from a store that implements [`UserIndex`]; a store that wraps
    /// another hands out the inner one's. The default: none.
    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        None
    }

    /// The store's users' revocation times, for the layer and the
    /// [reaper](crate::cleanup): `Some(RevocationTimesRef::new(self))` from
    /// a store that implements [`RevocationTimes`]; a store that wraps
    /// another hands out the inner one's. The default: none.
    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        None
    }

    /// Where the layer keeps `#[session(quick)]` fields apart from the
    /// durable data and saves them alone: a [`Tiered`] store's cache, the
    /// only store that has such a tier (a store that wraps one hands out
    /// its tier). The default, none, seals quick fields with the rest.
    fn quick_tier(&self) -> Option<QuickTierRef<'_>> {
        None
    }
}

/// A store that can be the cache of a [`Tiered`] store (memory, Redis,
/// memcached), or a cache-only store on its own. On top of
/// [`SessionStore`] it keeps three promises, checked by the conformance
/// suite on every backend (see [the cache contract](crate::store#caches-and-coherence)):
///
/// * [`put`](Self::put) (a fill) never goes back in time;
/// * [`delete`](SessionStore::delete) leaves a tombstone for
///   [`TOMBSTONE_TTL`] that refuses later fills and creates, and that
///   [`lookup`](Self::lookup) reports as [`Lookup::Gone`];
/// * [`Record::quick`] survives a write and a load, and
///   [`save_quick`](Self::save_quick) replaces it alone.
pub trait CacheStore: SessionStore {
    /// Whether every process of an application sees the same entries
    /// (Redis, memcached; not [`MemoryStore`]). A [`Tiered`] store trusts a
    /// cache that is not shared for at most its staleness bound.
    const SHARED: bool;

    /// What the store knows of `key`: a live record, nothing, or a
    /// tombstone. A store that is not [`SHARED`](Self::SHARED) treats
    /// entries written more than `max_staleness` ago as unknown.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<Duration>,
    ) -> impl Future<Output = Result<Lookup, StoreError>> + Send;

    /// Writes the record at `version` unless the store holds this version
    /// or a newer one, or the tombstone of a deleted session: how a
    /// [`Tiered`] store fills its cache. `Ok(true)` when written.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the record is too large.
    fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces only the quick-fields blob of the record at `version`,
    /// keeping its durable data and version: how a request that changed
    /// only `#[session(quick)]` fields is saved in the cache tier alone
    /// (gae-sessions' `set_quick`). `Ok(false)` when the store does not hold
    /// the record at that version, live at `now` (the caller then saves it
    /// in full). The default writes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the blob is too large.
    fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (key, quick, version, now);
        async { Ok(false) }
    }
}

/// A store that keeps an index from users to their sessions (see
/// [`crate::user`]): every [`create`](SessionStore::create) and
/// [`save`](SessionStore::save) files the record under its
/// [`Entry::user`] and [`Entry::cookie_name`], every
/// [`delete`](SessionStore::delete) takes it out. Hand it to the layer
/// from [`SessionStore::user_index`].
pub trait UserIndex: SessionStore {
    /// The records of `user` of the session type whose cookie is
    /// `cookie_name` (see [`Entry::cookie_name`]) that are live at `now`
    /// (every one with `now = 0`), most recently saved first. Records
    /// written without a cookie name (before the index kept it) are listed
    /// for every session type.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails ([`StoreError::Unsupported`]
    /// from a store that has no index in this configuration: Redis
    /// Cluster).
    fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send;

    /// Deletes at most `limit` of `user`'s records of the session type
    /// whose cookie is `cookie_name` (those
    /// [`user_sessions`](Self::user_sessions) lists), all but `except` (the
    /// session that asked, to stay logged in there); returns how many.
    /// Call it again until it returns less than `limit` to revoke a user
    /// with many sessions in bounded batches. Cache stores leave
    /// tombstones as [`delete`](SessionStore::delete) does. The default
    /// lists with [`user_sessions`](Self::user_sessions) and deletes one by
    /// one.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions) and
    /// [`delete`](SessionStore::delete).
    fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async move {
            let sessions = self.user_sessions(cookie_name, user, 0).await?;
            super::views::delete_listed(&sessions, except, limit, |key| self.delete(key)).await
        }
    }
}

/// A store that keeps users' revocation times reliably (no eviction): when
/// each user's sessions were last revoked as a whole, which is how sessions
/// that live in a cookie are logged out everywhere (see
/// [`SessionLayer::with_user_revocation`](crate::SessionLayer::with_user_revocation),
/// which requires this trait). memcached may evict them, so it is not
/// one; use it as the cache of a [`Tiered`] store whose durable tier keeps
/// them. Hand it to the layer and the reaper from
/// [`SessionStore::revocation_times`].
#[diagnostic::on_unimplemented(
    message = "session store `{Self}` cannot keep user revocation times reliably",
    label = "not a store that keeps revocation times",
    note = "use a SQL store, `RedisStore`, `MemoryStore`, or a `Tiered` store over one (memcached may evict them)"
)]
pub trait RevocationTimes: SessionStore {
    /// When `user`'s sessions were last revoked as a whole (Unix seconds):
    /// a session of theirs issued at or before it is refused.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn revoked_before(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Revokes `user`'s sessions issued at or before `at`, for at least
    /// `keep_for` seconds (longer than any session of theirs can live), in
    /// one atomic step: the revocation time becomes the later of `at` and
    /// one past the time already kept, so two revocations never share a
    /// time (a session re-issued after one, at its time plus one, is
    /// covered by every later one, even within the same second). Returns
    /// the time kept before and the time now kept.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send;

    /// Removes at most `limit` revocation times kept past their `keep_for`
    /// ([`revoke_before`](Self::revoke_before)) as of `now`; returns how
    /// many. A store that expires them by itself (Redis) removes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
