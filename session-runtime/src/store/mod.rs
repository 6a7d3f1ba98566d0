//! Server-side storage for sessions that do not live in a cookie.
//!
//! A store keeps one [`Record`] per session under its [`StoreKey`] (the
//! SHA-256 of the session ID): the sealed data in one compact blob, an
//! expiry, and a version for optimistic concurrency. Every write is a
//! compare-and-set on that version, so two requests racing on one session
//! cannot silently overwrite each other; the loser sees
//! [`Saved::Conflict`] with the current record and can merge.
//!
//! # Caches and coherence
//!
//! A store used as the cache of a [`Tiered`] store (or alone, as a
//! cache-only store) keeps three promises, checked by the conformance suite
//! on every backend:
//!
//! * **A fill never goes back in time.** [`put`](SessionStore::put) writes a
//!   record only when the store holds no newer (or equal) version of it, so
//!   a slow fill racing a save cannot replace the saved version.
//! * **A delete leaves a tombstone.** [`delete`](SessionStore::delete) keeps
//!   a marker for [`TOMBSTONE_TTL`] that refuses fills and creates, so a
//!   fill that read the durable store just before a logout cannot bring the
//!   session back. [`lookup`](SessionStore::lookup) reports the marker as
//!   [`Lookup::Gone`]: a [`Tiered`] store then answers "no session" without
//!   asking the durable store.
//! * **A terminate that answers success leaves no cache able to serve the
//!   session.** [`Tiered::delete`] fails (and the request follows the
//!   layer's outage policy) when the cache cannot be told.
//!
//! A cache shared by every process (Redis, memcached) is coherent at once.
//! A per-process cache ([`MemoryStore`] in front of a shared SQL store) cannot
//! hear about writes made by other processes: [`Tiered`] trusts its entries
//! for at most [`DEFAULT_MAX_STALENESS`] (1 second) after they were filled,
//! then reads the durable store again. A logout on one process is therefore
//! honoured by the others within that bound.
//!
//! Backends: [`MemoryStore`] (embedded, bounded), `SqliteStore`,
//! `PostgresStore` and `MySqlStore` (features `sqlite`, `postgres`, `mysql`),
//! `RedisStore` (feature `redis`), `MemcachedStore` (feature `memcached`),
//! and [`Tiered`], a cache in front of a durable store.

mod erased;
pub(crate) mod guard;
#[cfg(feature = "memcached")]
mod memcached;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql;
mod tiered;

pub(crate) use erased::ErasedStore;
#[cfg(feature = "memcached")]
pub use memcached::MemcachedStore;
#[cfg(all(feature = "memcached", feature = "fuzzing"))]
pub(crate) use memcached::decodes as memcached_decode;
pub use memory::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, MemoryStore};
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use sql::DEFAULT_TABLE;
#[cfg(feature = "mysql")]
pub use sql::MySqlStore;
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
pub use tiered::{DEFAULT_CACHE_TIMEOUT, DEFAULT_MAX_STALENESS, Tiered};

use crate::id::StoreKey;
pub use crate::user::{Revoked, UserSession};
use std::future::Future;
use std::time::Duration;

/// The largest record any store accepts by default: 1 MiB, gae-sessions' cap.
pub const DEFAULT_MAX_RECORD: usize = 1 << 20;

/// How long a cache keeps the tombstone of a deleted session: far longer
/// than any fill can take (fills race only with the load that read the
/// durable store, itself bounded by the store timeouts).
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// What a cache holds for a key: see [`SessionStore::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A live record.
    Hit(Record),
    /// Nothing known: ask the durable store.
    Miss,
    /// The session was deleted (a tombstone): it is gone, do not ask the
    /// durable store and do not fill.
    Gone,
}

impl Lookup {
    /// The live record, if any: what [`SessionStore::load`] answers.
    #[must_use]
    pub fn into_record(self) -> Option<Record> {
        match self {
            Self::Hit(record) => Some(record),
            Self::Miss | Self::Gone => None,
        }
    }
}

