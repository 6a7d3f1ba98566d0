//! Structural fingerprints ("shapes"), computed at compile time.
//!
//! Every type that can sit in a session states its shape next to its size
//! bound ([`MaxEncodedLen::SHAPE`](super::MaxEncodedLen::SHAPE)): a 64-bit
//! FNV-1a hash of how the type is encoded — field names and order, variant
//! names and order, the shapes of the types inside, capacities of bounded
//! types — never of what it is called. A session's
//! [`FINGERPRINT`](crate::SessionData::FINGERPRINT) combines its fields'
//! shapes, so reordering a nested enum's variants or retyping a nested field
//! changes it, and a session sealed before the change opens through
//! `#[session(previous = ..)]` or not at all, never as different values.
//!
//! Types encoded alike share a shape: `Vec<T>` and `VecDeque<T>` are both a
//! sequence, `HashMap` and `BTreeMap` both a map, `Box<T>` is `T`.
//!
//! For a foreign type, wrap it in a newtype that derives `MaxEncodedLen`, or
//! state its shape by hand with these `const fn`s:
//!
//! ```
//! use session_runtime::MaxEncodedLen;
//! use session_runtime::bound::shape;
//!
//! /// A date stored as days since 1970 (a foreign type's serde form).
//! struct Day(u32);
//!
//! impl MaxEncodedLen for Day {
//!     const MAX_ENCODED_LEN: Option<usize> = u32::MAX_ENCODED_LEN;
//!     // name the encoding and its version: bump it when the encoding changes
//!     const SHAPE: u64 = shape::named("Day: u32 days since 1970, v1");
//! }
//! ```

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn feed(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The shape of a type described by `name` alone (a primitive, or a
/// foreign type whose encoding the name pins down).
#[must_use]
pub const fn named(name: &str) -> u64 {
    feed(FNV_OFFSET, name.as_bytes())
}

/// `shape` extended with `part` (a field's or variant's name, a separator).
#[must_use]
pub const fn then_name(shape: u64, part: &str) -> u64 {
    // a length prefix keeps `("ab", "c")` and `("a", "bc")` apart
    let shape = feed(shape, &(part.len() as u64).to_le_bytes());
    feed(shape, part.as_bytes())
}

/// `shape` extended with another shape (a field's type).
#[must_use]
pub const fn then(shape: u64, inner: u64) -> u64 {
    feed(shape, &inner.to_le_bytes())
}

/// `shape` extended with a number (a capacity, a count).
#[must_use]
pub const fn then_number(shape: u64, n: u64) -> u64 {
    feed(shape, &n.to_le_bytes())
}

/// A generic container of one type: `Option<T>`, a sequence of `T`.
#[must_use]
pub const fn wrap(name: &str, inner: u64) -> u64 {
    then(named(name), inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_tell_apart_what_encodes_differently() {
        assert_ne!(named("u32"), named("i32"));
        assert_ne!(wrap("Option", named("u32")), wrap("Seq", named("u32")));
        assert_ne!(
            then_name(then_name(named("struct"), "ab"), "c"),
            then_name(then_name(named("struct"), "a"), "bc")
        );
        assert_ne!(then_number(named("x"), 8), then_number(named("x"), 16));
        // known answer: FNV-1a 64 of "a"
        assert_eq!(named("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
