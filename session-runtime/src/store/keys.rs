//! Where a managed key ring ([`ManagedKeys`](crate::ManagedKeys)) keeps its
//! keys: [`KeyStore`], one record per key ([`StoredKey`]), each key's
//! secret sealed under the root secret. Durable stores implement it: the
//! SQL stores in `<table>_keys`, [`RedisStore`](crate::store::RedisStore)
//! in two hashes (`<prefix>keys`, `<prefix>keys:revoked`),
//! [`MemoryStore`](crate::MemoryStore) for one process, [`Tiered`] and a
//! near cache through the store that keeps their data. Memcached does not:
//! it may evict a key, and every session sealed with it would be lost.

use super::{CacheStore, SessionStore, StoreError, Tiered};
use std::future::Future;
use std::sync::Weak;
use tokio::sync::Notify;

/// One key of a managed ring as a store keeps it. Times are Unix
/// milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The key's number: one more than the highest before it.
    pub kid: u32,
    /// When it was made.
    pub created_at: u64,
    /// When it starts sealing: after every instance has had time to learn
    /// it (the ring's activation delay), at once for a ring's first key and
    /// an emergency replacement.
    pub activates_at: u64,
    /// When it was revoked: no session sealed with it opens any more.
    pub revoked_at: Option<u64>,
    /// The key's secret, sealed under the root secret (AES-256-GCM, bound
    /// to `kid`, `created_at` and `activates_at`, so a changed time makes
    /// the key unusable rather than active at another time).
    pub sealed: Vec<u8>,
}

/// A store that keeps a managed key ring's keys.
#[diagnostic::on_unimplemented(
    message = "session store `{Self}` cannot keep a managed key ring",
    label = "not a store that keeps keys durably",
    note = "use a SQL store, `RedisStore`, `MemoryStore` (one process), or a `Tiered` store over one: a cache that may evict a key (memcached) would lose every session sealed with it"
)]
pub trait KeyStore: Send + Sync + 'static {
    /// Every key kept, revoked ones included, in no particular order.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn load_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;

    /// Adds `key` unless a key with its `kid` exists: `false` then (another
    /// instance made that key first).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn add_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks key `kid` revoked at `at` (Unix milliseconds); `false` when
    /// there is no such key or it was revoked already.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn revoke_key(
        &self,
        kid: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes key `kid` (retired: no live session can carry it); `false`
    /// when there was none.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn remove_key(&self, kid: u32) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Wakes `wake` whenever the keys may have changed in the store (any
    /// instance made, revoked or removed one), for as long as `wake`
    /// lives, so a managed ring reads them at once instead of at its next
    /// poll. `false` when the store has no notifications (SQLite, MySQL,
    /// Redis Cluster, memory): the ring polls alone. A notification lost
    /// (a reconnection) only delays a change to the next poll.
    fn watch_keys(&self, wake: Weak<Notify>) -> bool {
        let _ = wake;
        false
    }
}

impl<S: KeyStore> KeyStore for std::sync::Arc<S> {
    fn load_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send {
        (**self).load_keys()
    }

    fn add_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).add_key(key)
    }

    fn revoke_key(
        &self,
        kid: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).revoke_key(kid, at)
    }

    fn remove_key(&self, kid: u32) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).remove_key(kid)
    }

    fn watch_keys(&self, wake: Weak<Notify>) -> bool {
        (**self).watch_keys(wake)
    }
}

/// The durable tier's: a cache may lose what it holds.
impl<Cache: CacheStore, Durable: SessionStore + KeyStore> KeyStore for Tiered<Cache, Durable> {
    fn load_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send {
        self.durable().load_keys()
    }

    fn add_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.durable().add_key(key)
    }

    fn revoke_key(
        &self,
        kid: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.durable().revoke_key(kid, at)
    }

    fn remove_key(&self, kid: u32) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.durable().remove_key(kid)
    }

    fn watch_keys(&self, wake: Weak<Notify>) -> bool {
        self.durable().watch_keys(wake)
    }
}

/// The fixed-width form of a key's times and secret, for stores that keep
/// one value per key (Redis): `created_at`, `activates_at` (big-endian
/// u64 each), then the sealed secret. A revocation is kept apart.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn encode_key(key: &StoredKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.sealed.len());
    out.extend_from_slice(&key.created_at.to_be_bytes());
    out.extend_from_slice(&key.activates_at.to_be_bytes());
    out.extend_from_slice(&key.sealed);
    out
}

/// [`encode_key`]'s bytes back, `None` when they are too short.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn decode_key(kid: u32, bytes: &[u8], revoked_at: Option<u64>) -> Option<StoredKey> {
    let (created, rest) = bytes.split_first_chunk::<8>()?;
    let (activates, sealed) = rest.split_first_chunk::<8>()?;
    Some(StoredKey {
        kid,
        created_at: u64::from_be_bytes(*created),
        activates_at: u64::from_be_bytes(*activates),
        revoked_at,
        sealed: sealed.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_short_bytes_are_refused() {
        let key = StoredKey {
            kid: 7,
            created_at: 1,
            activates_at: u64::MAX,
            revoked_at: None,
            sealed: vec![9; 93],
        };
        assert_eq!(decode_key(7, &encode_key(&key), None), Some(key.clone()));
        let revoked = decode_key(7, &encode_key(&key), Some(5)).unwrap();
        assert_eq!(revoked.revoked_at, Some(5));
        assert_eq!(decode_key(7, &[0; 15], None), None);
    }
}
