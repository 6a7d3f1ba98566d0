//! Server-side storage for sessions that do not live in a cookie.
//!
//! A store keeps one [`Record`] per session under its
//! [`StoreKey`](crate::id::StoreKey) (the SHA-256 of the session ID): the
//! sealed data in one compact blob, an expiry, and a version for optimistic
//! concurrency. Every write is a compare-and-set on that version, so two
//! requests racing on one session cannot silently overwrite each other; the
//! loser sees [`Saved::Conflict`] with the current record and can merge.
//!
//! # The store traits
//!
//! | trait | what a store does | implemented by |
//! | --- | --- | --- |
//! | [`SessionStore`] | create, load, save (compare-and-set), delete; clean up expired records, count them: all a durable store must do | every store |
//! | [`CacheStore`] | fills that never go back in time, tombstones, lookups, quick-field saves: what [`Tiered`] requires of its cache | [`MemoryStore`], `RedisStore`, `MemcachedStore` |
//! | [`UserIndex`] | a user's sessions, listed and revoked ([`crate::user`]) | [`MemoryStore`], `RedisStore` (not on a cluster), the SQL stores, a [`Tiered`] store over one |
//! | [`RevocationTimes`] | users' revocation times, which log out sessions held in cookies | [`MemoryStore`], `RedisStore`, the SQL stores, a [`Tiered`] store over one; not memcached |
//!
//! A `NearCache` over `RedisStore` or `PostgresStore` implements every
//! trait its store does.
//!
//! [`SessionLayer::with_store`](crate::SessionLayer::with_store) takes any
//! [`SessionStore`]. It finds the store's user index and revocation times
//! through [`SessionStore::user_index`] and
//! [`SessionStore::revocation_times`] (and a [`Tiered`] store's cache tier
//! through [`SessionStore::quick_tier`]), which a store that implements
//! the trait returns as `Some`; without them the layer answers
//! [`StoreError::Unsupported`] where it needs them (listing a user's
//! devices), and goes without where it can.
//! [`with_user_revocation`](crate::SessionLayer::with_user_revocation)
//! requires [`RevocationTimes`] by type, so memcached is refused at compile
//! time. `Arc<S>` is a store of every trait `S` implements, so the layer
//! and the [reaper](crate::cleanup) can share one.
//!
//! # A store of your own
//!
//! A durable store implements [`SessionStore`] alone: here sessions in a
//! `HashMap`, in front of which a [`Tiered`] store can put a cache.
//!
//! ```
//! use session_runtime::id::StoreKey;
//! use session_runtime::{
//!     Entry, MasterKey, MemoryStore, Record, Saved, Session, SessionLayer, SessionRejection,
//!     SessionStore, StoreError, Tiered,
//! };
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use tower::{Layer as _, Service, ServiceExt as _};
//!
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<StoreKey, Record>>);
//!
//! impl MapStore {
//!     fn live(&self, key: &StoreKey, now: u64) -> Option<Record> {
//!         let map = self.0.lock().unwrap();
//!         map.get(key).filter(|record| record.expires_at > now).cloned()
//!     }
//! }
//!
//! impl SessionStore for MapStore {
//!     const NAME: &'static str = "map";
//!
//!     async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
//!         let mut map = self.0.lock().unwrap();
//!         if map.contains_key(key) {
//!             return Ok(false); // taken, live or expired
//!         }
//!         // quick fields belong to a cache tier: a durable store may drop them
//!         map.insert(*key, entry.without_quick().to_record(1));
//!         Ok(true)
//!     }
//!
//!     async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
//!         Ok(self.live(key, now))
//!     }
//!
//!     async fn save(
//!         &self,
//!         key: &StoreKey,
//!         entry: Entry<'_>,
//!         version: u64,
//!         now: u64,
//!     ) -> Result<Saved, StoreError> {
//!         let Some(current) = self.live(key, now) else {
//!             return Ok(Saved::Missing); // a save never creates
//!         };
//!         if current.version != version {
//!             return Ok(Saved::Conflict(current));
//!         }
//!         let record = entry.without_quick().to_record(version + 1);
//!         self.0.lock().unwrap().insert(*key, record);
//!         Ok(Saved::Saved { version: version + 1 })
//!     }
//!
//!     async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
//!         Ok(self.0.lock().unwrap().remove(key).is_some())
//!     }
//!
//!     async fn delete_expired(
//!         &self,
//!         now: u64,
//!         dormant_for: u64,
//!         limit: usize,
//!     ) -> Result<usize, StoreError> {
//!         let cutoff = now.saturating_sub(dormant_for);
//!         let mut map = self.0.lock().unwrap();
//!         let dormant: Vec<StoreKey> = map
//!             .iter()
//!             .filter(|(_, record)| record.expires_at <= cutoff)
//!             .map(|(key, _)| *key)
//!             .take(limit)
//!             .collect();
//!         for key in &dormant {
//!             map.remove(key);
//!         }
//!         Ok(dormant.len())
//!     }
//! }
//!
//! #[derive(Session, Default)]
//! #[session(storage = "server")]
//! struct Visits {
//!     count: u32,
//! }
//!
//! async fn visit(request: http::Request<String>) -> Result<http::Response<String>, SessionRejection> {
//!     let mut visits = Session::<Visits>::load(&request).await?;
//!     *visits.count_mut() += 1;
//!     Ok(http::Response::new(visits.count().to_string()))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let key = MasterKey::from_secret(&[4; 32])?;
//! for layer in [
//!     SessionLayer::<Visits>::with_store(key.clone(), MapStore::default()),
//!     // the same store behind a cache
//!     SessionLayer::<Visits>::with_store(key, Tiered::new(MemoryStore::default(), MapStore::default())),
//! ] {
//!     let mut app = layer.layer(tower::service_fn(visit));
//!     let first = app.ready().await?.call(http::Request::new(String::new())).await?;
//!     assert_eq!(first.body(), "1");
//!     // the cookie carries only the session's signed ID; the count is in the store
//!     let set_cookie = first.headers()["set-cookie"].to_str()?;
//!     let cookie = set_cookie.split(';').next().unwrap().to_owned();
//!     let again = http::Request::builder().header("cookie", cookie).body(String::new())?;
//!     let second = app.ready().await?.call(again).await?;
//!     assert_eq!(second.body(), "2");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A store that keeps a user index or revocation times also implements
//! [`UserIndex`] or [`RevocationTimes`], and hands them to the layer from
//! [`SessionStore::user_index`] (`Some(UserIndexRef::new(self))`) or
//! [`SessionStore::revocation_times`]. The conformance suite
//! (`tests/src/conformance.rs`) checks every duty of every store here,
//! scenario by scenario.
//!
//! # Caches and coherence
//!
//! A [`CacheStore`], the cache of a [`Tiered`] store (or a cache-only store
//! alone), keeps three promises, checked by the conformance suite on every
//! backend:
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
//! A store that tells every process what changed — Redis (tracking) and
//! PostgreSQL (`LISTEN`/`NOTIFY`) — can have a per-process cache that is
//! coherent anyway: `NearCache` (`RedisStore::with_near_cache`,
//! `PostgresStore::with_near_cache`; features `redis`, `postgres`) serves
//! records and revocation times from memory and is stale for at most the
//! delivery of a notification.
//!
//! Backends: [`MemoryStore`] (embedded, bounded), `SqliteStore`,
//! `PostgresStore` and `MySqlStore` (features `sqlite`, `postgres`, `mysql`),
//! `RedisStore` (feature `redis`), `MemcachedStore` (feature `memcached`),
//! and [`Tiered`], a cache in front of a durable store.

mod erased;
mod error;
mod forward;
pub(crate) mod guard;
mod keys;
#[cfg(feature = "memcached")]
mod memcached;
mod memory;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod near;
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
pub use keys::{KeyStore, StoredKey};
#[cfg(feature = "redis")]
pub(crate) use keys::{decode_key, encode_key};
#[cfg(feature = "memcached")]
pub use memcached::MemcachedStore;
#[cfg(all(feature = "memcached", feature = "fuzzing"))]
pub(crate) use memcached::decodes as memcached_decode;
pub use memory::{DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, MemoryStore};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub use near::{NEAR_HEARTBEAT, NearCache, NearStats};
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
