//! Log out everywhere: the user a session belongs to, and the index every
//! store keeps from a user to their sessions.
//!
//! One field of a session marked `#[session(user)]` (an `Option` of an id
//! type) names its user. Every save writes that user next to the record,
//! with the session type's cookie name, and the store keeps an index on
//! both (SQL columns with an index, a Redis set per user and type, a map
//! in [`MemoryStore`](crate::MemoryStore); memcached has no way to keep
//! one: use it as the cache of a [`Tiered`](crate::Tiered) store, whose
//! durable tier keeps the index). The index is per session type, as
//! records are sealed per type: a layer lists and revokes only its own
//! type's sessions of the user, never another type's sharing the store.
//! User ids are compared exactly, byte for byte, on every store. A
//! handler lists the user's sessions for a "your devices" page and revokes
//! one or all of them
//! ([`Session::user_sessions`](crate::Session::user_sessions),
//! [`Session::revoke_user_sessions`](crate::Session::revoke_user_sessions));
//! jobs and the CLI use the store's [`UserIndex`](crate::store::UserIndex)
//! ([`user_sessions`](crate::store::UserIndex::user_sessions) and
//! [`revoke_user`](crate::store::UserIndex::revoke_user)) with the type's
//! cookie name, which delete in bounded batches.
//!
//! Sessions that live in a cookie have no record to delete: a layer built
//! with [`SessionLayer::with_user_revocation`](crate::SessionLayer::with_user_revocation)
//! keeps a per-user revocation time in a store (one for every session type
//! that shares it: revocation times are not per type) and refuses a user's
//! sessions issued at or before it
//! ([`RevocationTimes::revoked_before`](crate::store::RevocationTimes::revoked_before)).

use crate::bound::BoundedString;
use crate::id::StoreKey;
use sha2::Digest as _;

/// Revocations per store call when a session revokes its user's
/// sessions: bounded batches, however many sessions the user has.
pub const REVOKE_BATCH: usize = 1_000;

/// How long a user's revocation time is kept
/// ([`RevocationTimes::revoke_before`](crate::store::RevocationTimes::revoke_before)):
/// longer than any cookie a browser keeps (400 days is the most browsers
/// honour).
pub const KEEP_REVOCATIONS: std::time::Duration = std::time::Duration::from_secs(400 * 86_400);

/// How far past its own clock a revocation reaches: a revocation made at
/// `now` covers the user's sessions issued up to `now` plus this, so a
/// process whose clock runs ahead of the revoking one (or a clock that
/// stepped back) cannot issue a session that escapes it. Sessions issued
/// anew after a revocation (a login) are given an issue time after it, so
/// no legitimate session is refused for it.
pub const REVOCATION_CLOCK_TOLERANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// The longest user key kept as it is; longer ones are replaced by
/// `sha256:<hex>` of the id, so every index (the SQL stores' 160-byte
/// `user_id` columns included) can hold them.
pub const MAX_USER_KEY_LEN: usize = 128;

/// A type that identifies a user: its text form is the key of the store's
/// user index. Implemented for the integer types, `String` and
/// [`BoundedString`]; implement it for your own id type.
pub trait UserId {
    /// The id as text (distinct ids give distinct text).
    fn to_user_key(&self) -> String;
}

