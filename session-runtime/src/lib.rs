//! Typed web sessions for Rust.
//!
//! Write `#[derive(Session, Default)]` on a plain struct. The derive gives it
//! typed accessors with per-field change tracking, refuses fields that cannot
//! be stored (with an error on the field that says why), and computes the
//! struct's largest encoded size at compile time. That bound decides where the
//! session lives ([`Storage`]): in one sealed cookie when it always fits,
//! otherwise server-side.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use session_runtime::{BoundedString, BoundedVec, MaxEncodedLen, Session, SessionData, Storage};
//!
//! #[derive(Serialize, Deserialize, MaxEncodedLen)]
//! struct Item {
//!     sku: u32,
//!     quantity: u16,
//! }
//!
//! #[derive(Session, Default)]
//! #[session(cookie = "cart")]
//! struct Cart {
//!     user_id: Option<u64>,
//!     name: BoundedString<40>,        // the bound is part of the type
//!     items: BoundedVec<Item, 16>,
//! }
//!
//! // decided by the compiler: every field is bounded and the sum fits a cookie
//! const _: () = assert!(matches!(Cart::STORAGE, Storage::Cookie));
//! assert_eq!(Cart::MAX_ENCODED_LEN, Some(11 + 41 + 129));
//! ```
//!
//! Handlers see the session through the generated `CartAccess` type:
//! `user_id()`, `set_user_id(v)`, `items_mut()`, `take_name()`, and
//! `update(|cart| ..)`. Each write marks its field changed; the layer writes
//! at most once per request, and only when the encoding really changed.
//!
//! # In a web app
//!
//! [`SessionLayer`] is a `tower::Layer` over `http` 1.x types (axum, hyper,
//! tonic); with the `axum` feature, [`Session<S>`](struct@Session) is an
//! extractor. With the `actix` feature the same layer configures an
//! actix-web 4 middleware, and `Session<S>` extracts there too: both sit on
//! one framework-neutral core. The cookie (or the token header, see
//! [`SessionLayer::with_token_header`]) is decoded only when a handler
//! extracts the session, so a route that does not pays one header lookup.
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{Router, routing::post};
//! use session_runtime::{MasterKey, Session, SessionLayer};
//! use tower::ServiceExt as _;
//!
//! #[derive(Session, Default)]
//! struct Visits {
//!     count: u32,
//! }
//!
//! async fn visit(mut visits: Session<Visits>) -> String {
//!     *visits.count_mut() += 1;        // marks `count` changed
//!     visits.count().to_string()
//! }                                    // one Set-Cookie, after the handler
//!
//! let key = MasterKey::from_secret(&[9; 32])?;   // MasterKey::from_env in real code
//! let app = Router::new()
//!     .route("/visit", post(visit))
//!     .layer(SessionLayer::<Visits>::new(key));
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let request = http::Request::post("/visit").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! let cookie = response.headers()["set-cookie"].to_str()?;
//! // `__Host-`: the default whenever the settings allow it (Secure, Path=/, no Domain)
//! assert!(cookie.starts_with("__Host-visits=") && cookie.contains("HttpOnly; SameSite=Lax; Secure"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Lifecycle, on the handle: [`Session::cycle_id`], [`Session::restart`]
//! (log in as a user who may differ: a fresh session), [`Session::terminate`]
//! (log out: the cookie is expired with the same name, path and domain),
//! [`Session::set_lifetime`] (at most [`MAX_LIFETIME`], 400 days),
//! [`Session::browser_session`]. A change of the `#[session(user)]` field
//! gives the session a new identity by itself. The layer enforces an idle
//! lifetime (default 7 days, refreshed at most every quarter of it) and an
//! absolute timeout from the login (default
//! [`DEFAULT_ABSOLUTE_TIMEOUT`], 30 days, or the session's lifetime when
//! longer), both from the sealed times; writes nothing for a session never
//! set, nothing after a 5xx response, and at most one `Set-Cookie`, only
//! when the encoding changed. A response that sets or clears the token gets
//! `Cache-Control: no-store`; one built from the session without a new
//! token gets `private`; both get `Vary: cookie` in one merged line. The
//! cookie is named `__Host-<name>` whenever the settings allow it. A bad
//! cookie of any kind is a fresh session, logged at debug level, and
//! cleared.
//!
//! # Sealing
//!
//! A [`Sealer`] turns a session into a cookie value and back: AES-256-GCM
//! ([`Mode::Encrypted`], the default) or HMAC-SHA256 ([`Mode::Signed`]), keys
//! derived with HKDF-SHA256 from one master secret of at least 32 bytes, a
//! [`KeyRing`] for rotation, and the cookie name, format, key id and codec
//! bound into the tag. Issue and expiry times travel inside the sealed
//! payload. See [`seal::envelope`] for the byte layout.
//!
//! ```
//! use session_runtime::{Bincode, MasterKey, Meta, Mode, Sealer, Session};
//!
//! #[derive(Session, Default, Debug, PartialEq)]
//! struct Prefs {
//!     dark_mode: bool,
//! }
//!
//! let sealer = Sealer::new(MasterKey::from_secret(&[42; 32])?, Mode::Encrypted);
//! let meta = Meta { issued_at: 1_000, expires_at: 2_000, ..Meta::default() };
//! let value = sealer.seal::<Prefs, Bincode>("prefs", &meta, &Prefs { dark_mode: true })?;
//!
//! let opened = sealer.open::<Prefs, Bincode>("prefs", &value, 1_500)?;
//! assert_eq!(opened.data, Prefs { dark_mode: true });
//! // under another cookie name, after expiry, or changed in any bit: refused
//! assert!(sealer.open::<Prefs, Bincode>("other", &value, 1_500).is_err());
//! assert!(sealer.open::<Prefs, Bincode>("prefs", &value, 2_000).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `derive` | yes | re-exports `#[derive(Session)]` and `#[derive(MaxEncodedLen)]` |
//! | `postcard` | no | the [`Postcard`] codec (postcard 1.x) next to the default [`Bincode`] |
//! | `axum` | no | `Session<S>` and `Option<Session<S>>` as axum extractors (via `axum-core`) |
//! | `actix` | no | [`actix::SessionMiddleware`](crate::actix) and `Session<S>` as an actix-web 4 extractor |
//! | `tokio` | no | the background [`cleanup::Reaper`] |
//! | `sqlite` | no | [`store::SqliteStore`] (SQLite compiled in) |
//! | `postgres` | no | [`store::PostgresStore`] |
//! | `mysql` | no | [`store::MySqlStore`] (MySQL, MariaDB) |
//! | `redis` | no | [`store::RedisStore`] over a connection manager |
//! | `redis-cluster` | no | `RedisStore::cluster` for Redis Cluster |
//! | `memcached` | no | [`store::MemcachedStore`] (several servers) |
//! | `cli` | no | the `sessionkit` binary: `keygen`, `migrate`, `reap`, `inspect`, `stats`, `sessions`, `revoke` |
//!
//! # Server-side sessions
//!
//! Session types whose storage is [`Storage::Adaptive`] or
//! [`Storage::Server`] need a store: [`SessionLayer::with_store`]. The
//! cookie then carries a signed 256-bit ID (or, for a small Adaptive
//! session, the sealed data); the store keeps one sealed row per session,
//! keyed by the SHA-256 of the ID. Forged IDs are refused before any store
//! query, unknown IDs are never adopted, and the ID's signature and the
//! row's sealing both name the cookie, so one session type cannot open
//! another's. Saves are compare-and-set with a field-level merge on
//! conflict, retried with backoff for a bounded time (then 503 with
//! `Retry-After`); [`Session::atomically`] records a read-modify-write that
//! is replayed on the fresh data, so concurrent increments compose. Every
//! store call has a timeout and a store that keeps failing is skipped for a
//! moment; an outage answers 503 (see [`OutagePolicy`]). [`Tiered`] puts a
//! cache in front of a durable store; [`store`](crate::store#caches-and-coherence)
//! states what a cache guarantees (no fill goes back in time, deletes leave
//! tombstones, a per-process cache is trusted for at most a second, and a
//! near cache over Redis or PostgreSQL is kept coherent by the store's
//! notifications). A
//! store of your own implements [`SessionStore`] alone (see
//! [`store`](crate::store#a-store-of-your-own)); a user index
//! ([`UserIndex`]) and users' revocation times ([`RevocationTimes`]) are
//! traits of their own.
//!
//! ```
//! use session_runtime::{MasterKey, MemoryStore, Session, SessionLayer};
//!
//! #[derive(Session, Default)]
//! struct Notes {
//!     text: String, // unbounded: Adaptive
//! }
//!
//! let layer = SessionLayer::<Notes>::with_store(MasterKey::from_secret(&[3; 32])?, MemoryStore::default())
//!     .with_cookie_threshold(0)?; // always server-side
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Changing a session struct
//!
//! Every deploy that changes a session struct changes its
//! [`FINGERPRINT`](SessionData::FINGERPRINT): field names and order, their
//! types' encodings (nested structs and enums included, through each type's
//! [`MaxEncodedLen::SHAPE`]), `quick` and `max_len`. Renaming a *type*
//! changes nothing; reordering an enum's variants, renaming or retyping a
//! nested field, or resizing a `BoundedVec` does. A session sealed in a
//! shape the layer does not know is "no session" — never mis-decoded.
//!
//! To log nobody out, keep the old struct as it was, name it in
//! `#[session(previous = ..)]` and write one `From`:
//!
//! ```
//! use session_runtime::{Bincode, MasterKey, Meta, Mode, Sealer, Session, SessionData};
//!
//! /// The cart as the last release wrote it: kept, unchanged, for old sessions.
//! #[derive(Session, Default)]
//! #[session(cookie = "cart")]
//! struct CartV1 {
//!     items: Vec<u32>,
//! }
//!
//! #[derive(Session, Default, Debug, PartialEq)]
//! #[session(cookie = "cart", previous = CartV1)]
//! struct Cart {
//!     items: Vec<u32>,
//!     coupon: Option<String>,
//! }
//!
//! impl From<CartV1> for Cart {
//!     fn from(old: CartV1) -> Self {
//!         Self { items: old.items, coupon: None }
//!     }
//! }
//!
//! // a cookie sealed by the old release opens in the new shape
//! let sealer = Sealer::new(MasterKey::from_secret(&[5; 32])?, Mode::Encrypted);
//! let meta = Meta { issued_at: 1_000, expires_at: 2_000, ..Meta::default() };
//! let old = sealer.seal::<CartV1, Bincode>("cart", &meta, &CartV1 { items: vec![7] })?;
//! let opened = sealer.open::<Cart, Bincode>("cart", &old, 1_500)?;
//! assert_eq!(opened.data, Cart { items: vec![7], coupon: None });
//! assert!(opened.migrated());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * **Both tiers.** Cookies and server records (every store, a [`Tiered`]
//!   cache included) open the same way.
//! * **Chains.** `V3` names `previous = V2`, which names `previous = V1`;
//!   each step is one `From`, and a V1 session opens in V3.
//! * **When it is re-sealed.** A migrated session is written in the new
//!   shape by the first request that changes it (or whose expiry refresh is
//!   due); a request that only reads it writes nothing, so a deploy does not
//!   turn every read into a write.
//! * **When to delete `previous`.** `sessionkit stats` counts live
//!   server-side sessions by shape; once none has the old fingerprint (or
//!   the session lifetime has passed since the deploy, for cookies), the old
//!   struct can go.
//! * **Mistakes are compile errors**: a `previous` with the same shape or
//!   another cookie name, a missing `From` (the error names the `impl` to
//!   write), a `previous` that is not a session, a cycle, or a cookie-only
//!   struct whose `previous` may live server-side.
//!
//! ## Rolling deploys: expand, then contract
//!
//! `previous` alone is enough when every instance restarts at once. In a
//! rolling deploy, old and new instances serve the same users side by
//! side, and an old instance cannot open a session a new one has already
//! re-sealed in the new shape: to it that is "no session", and the user is
//! logged out. Ship the change in two releases instead:
//!
//! 1. **Expand: a release that reads the new shape and writes the old
//!    one.** Keep `Cart` as it is, add the struct the next release will
//!    write (exactly as it will be, same cookie name), name it in
//!    `#[session(next = ..)]`, and write `From<CartV2> for Cart`. This
//!    release never writes the new shape: roll it out like any other.
//! 2. **Contract: the release that writes the new shape**, once no
//!    instance of the release before step 1 is left: `CartV2` becomes the
//!    session type with `#[session(previous = Cart)]` and `From<Cart> for
//!    CartV2`. While it rolls out, step-1 instances open what it writes.
//!
//! ```
//! use session_runtime::{Bincode, MasterKey, Meta, Mode, SealedShape, Sealer, Session};
//!
//! // step 1's code: the session type is still `Cart`
//! #[derive(Session, Default, Debug, PartialEq)]
//! #[session(cookie = "cart", next = CartV2)]
//! struct Cart {
//!     items: Vec<u32>,
//! }
//!
//! /// What step 2 will write, copied as it will be.
//! #[derive(Session, Default)]
//! #[session(cookie = "cart")]
//! struct CartV2 {
//!     items: Vec<u32>,
//!     coupon: Option<String>,
//! }
//!
//! impl From<CartV2> for Cart {
//!     fn from(new: CartV2) -> Self {
//!         Self { items: new.items }
//!     }
//! }
//!
//! // a cookie a step-2 instance sealed opens on a step-1 instance
//! let sealer = Sealer::new(MasterKey::from_secret(&[5; 32])?, Mode::Encrypted);
//! let meta = Meta { issued_at: 1_000, expires_at: 2_000, ..Meta::default() };
//! let new = CartV2 { items: vec![7], coupon: Some("SPRING".into()) };
//! let sealed = sealer.seal::<CartV2, Bincode>("cart", &meta, &new)?;
//! let opened = sealer.open::<Cart, Bincode>("cart", &sealed, 1_500)?;
//! assert_eq!((opened.data, opened.shape), (Cart { items: vec![7] }, SealedShape::Next));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * **What a step-1 instance writes.** A session sealed in the next
//!   shape is written back (in its own shape, so what only the new shape
//!   holds is lost) only when a handler changes it or asks for a write (a
//!   new ID, a lifetime). Reads, expiry refreshes, re-seals under a newer
//!   key and `always_save` leave it as the new release sealed it. Give what
//!   the new shape adds a default that `From<Cart> for CartV2` can fill.
//! * **Both tiers, every store**: cookies and server records open the same
//!   way; the record's shape column tells `sessionkit stats` how many of
//!   each are live.
//! * **Mistakes are compile errors**: a `next` that is not a session, has
//!   the same shape as this struct or as its `previous`, another cookie
//!   name, a missing `From` (the error names it), or a cookie-only struct
//!   whose `next` may live server-side.
//! * **After step 2**, the next change starts again at step 1: a release
//!   may name both `previous` (the shape before it) and `next`.
//! * **Foreign types** state their shape by hand or through a newtype; see
//!   [`bound::shape`].
//!
//! # Metrics and tracing
//!
//! The layer reports through the [`metrics`](https://docs.rs/metrics)
//! facade; install any recorder (the shop uses `metrics-exporter-prometheus`
//! and serves `/metrics`). `session` is the cookie name, never an ID.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `sessionkit_sessions_loaded_total` | counter | `session` | an existing session opened (cookie or store) |
//! | `sessionkit_sessions_created_total` | counter | `session` | a new server-side session stored |
//! | `sessionkit_sessions_saved_total` | counter | `session`, `tier` (`cookie`, `store`, `quick`) | a session written |
//! | `sessionkit_sessions_unchanged_total` | counter | `session` | an existing session read and not written (a write avoided) |
//! | `sessionkit_save_conflicts_total` | counter | `session` | a compare-and-set save met a concurrent write |
//! | `sessionkit_save_merges_total` | counter | `session` | this request's changes re-applied on the fresh record |
//! | `sessionkit_save_replays_total` | counter | `session` | `atomically` closures replayed |
//! | `sessionkit_store_outages_total` | counter | `session`, `store`, `operation` | a store call failed or timed out |
//! | `sessionkit_refused_total` | counter | `session`, `reason` (`tampered`, `expired`, `wrong_key`, `old_shape`, `other_codec`, `malformed`, `undecodable`, `unknown_id`, `revoked`) | a token that opened nothing, or a session refused (`revoked`: issued before its user's revocation) |
//! | `sessionkit_store_seconds` | histogram | `store`, `operation` | store call latency |
//! | `sessionkit_key_ring_refresh_failures_total` | counter | | a [`ManagedKeys`] refresh that could not read the store (the keys held are kept; [`ManagedKeys::status`] says since when) |
//! | `sessionkit_near_cache_flushes_total` | counter | `store`, `why` (`channel_down`, `store_flushed`) | a near cache dropped everything: its notification channel broke or missed a heartbeat, or the store said every key changed (`NearCache::stats` counts hits and misses) |
//!
//! Tracing, at debug level, under the request's span: each server-side
//! load runs in a `session_load` span and each save in a `session_save`
//! span, with the session's cookie name, the store, the ID's log tag (a
//! keyed 8-character tag, never the ID or its store key) and the outcome
//! (`loaded`, `refused`, `unknown_or_expired`, `store_failed`,
//! `unavailable`; `ok`, `failed`, `unavailable` and whether a token was
//! sent); every store call inside them runs in a `session_store` span
//! (store, operation, outcome). Refused tokens are debug events with the
//! reason.
//!
//! # Codecs
//!
//! [`Bincode`] (bincode `=2.0.1`, serde, standard config, decode limit 1 MiB)
//! is the default. The bincode crate is marked unmaintained
//! (RUSTSEC-2025-0141) and its 3.0.0 release is empty, so the version is
//! pinned exactly; `Postcard` is maintained and has a stable, documented
//! wire format. Every size bound holds for both. The envelope records the
//! codec, so switching codecs turns existing cookies into "no session", never
//! into garbage.
//!
//! # Security model
//!
//! * Only authenticated bytes are decoded. A tampered, truncated, re-named,
//!   expired, wrong-key, other-codec or old-schema value is "no session"
//!   ([`OpenError`] says which), never a panic.
//! * Secrets shorter than 32 bytes are a configuration error. Keys print as
//!   `REDACTED`.
//! * Keys rotate by hand with a [`KeyRing`] (the new secret first, the old
//!   one kept until its sessions expire), or by themselves across a fleet
//!   with [`ManagedKeys`]: keys kept in the store under a root secret,
//!   made ahead and activated after a propagation delay, rotated on a
//!   schedule, retired after a retention, revocable everywhere within one
//!   refresh (see [`seal::managed`]).
//! * [`Mode::Signed`] sessions are readable by the client: keep secrets out
//!   of them, or use the default encrypted mode.
//! * A cookie session cannot be revoked one by one before it expires:
//!   whoever holds a copy of the cookie holds the session until its idle
//!   expiry or the absolute timeout, and [`Session::terminate`] clears only
//!   this browser's cookie. `#[session(storage = "server")]` is for data
//!   that must be revocable: [`Session::terminate`] deletes its row, which
//!   ends every copy of the ID, and a `#[session(user)]` field lets a
//!   user's sessions be listed and revoked everywhere ([`user`]); with
//!   [`SessionLayer::with_user_revocation`] that reaches sessions in
//!   cookies too, at one store read per request of a logged-in user, and a
//!   revocation cannot be outrun by a racing request.
//! * A token travels only on the channel it came in: a cookie request is
//!   answered in `Set-Cookie` alone, so `HttpOnly` keeps it from scripts.
//! * Server rows are sealed too, with the row's key as associated data: a
//!   poisoned cache or a row copied under another key does not open.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's Rust snippets are compiled as doctests, so what a new user
// copies from it builds (needs the features its snippets use).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "sqlite",
    feature = "redis",
    feature = "postgres"
))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "axum")]
mod axum;
pub mod bound;
pub mod cleanup;
pub mod codec;
pub mod config;
mod core;
mod data;
mod field;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod id;
mod layer;
pub mod seal;
mod session;
pub mod store;
mod telemetry;
mod tier;
pub mod tower;
pub mod user;

