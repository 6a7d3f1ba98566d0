//! Server-side storage for sessions that do not live in a cookie.
//!
//! A store keeps one [`Record`] per session under its [`StoreKey`] (the
//! SHA-256 of the session ID): the sealed data in one compact blob, an
//! expiry, and a version for optimistic concurrency. Every write is a
//! compare-and-set on that version, so two requests racing on one session
//! cannot silently overwrite each other; the loser sees
//! [`Saved::Conflict`] with the current record and can merge.
//!
//! Backends: [`MemoryStore`] (embedded, bounded). SQL, memcached and Redis
//! backends, and the tiered combination, implement the same trait.

mod memory;

pub use memory::{DEFAULT_CAPACITY, DEFAULT_MAX_RECORD, MemoryStore};

use crate::id::StoreKey;
use std::future::Future;

/// A session's server-side record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The sealed session (sealed with the store key as associated data, so
    /// a record moved to another key does not open).
    pub data: Vec<u8>,
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
    /// A record larger than the store accepts.
    #[error("session record of {len} bytes exceeds the store's limit of {max}")]
    TooLarge {
        /// The record's size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Server-side session storage.
///
/// Every method takes the current time where it matters (`now`, Unix
/// seconds) so that expiry is decided by the caller's clock, and returns a
/// `Send` future so the layer can run in any executor.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a record with version 1, unless the key is taken (by a live
    /// or an expired record): `Ok(false)` then, and nothing changes.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the record is too large.
    fn create(
        &self,
        key: &StoreKey,
        data: &[u8],
        expires_at: u64,
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
        data: &[u8],
        expires_at: u64,
        version: u64,
        now: u64,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Removes the record; `Ok(true)` when there was one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes at most `limit` records that expired at least `dormant_for`
    /// seconds before `now`; returns how many. Call it repeatedly until it
    /// returns less than `limit` to clean up in bounded batches.
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
}
