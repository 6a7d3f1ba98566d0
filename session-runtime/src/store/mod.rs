//! Server-side storage for sessions that do not live in a cookie.
//!
//! A store keeps one [`Record`] per session under its [`StoreKey`](crate::id::StoreKey) (the
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
//! * **A fill never goes back in time.** [`put`](CacheStore::put) writes a
//!   record only when the store holds no newer (or equal) version of it, so
//!   a slow fill racing a save cannot replace the saved version.
//! * **A delete leaves a tombstone.** [`delete`](SessionStore::delete) keeps
//!   a marker for [`TOMBSTONE_TTL`] that refuses fills and creates, so a
//!   fill that read the durable store just before a logout cannot bring the
//!   session back. [`lookup`](CacheStore::lookup) reports the marker as
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
mod error;
mod forward;
pub(crate) mod guard;
#[cfg(feature = "memcached")]
mod memcached;
mod memory;
mod record;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod sql;
mod tiered;
mod traits;
mod views;

pub(crate) use erased::{ErasedStore, erase, erase_revocations};
pub use error::StoreError;
#[cfg(feature = "memcached")]
pub use memcached::MemcachedStore;
#[cfg(all(feature = "memcached", feature = "fuzzing"))]
pub(crate) use memcached::decodes as memcached_decode;
pub use memory::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, MemoryStore};
pub use record::{Entry, Lookup, Record, Saved, StoreStats};
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
pub use traits::{CacheStore, RevocationTimes, SessionStore, TOMBSTONE_TTL, UserIndex};
pub use views::{QuickTierRef, RevocationTimesRef, UserIndexRef};

pub use crate::user::{Revoked, UserSession};
