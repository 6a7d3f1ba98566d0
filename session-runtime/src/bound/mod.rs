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

mod collections;
pub(crate) mod length;
pub mod shape;
mod std_impls;

pub use collections::{BoundedMap, BoundedString, BoundedVec, CapacityError};
pub use length::HasLength;

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

/// Adds two bounds; unbounded (or overflowing) stays unbounded.
#[doc(hidden)]
#[must_use]
pub const fn add(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => a.checked_add(b),
        _ => None,
    }
}

/// Multiplies a bound by a count; unbounded (or overflowing) stays unbounded.
#[doc(hidden)]
#[must_use]
pub const fn mul(a: Option<usize>, count: usize) -> Option<usize> {
    match a {
        Some(a) => a.checked_mul(count),
        None => None,
    }
}

/// The larger of two bounds, for enum variants; unbounded wins.
#[doc(hidden)]
#[must_use]
pub const fn max(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a > b { a } else { b }),
        _ => None,
    }
}

/// Bytes of a length prefix (or enum tag) whose value is at most `n`, in the
/// worse of the shipped codecs: bincode's varint (1, 3, 5 or 9 bytes) and
/// postcard's LEB128 (7 bits a byte).
#[doc(hidden)]
#[must_use]
pub const fn prefix_len(n: u64) -> usize {
    let bincode = if n < 251 {
        1
    } else if n <= u16::MAX as u64 {
        3
    } else if n <= u32::MAX as u64 {
        5
    } else {
        9
    };
    let bits = 64 - n.leading_zeros() as usize;
    let leb128 = if bits == 0 { 1 } else { bits.div_ceil(7) };
    if bincode > leb128 { bincode } else { leb128 }
}

/// The bound of a session: the sum of its stored fields' bounds, `None`
/// when one is unbounded or the sum overflows.
#[doc(hidden)]
#[must_use]
pub const fn sum(bounds: &[Option<usize>]) -> Option<usize> {
    let mut total = Some(0);
    let mut i = 0;
    while i < bounds.len() {
        total = add(total, bounds[i]);
        i += 1;
    }
    total
}

/// Whether every one of the bounds is known (the sum may still overflow).
#[doc(hidden)]
#[must_use]
pub const fn all_known(bounds: &[Option<usize>]) -> bool {
    let mut i = 0;
    while i < bounds.len() {
        if bounds[i].is_none() {
            return false;
        }
        i += 1;
    }
    true
}

/// The bound of a collection of at most `n` items of `item` bytes each.
#[doc(hidden)]
#[must_use]
pub const fn collection(n: usize, item: Option<usize>) -> Option<usize> {
    add(Some(prefix_len(n as u64)), mul(item, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_len_takes_the_worse_codec() {
        assert_eq!(prefix_len(0), 1);
        assert_eq!(prefix_len(127), 1);
        assert_eq!(prefix_len(128), 2); // postcard needs two bytes
        assert_eq!(prefix_len(250), 2);
        assert_eq!(prefix_len(251), 3); // bincode switches to u16
        assert_eq!(prefix_len(65_535), 3);
        assert_eq!(prefix_len(65_536), 5);
        assert_eq!(prefix_len(u64::from(u32::MAX)), 5);
        assert_eq!(prefix_len(u64::from(u32::MAX) + 1), 9);
        assert_eq!(prefix_len(u64::MAX), 10); // postcard: 64 bits / 7
    }

    #[test]
    fn arithmetic_propagates_unbounded_and_overflow() {
        assert_eq!(add(Some(1), Some(2)), Some(3));
        assert_eq!(add(Some(1), None), None);
        assert_eq!(add(Some(usize::MAX), Some(1)), None);
        assert_eq!(mul(Some(3), 4), Some(12));
        assert_eq!(mul(Some(usize::MAX), 2), None);
        assert_eq!(max(Some(3), Some(9)), Some(9));
        assert_eq!(max(None, Some(9)), None);
        assert_eq!(collection(16, Some(5)), Some(1 + 80));
        assert_eq!(collection(4, None), None); // the items' bound is unknown
        assert_eq!(sum(&[]), Some(0));
        assert_eq!(sum(&[Some(1), Some(2)]), Some(3));
        assert_eq!(sum(&[Some(1), None]), None);
        assert_eq!(sum(&[Some(usize::MAX), Some(1)]), None);
        assert!(all_known(&[]) && all_known(&[Some(usize::MAX), Some(1)]));
        assert!(!all_known(&[Some(1), None]));
    }
}