/// A session's server-side record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The sealed session (sealed with the store key as associated data, so
    /// a record moved to another key does not open).
    pub data: Vec<u8>,
    /// The sealed `#[session(quick)]` fields when a [`Tiered`] store keeps
    /// them apart (cache only); empty otherwise. Durable SQL stores never
    /// keep it.
    pub quick: Vec<u8>,
    /// When the session expires, Unix seconds.
    pub expires_at: u64,
    /// 1 when created, one more on every save.
    pub version: u64,
}

/// The result of a compare-and-set save.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Saved {
    /// Written; the record now has this version.
    Saved {
        /// The new version.
        version: u64,
    },
    /// Another request saved first: the record as it is now.
    Conflict(Record),
    /// The record is gone (deleted, terminated or expired): never recreated
    /// by a save.
    Missing,
}

/// What a write stores, borrowed from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// See [`Record::data`].
    pub data: &'a [u8],
    /// See [`Record::quick`].
    pub quick: &'a [u8],
    /// When the session expires, Unix seconds.
    pub expires_at: u64,
    /// The session type's schema fingerprint
    /// ([`SessionData::FINGERPRINT`](crate::SessionData::FINGERPRINT)),
    /// kept in the clear beside the sealed data so operators can count the
    /// sessions of each shape ([`StoreStats::shapes`]); `0` when unknown.
    pub shape: u64,
    /// The session type's cookie name, as sent (with its `__Host-` prefix
    /// when it has one) and as [`index_key`](crate::user::index_key) keeps
    /// it: with [`user`](Self::user), the key of the store's user index,
    /// so two session types sharing a store (`user_s`, `admin_s`) never
    /// list or revoke each other's sessions. The layer's records are sealed
    /// under the same name. Empty when unknown; the stores then put the
    /// record in every session type's index, as a record written before
    /// the index kept cookie names is.
    pub cookie_name: &'a str,
    /// The session's user (its `#[session(user)]` field, see
    /// [`crate::user`]), kept in the clear in the store's user index;
    /// `None` for an anonymous session or a cache fill.
    pub user: Option<&'a str>,
    /// When this write happens, Unix seconds: a new record's creation time
    /// and every record's "last seen" in a user's session list (`0`:
    /// unknown).
    pub written_at: u64,
}

impl<'a> Entry<'a> {
    /// An entry without quick fields, of no stated shape or user.
    #[must_use]
    pub fn new(data: &'a [u8], expires_at: u64) -> Self {
        Self {
            data,
            quick: &[],
            expires_at,
            shape: 0,
            cookie_name: "",
            user: None,
            written_at: 0,
        }
    }

    /// The entry with its session type's fingerprint.
    #[must_use]
    pub fn with_shape(self, shape: u64) -> Self {
        Self { shape, ..self }
    }

    /// The entry of `user`'s session of the session type whose cookie is
    /// `cookie_name` (see [`Entry::cookie_name`]), written at `written_at`.
    #[must_use]
    pub fn with_user(self, cookie_name: &'a str, user: Option<&'a str>, written_at: u64) -> Self {
        Self {
            cookie_name,
            user,
            written_at,
            ..self
        }
    }

    /// The entry with `quick` as its quick-fields blob.
    #[must_use]
    pub fn with_quick(self, quick: &'a [u8]) -> Self {
        Self { quick, ..self }
    }

    /// The entry expiring no later than [`MAX_LIFETIME`](crate::MAX_LIFETIME)
    /// after `now` (and within the 32-bit times a sealed session carries):
    /// what every store of a layer is handed, so no record, cache entry or
    /// TTL outlives the longest session, whatever expiry was computed.
    #[must_use]
    pub fn capped(self, now: u64) -> Self {
        // `0`: the time of the write is unknown, only the 32-bit bound holds
        let latest = match now {
            0 => u64::from(u32::MAX),
            now => now
                .saturating_add(crate::MAX_LIFETIME.as_secs())
                .min(u64::from(u32::MAX)),
        };
        Self {
            expires_at: self.expires_at.min(latest),
            ..self
        }
    }