macro_rules! integer_ids {
    ($($t:ty),*) => {$(
        impl UserId for $t {
            fn to_user_key(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
integer_ids!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl UserId for String {
    fn to_user_key(&self) -> String {
        self.clone()
    }
}

impl<const N: usize> UserId for BoundedString<N> {
    fn to_user_key(&self) -> String {
        self.as_str().to_owned()
    }
}

/// A session type with a `#[session(user)]` field: implemented by
/// `#[derive(Session)]`, and required by
/// [`SessionLayer::with_user_revocation`](crate::SessionLayer::with_user_revocation),
/// so a type without a user is refused where the layer is built, under
/// `cargo check`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[session(user)]` field, so its sessions cannot be revoked per user",
    label = "no `#[session(user)]` field",
    note = "mark the field that names the logged-in user: `#[session(user)] user: Option<u64>`"
)]
pub trait HasUserField: crate::SessionData {}

/// The field type `#[session(user)]` accepts: an `Option` of a [`UserId`].
#[diagnostic::on_unimplemented(
    message = "`#[session(user)]` needs an `Option<…>` of a user id type, not `{Self}`",
    label = "not an `Option` of a `UserId`",
    note = "`UserId` is implemented for the integer types, `String` and `BoundedString<N>`; implement it for your own id type"
)]
pub trait UserField {
    /// The key of the session's user in the store's index; `None` while
    /// nobody is logged in.
    fn user_key(&self) -> Option<String>;
}

impl<T: UserId> UserField for Option<T> {
    fn user_key(&self) -> Option<String> {
        self.as_ref().map(|id| index_key(id.to_user_key()))
    }
}

/// The key of one session type's revocation time for `user` (both as the
/// stores' user index keys them): a `Server` type without
/// [`with_user_revocation`](crate::SessionLayer::with_user_revocation)
/// raises it when it revokes the user, and a session of the user issued
/// anew reads it around its write, so a login racing the revocation's index
/// scan cannot keep its new ID. Per type, so another session type sharing
/// the store (a back office's) is not touched. `sessionkit revoke` raises
/// it for each `--cookie-name`.
#[must_use]
pub fn type_revocation_key(index_cookie: &str, user: &str) -> String {
    // cookie names have no spaces: the pair is unambiguous
    index_key(format!("{index_cookie} {user}"))
}

/// `key` (a user's key, or a session type's cookie name) as the index
/// keeps it: as it is up to [`MAX_USER_KEY_LEN`] bytes, else its SHA-256
/// in hex.
#[must_use]
pub fn index_key(key: String) -> String {
    if key.len() <= MAX_USER_KEY_LEN {
        return key;
    }
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// What [`RevocationTimes::revoke_before`](crate::store::RevocationTimes::revoke_before)
/// did: the user's revocation time before the call and after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// The revocation time kept before (Unix seconds), if any.
    pub previous: Option<u64>,
    /// The revocation time kept now: sessions of the user issued at or
    /// before it are refused.
    pub before: u64,
}

impl Revoked {
    /// What a store reports: the time it kept before and the time it keeps
    /// now.
    #[must_use]
    pub fn new(previous: Option<u64>, before: u64) -> Self {
        Self { previous, before }
    }

    /// The revocation time a store keeps after revoking at `at` over
    /// `previous`: the later of `at` and one past `previous`.
    #[must_use]
    pub fn after(previous: Option<u64>, at: u64) -> Self {
        let before = previous.map_or(at, |kept| at.max(kept.saturating_add(1)));
        Self { previous, before }
    }
}

/// One of a user's sessions as a store's user index lists it, for jobs and
/// the CLI: the record's key (to delete it) and its times, never the
/// session's ID. A handler sees a [`Device`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSession {
    /// The record's key (SHA-256 of the ID): what
    /// [`delete`](crate::SessionStore::delete) takes. Show
    /// [`StoreKey::log_tag`] to people, not this.
    pub key: StoreKey,
    /// When the record was created, Unix seconds (`0`: written before the
    /// store kept it).
    pub created_at: u64,
    /// When the session was last saved, Unix seconds
    /// ([`Entry::updated_at`](crate::Entry::updated_at) of its last write):
    /// reads write nothing, so this is the last change, not the last
    /// request.
    pub updated_at: u64,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
}

impl UserSession {
    /// A listed session.
    #[must_use]
    pub fn new(key: StoreKey, created_at: u64, updated_at: u64, expires_at: u64) -> Self {
        Self {
            key,
            created_at,
            updated_at,
            expires_at,
        }
    }
}

/// One of the current user's sessions, for a "your devices" page: a
/// [`UserSession`] as a handler may show it
/// ([`Session::user_sessions`](crate::Session::user_sessions)), with the
/// session's log tag in place of its store key (which is for the store
/// alone) and whether it is the current request's, and the same times.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// The session's log tag (a keyed 8-character tag, the same the logs
    /// show): what [`Session::revoke_device`](crate::Session::revoke_device)
    /// takes.
    pub tag: String,
    /// When the session was created (logged in), Unix seconds: its
    /// [`UserSession::created_at`].
    pub created_at: u64,
    /// When it was last changed, Unix seconds: its
    /// [`UserSession::updated_at`].
    pub updated_at: u64,
    /// When it expires, Unix seconds.
    pub expires_at: u64,
    /// Whether it is the session of the request that asked.
    pub current: bool,
}
