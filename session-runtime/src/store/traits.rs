//! The store contract: [`SessionStore`].

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

/// Server-side session storage.
///
/// Every method takes the current time where it matters (`now`, Unix
/// seconds) so that expiry is decided by the caller's clock, and returns a
/// `Send` future so the layer can run in any executor. Implementations keep
/// the sealed blobs as they are: opening and authenticating them is the
/// layer's job, so a store never sees session contents.
pub trait SessionStore: Send + Sync + 'static {
    /// A short name for logs and errors.
    const NAME: &'static str;

    /// Whether the store keeps [`Record::quick`] apart from the durable
    /// data ([`Tiered`]): the layer then seals `quick` fields separately.
    const SPLITS_QUICK: bool = false;

    /// Whether [`Record::quick`] survives a write and a load. Durable SQL
    /// stores drop it: quick fields belong to a cache tier.
    const KEEPS_QUICK: bool = true;

    /// Whether the server expires records by itself (Redis, memcached):
    /// [`delete_expired`](Self::delete_expired) then has nothing to do.
    const EXPIRES_ITSELF: bool = false;

    /// Whether every process of an application sees the same records
    /// (`false` for [`MemoryStore`]). A [`Tiered`] store trusts a cache
    /// that is not shared for at most its staleness bound.
    const SHARED: bool = true;

    /// Whether [`delete`](Self::delete) leaves a tombstone that refuses
    /// later fills: what a cache store must do (memory, Redis, memcached).
    /// Durable stores have no fills to refuse.
    const TOMBSTONES: bool = false;

    /// Whether the store keeps users' revocation times reliably
    /// ([`revoked_before`](Self::revoked_before)): what
    /// [`SessionLayer::with_user_revocation`](crate::SessionLayer::with_user_revocation)
    /// requires. Not memcached, which may evict them.
    const KEEPS_REVOCATIONS: bool = false;

    /// Inserts a record with version 1, unless the key is taken (by a live
    /// or an expired record): `Ok(false)` then, and nothing changes.
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
    /// expired at `now`); the new version is `version + 1`.
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

    /// Removes the record; `Ok(true)` when there was a live one. Cache
    /// stores leave a tombstone for [`TOMBSTONE_TTL`] that refuses later
    /// [`put`](Self::put)s and [`create`](Self::create)s of the key.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces only the quick-fields blob of the record at `version`,
    /// keeping its durable data and version: how a request that changed
    /// only `#[session(quick)]` fields is saved in the cache tier alone
    /// (gae-sessions' `set_quick`). `Ok(false)` when the store does not hold
    /// the record at that version (the caller then saves it in full). Only
    /// stores that keep quick fields need it; the default writes nothing.
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

    /// What the store knows of `key`, for a cache: a live record, nothing,
    /// or a tombstone. A store that is not [`SHARED`](Self::SHARED) treats
    /// entries written more than `max_staleness` ago as unknown. The
    /// default maps [`load`](Self::load) to `Hit`/`Miss`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<Duration>,
    ) -> impl Future<Output = Result<Lookup, StoreError>> + Send {
        let _ = max_staleness;
        async move {
            Ok(match self.load(key, now).await? {
                Some(record) => Lookup::Hit(record),
                None => Lookup::Miss,
            })
        }
    }

    /// The records of `user` (see [`crate::user`]) of the session type
    /// whose cookie is `cookie_name` (see [`Entry::cookie_name`]) that are
    /// live at `now` (every one with `now = 0`), most recently saved
    /// first. Records written without a cookie name (before the index kept
    /// it) are listed for every session type.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] for a store that keeps no user index
    /// (the default), or when the backend fails.
    fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send {
        let _ = (cookie_name, user, now);
        async {
            Err(StoreError::Unsupported {
                store: Self::NAME,
                what: "a user index",
            })
        }
    }

    /// Deletes at most `limit` of `user`'s records of the session type
    /// whose cookie is `cookie_name` (those
    /// [`user_sessions`](Self::user_sessions) lists), all but `except` (the
    /// session that asked, to stay logged in there); returns how many.
    /// Call it again until it returns less than `limit` to revoke a user
    /// with many sessions in bounded batches. Cache stores leave
    /// tombstones as [`delete`](Self::delete) does. The default lists
    /// with [`user_sessions`](Self::user_sessions) and deletes one by one.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions) and
    /// [`delete`](Self::delete).
    fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async move {
            let sessions = self.user_sessions(cookie_name, user, 0).await?;
            let mut revoked = 0;
            for session in sessions
                .iter()
                .filter(|session| Some(&session.key) != except)
                .take(limit)
            {
                self.delete(&session.key).await?;
                revoked += 1;
            }
            Ok(revoked)
        }
    }

    /// When `user`'s sessions were last revoked as a whole (Unix seconds):
    /// a session of theirs issued before it is refused. This is how
    /// sessions that live in a cookie are logged out everywhere (see
    /// [`SessionLayer::with_user_revocation`](crate::SessionLayer::with_user_revocation)).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] for a store that cannot keep it reliably
    /// (the default; memcached, which may evict it), or a backend failure.
    fn revoked_before(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        let _ = user;
        async {
            Err(StoreError::Unsupported {
                store: Self::NAME,
                what: "user revocation times",
            })
        }
    }

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
    /// As [`revoked_before`](Self::revoked_before).
    fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send {
        let _ = (user, at, keep_for);
        async {
            Err(StoreError::Unsupported {
                store: Self::NAME,
                what: "user revocation times",
            })
        }
    }

    /// Removes at most `limit` records that expired at least `dormant_for`
    /// seconds before `now`; returns how many. Call it repeatedly until it
    /// returns less than `limit` to clean up in bounded batches (see
    /// [`crate::cleanup`]).
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

    /// Removes at most `limit` user revocation times kept past their
    /// `keep_for` ([`revoke_before`](Self::revoke_before)) as of `now`;
    /// returns how many. Stores that expire them by themselves (Redis), or
    /// keep none, remove nothing (the default).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = (now, limit);
        async { Ok(0) }
    }

    /// Counts records, where the backend can tell cheaply.
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
}

