//! Compile-time bounds on a value's encoded size.
//!
//! [`MaxEncodedLen`] gives every storable type an associated const: the most
//! bytes its encoding can take in *any* shipped codec, or `None` when the type
//! has no bound (`String`, `Vec<T>`, maps). `#[derive(Session)]` sums the
//! fields' bounds at compile time, and that sum decides whether a session can
//! always live in one cookie (see [`Storage`](crate::Storage)).
//!
//! The bounded collections ([`BoundedString`], [`BoundedVec`], [`BoundedMap`])
//! carry their capacity in the type, so the bound is exact and a push past it
//! is an error you handle, not a surprise at save time.

pub(crate) mod arith;
mod collections;
pub(crate) mod length;
pub mod shape;
mod std_impls;

pub use collections::{BoundedMap, BoundedString, BoundedVec, CapacityError};
pub use length::HasLength;

pub(crate) use arith::{add, collection, max, mul, prefix_len};

/// The largest encoding of a value of this type, in bytes, across every codec
/// the crate ships.
///
/// `None` means unbounded: such a type can still be stored, but a session that
/// contains one cannot be proven to fit a cookie and is stored
/// [adaptively](crate::Storage::Adaptive).
///
/// Implement it with `#[derive(MaxEncodedLen)]` on your own structs and enums,
/// or by hand for a type with a custom `Serialize` impl:
///
/// ```
/// use session_runtime::MaxEncodedLen;
///
/// #[derive(MaxEncodedLen)]
/// struct Item {
///     sku: u32,
///     quantity: u16,
/// }
/// assert_eq!(Item::MAX_ENCODED_LEN, Some(5 + 3));
/// ```
///
/// The bound must hold for the type's *serde* encoding; a hand-written impl
/// that understates it makes the compile-time cookie decision wrong (the save
/// then fails with a clear error instead of sending an oversize cookie).
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no session size bound",
    label = "`{Self}` does not implement `MaxEncodedLen`",
    note = "add `#[derive(session_runtime::MaxEncodedLen)]` to your own types; wrap a foreign type, or implement `MaxEncodedLen` (`MAX_ENCODED_LEN`, `None` when unbounded, and `SHAPE`, see `session_runtime::bound::shape`)"
)]
pub trait MaxEncodedLen {
    /// The bound in bytes, or `None` when the type is unbounded.
    const MAX_ENCODED_LEN: Option<usize>;

    /// The type's structural fingerprint: how it is encoded, never what it
    /// is called (see [`shape`]). It feeds the session's
    /// [`FINGERPRINT`](crate::SessionData::FINGERPRINT), so a change to a
    /// nested type is a schema change. The derive computes it; a hand
    /// impl states it with [`shape::named`] and friends.
    const SHAPE: u64;
}
