//! `#[session(max_len = N)]`: a length limit on an unbounded collection.

use super::MaxEncodedLen;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// A collection whose length `#[session(max_len = N)]` can limit.
///
/// With the limit the field gets a bound of `prefix + N × ITEM_LEN` and its
/// setter refuses longer values; the limit is checked again when the session
/// is encoded, so a value grown through `x_mut()` or `update` fails the save
/// with a clear error rather than overflowing the cookie.
///
/// The limit counts items only: the field's bound is known when the items'
/// types ([`Item`](Self::Item) and [`Value`](Self::Value)) have one. A
/// `Vec<String>` with `max_len = 4` is still unbounded (stored adaptively,
/// and refused by `storage = "cookie"`); a `Vec<BoundedString<16>>` is not.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no length, so `max_len` cannot limit it",
    label = "`max_len` applies to `String`, `Vec<T>`, `VecDeque<T>`, sets and maps",
    note = "use a bounded type instead, or remove `max_len`"
)]
pub trait HasLength {
    /// The type of one item: the element type of a sequence or set, the key
    /// type of a map, `u8` for a `String` (the limit counts UTF-8 bytes).
    type Item: MaxEncodedLen + ?Sized;

    /// The value type of a map; `()` for every other collection.
    type Value: MaxEncodedLen + ?Sized;

    /// The bound of one item: one byte for strings (the limit counts UTF-8
    /// bytes), the element's bound for sequences, key plus value for maps.
    const ITEM_LEN: Option<usize>;

    /// The current length, in the unit `max_len` counts.
    fn length(&self) -> usize;
}

impl HasLength for String {
    type Item = u8;
    type Value = ();
    const ITEM_LEN: Option<usize> = Some(1);
    fn length(&self) -> usize {
        self.len()
    }
}

macro_rules! sequences {
    ($([$($gen:tt)*] $ty:ty),* $(,)?) => {
        $(impl<T: MaxEncodedLen, $($gen)*> HasLength for $ty {
            type Item = T;
            type Value = ();
            const ITEM_LEN: Option<usize> = T::MAX_ENCODED_LEN;
            fn length(&self) -> usize {
                self.len()
            }
        })*
    };
}

sequences! {
    [] Vec<T>,
    [] VecDeque<T>,
    [] BTreeSet<T>,
    [S] HashSet<T, S>,
}

macro_rules! maps {
    ($([$($gen:tt)*] $ty:ty),* $(,)?) => {
        $(impl<K: MaxEncodedLen, V: MaxEncodedLen, $($gen)*> HasLength for $ty {
            type Item = K;
            type Value = V;
            const ITEM_LEN: Option<usize> = super::add(K::MAX_ENCODED_LEN, V::MAX_ENCODED_LEN);
            fn length(&self) -> usize {
                self.len()
            }
        })*
    };
}

maps! {
    [] BTreeMap<K, V>,
    [S] HashMap<K, V, S>,
}