pub use bound::{BoundedMap, BoundedString, BoundedVec, CapacityError, HasLength, MaxEncodedLen};
#[cfg(feature = "postcard")]
pub use codec::Postcard;
pub use codec::{Bincode, Codec, CodecError};
pub use config::{
    Clock, ConfigError, DEFAULT_ABSOLUTE_TIMEOUT, MAX_LIFETIME, SameSite, SystemClock,
};
pub use config::{DEFAULT_CONTENTION_TIMEOUT, DEFAULT_STORE_TIMEOUT};
pub use core::OutagePolicy;
pub use data::{
    FieldInfo, FieldSet, Part, SessionAccess, SessionData, Storage, decode_from_slice,
    encode_to_vec,
};
pub use layer::SessionLayer;
pub use seal::{
    Inspection, KeyError, KeyInfo, KeyPolicy, KeyRing, KeyState, KeyStatus, ManagedKeyError,
    ManagedKeys, MasterKey, Meta, Mode, OpenError, Opened, SealError, SealedShape, Sealer,
};
pub use session::{RequestHead, Session, SessionRejection};
pub use store::{
    CacheStore, Entry, KeyStore, Lookup, MemoryStore, Record, RevocationTimes, Saved, SessionStore,
    StoreError, StoreStats, Tiered, UserIndex,
};
pub use user::{Device, UserField, UserId};

