//! What a store keeps and is handed: [`Record`], [`Entry`], and the
//! answers [`Saved`], [`Lookup`] and [`StoreStats`].

#[cfg(doc)]
use super::{CacheStore, SessionStore, Tiered};

/// What a cache holds for a key: see [`CacheStore::lookup`].
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
    /// When this write happens, Unix seconds (`0`: unknown): the record's
    /// [`UserSession::updated_at`](crate::store::UserSession::updated_at)
    /// (the SQL stores' `updated_at` column), and a new record's
    /// `created_at` too.
    pub updated_at: u64,
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
            updated_at: 0,
        }
    }

    /// The entry with its session type's fingerprint.
    #[must_use]
    pub fn with_shape(self, shape: u64) -> Self {
        Self { shape, ..self }
    }

    /// The entry of `user`'s session of the session type whose cookie is
    /// `cookie_name` (see [`Entry::cookie_name`]), written at `updated_at`
    /// (see [`Entry::updated_at`]).
    #[must_use]
    pub fn with_user(self, cookie_name: &'a str, user: Option<&'a str>, updated_at: u64) -> Self {
        Self {
            cookie_name,
            user,
            updated_at,
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
            updated_at: 0,
        }
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