/// A shared store: the layer and the [reaper](crate::cleanup) can hold the
/// same one.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    const NAME: &'static str = S::NAME;
    const SPLITS_QUICK: bool = S::SPLITS_QUICK;
    const KEEPS_QUICK: bool = S::KEEPS_QUICK;
    const EXPIRES_ITSELF: bool = S::EXPIRES_ITSELF;
    const SHARED: bool = S::SHARED;
    const TOMBSTONES: bool = S::TOMBSTONES;
    const KEEPS_REVOCATIONS: bool = S::KEEPS_REVOCATIONS;

    fn create(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::create(self, key, entry)
    }

    fn load(
        &self,
        key: &StoreKey,
        now: u64,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        S::load(self, key, now)
    }

    fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send {
        S::save(self, key, entry, version, now)
    }

    fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::put(self, key, entry, version)
    }

    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::delete(self, key)
    }

    fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<Duration>,
    ) -> impl Future<Output = Result<Lookup, StoreError>> + Send {
        S::lookup(self, key, now, max_staleness)
    }

    fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::save_quick(self, key, quick, version, now)
    }

    fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<UserSession>, StoreError>> + Send {
        S::user_sessions(self, cookie_name, user, now)
    }

    fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        S::revoke_user(self, cookie_name, user, except, limit)
    }

    fn revoked_before(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        S::revoked_before(self, user)
    }

    fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send {
        S::revoke_before(self, user, at, keep_for)
    }

    fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        S::delete_expired(self, now, dormant_for, limit)
    }

    fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        S::delete_expired_revocations(self, now, limit)
    }

    fn stats(
        &self,
        now: u64,
    ) -> impl Future<Output = Result<Option<StoreStats>, StoreError>> + Send {
        S::stats(self, now)
    }
}