#[cfg(feature = "derive")]
pub use session_derive::{MaxEncodedLen, Session};

/// Not public API: what `#[derive(Session)]` and `#[derive(MaxEncodedLen)]`
/// expand to. The expansion binds the crate as `__sk` and names every item
/// it uses as `__sk::__private::..`, public traits and std's included, so it
/// depends on this module alone (and works under a renamed or re-exported
/// crate, `#[session(crate = ..)]`, and in a crate that shadows `core`).
#[doc(hidden)]
pub mod __private {
    pub use crate::bound::arith::{add, all_known, collection, max, prefix_len, sum};
    pub use crate::bound::{CapacityError, MaxEncodedLen, shape};
    pub use crate::codec::{Codec, CodecError};
    pub use crate::data::{
        DowngradeFrom, FieldInfo, FieldSet, MESSAGE_CAPACITY, MigrateFrom, NextShape, Part,
        PreviousShape, SessionAccess, SessionData, Storage, StorageError, StorageRequest,
        decide_storage, field_info, mark_changed, open_own_shape, same_str,
    };
    pub use crate::field::{
        BoundedField, DeserializeField, Holds, ItemBound, LimitedField, SendField, SerializeField,
        ValueBound, ensure_len, refuse_over,
    };
    pub use crate::tier::{
        Adaptive, Cookie, CookieTier, Server, StoreTier, Tier, TierCode, TierOf, Unknown,
        tier_agrees, tier_code,
    };
    pub use crate::user::{HasUserField, UserField};
    pub use core;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use serde;
    pub use std::string::String;
    pub use std::vec::Vec;
}