    /// The entry without its quick fields: what a durable store keeps.
    #[must_use]
    pub fn without_quick(self) -> Self {
        Self { quick: &[], ..self }
    }

    /// The bytes the entry occupies, for size limits.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len() + self.quick.len()
    }

    /// Whether both blobs are empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owned record at `version`.
    #[must_use]
    pub fn to_record(&self, version: u64) -> Record {
        Record {
            data: self.data.to_vec(),
            quick: self.quick.to_vec(),
            expires_at: self.expires_at,
            version,
        }
    }
}

impl Record {
    /// The record as an [`Entry`], to write it elsewhere (a cache fill,
    /// which keeps no shape).
    #[must_use]
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            data: &self.data,
            quick: &self.quick,
            expires_at: self.expires_at,
            shape: 0,
            cookie_name: "",
            user: None,
            written_at: 0,
        }
    }
}

/// A store failed. The request that hit it fails according to the layer's
/// outage policy; what was saved before stays saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend reported an error (connection, query, protocol).
    #[error("session store `{store}` failed")]
    Backend {
        /// Which store.
        store: &'static str,
        /// What the backend said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store did not answer within its timeout.
    #[error("session store `{store}` did not answer within {after:?}")]
    Timeout {
        /// Which store.
        store: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The store failed repeatedly and is skipped for a short while (its
    /// circuit breaker is open): the request fails at once instead of
    /// waiting for it.
    #[error("session store `{store}` is failing and skipped for now")]
    CircuitOpen {
        /// Which store.
        store: &'static str,
    },
    /// The store cannot do what was asked (a memcached store keeps no
    /// user index).
    #[error("session store `{store}` does not support {what}")]
    Unsupported {
        /// Which store.
        store: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
    /// A record larger than the store accepts.
    #[error("session record of {len} bytes exceeds the store's limit of {max}")]
    TooLarge {
        /// The record's size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl StoreError {
    /// Whether the store itself failed (it errored, did not answer, or is
    /// being skipped): what the outage policy, the circuit breaker and a
    /// `503` are about. A request the store cannot serve by design
    /// ([`Unsupported`](Self::Unsupported), [`TooLarge`](Self::TooLarge)) is
    /// the caller's problem, not an outage.
    #[must_use]
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Backend { .. } | Self::Timeout { .. } | Self::CircuitOpen { .. }
        )
    }

    /// The short text a client is shown for this error: never the store's
    /// name, the backend's message or a size (those go to the log).
    #[must_use]
    pub fn public_message(&self) -> &'static str {
        if self.is_outage() {
            "the session store is unavailable; please retry"
        } else {
            "the session could not be handled"
        }
    }

    /// The HTTP status this error answers with: `503` for an outage (with
    /// `Retry-After: 1`), `500` otherwise.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        if self.is_outage() {
            http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            http::StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    /// A backend error from `store`.
    pub fn backend(
        store: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            store,
            source: source.into(),
        }
    }

    /// [`StoreError::TooLarge`] unless `entry` fits `max` bytes.
    ///
    /// # Errors
    ///
    /// [`StoreError::TooLarge`].
    pub fn check_size(entry: &Entry<'_>, max: usize) -> Result<(), Self> {
        if entry.len() > max {
            return Err(Self::TooLarge {
                len: entry.len(),
                max,
            });
        }
        Ok(())
    }
}

/// Record counts, for `sessionkit stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Records held, expired or not.
    pub records: u64,
    /// Records past their expiry, waiting for the reaper.
    pub expired: u64,
    /// Live records by schema fingerprint (see [`Entry::shape`]), most
    /// first: when no live session has an old shape any more, its
    /// `#[session(previous = ..)]` can be deleted.
    pub shapes: Vec<(u64, u64)>,
}

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
