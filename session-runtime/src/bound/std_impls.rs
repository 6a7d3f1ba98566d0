//! `MaxEncodedLen` for the standard library's types.
//!
//! Each figure is the worse of bincode 2 (standard config: varint integers,
//! zigzag for signed ones, `usize` as `u64`) and postcard 1 (LEB128 varints,
//! `char` as a length-prefixed string).

use super::{MaxEncodedLen, add, prefix_len, shape};
use core::marker::PhantomData;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::SystemTime;

/// Types whose bound is a fixed number of bytes.
macro_rules! fixed {
    ($($ty:ty => $len:expr),* $(,)?) => {
        $(impl MaxEncodedLen for $ty {
            const MAX_ENCODED_LEN: Option<usize> = Some($len);
            const SHAPE: u64 = shape::named(stringify!($ty));
        })*
    };
}

fixed! {
    () => 0,
    bool => 1,
    u8 => 1,
    i8 => 1,
    // varints: bincode 3/5/9/17 bytes, postcard 3/5/10/19 bytes
    u16 => 3, i16 => 3,
    u32 => 5, i32 => 5,
    u64 => 10, i64 => 10,
    usize => 10, isize => 10,
    u128 => 19, i128 => 19,
    f32 => 4,
    f64 => 8,
    // bincode: raw UTF-8 (≤ 4); postcard: a one-byte length and UTF-8 (≤ 5)
    char => 5,
    // serde's `Duration` and `SystemTime` are `{ secs: u64, nanos: u32 }`
    Duration => 10 + 5,
    SystemTime => 10 + 5,
    core::num::NonZeroU8 => 1,
    core::num::NonZeroU16 => 3,
    core::num::NonZeroU32 => 5,
    core::num::NonZeroU64 => 10,
    core::net::Ipv4Addr => 4,
    core::net::Ipv6Addr => 16,
}

impl MaxEncodedLen for String {
    const MAX_ENCODED_LEN: Option<usize> = None;
    const SHAPE: u64 = shape::named("String");
}

/// Collections with no bound (their length is only known at run time);
/// their shape is their encoding: a sequence, a set or a map of the shapes
/// inside, whichever std type holds them.
macro_rules! unbounded {
    ($([$($gen:tt)*] $ty:ty => $shape:expr),* $(,)?) => {
        $(impl<$($gen)*> MaxEncodedLen for $ty {
            const MAX_ENCODED_LEN: Option<usize> = None;
            const SHAPE: u64 = $shape;
        })*
    };
}

unbounded! {
    [T: MaxEncodedLen] Vec<T> => shape::wrap("Seq", T::SHAPE),
    [T: MaxEncodedLen] VecDeque<T> => shape::wrap("Seq", T::SHAPE),
    [T: MaxEncodedLen] BTreeSet<T> => shape::wrap("Seq", T::SHAPE),
    [T: MaxEncodedLen, S] HashSet<T, S> => shape::wrap("Seq", T::SHAPE),
    [K: MaxEncodedLen, V: MaxEncodedLen] BTreeMap<K, V> => shape::then(shape::wrap("Map", K::SHAPE), V::SHAPE),
    [K: MaxEncodedLen, V: MaxEncodedLen, S] HashMap<K, V, S> => shape::then(shape::wrap("Map", K::SHAPE), V::SHAPE),
}

impl<T: MaxEncodedLen> MaxEncodedLen for Option<T> {
    // one tag byte in both codecs
    const MAX_ENCODED_LEN: Option<usize> = add(Some(1), T::MAX_ENCODED_LEN);
    const SHAPE: u64 = shape::wrap("Option", T::SHAPE);
}

impl<T: MaxEncodedLen, E: MaxEncodedLen> MaxEncodedLen for Result<T, E> {
    // a variant tag (0 or 1) and the larger payload
    const MAX_ENCODED_LEN: Option<usize> = add(
        Some(prefix_len(1)),
        super::max(T::MAX_ENCODED_LEN, E::MAX_ENCODED_LEN),
    );
    const SHAPE: u64 = shape::then(shape::wrap("Result", T::SHAPE), E::SHAPE);
}

// serde encodes a box as what it holds
impl<T: MaxEncodedLen + ?Sized> MaxEncodedLen for Box<T> {
    const MAX_ENCODED_LEN: Option<usize> = T::MAX_ENCODED_LEN;
    const SHAPE: u64 = T::SHAPE;
}

impl<T: ?Sized> MaxEncodedLen for PhantomData<T> {
    const MAX_ENCODED_LEN: Option<usize> = Some(0);
    const SHAPE: u64 = shape::named("PhantomData");
}

// serde writes arrays as tuples: no length prefix
impl<T: MaxEncodedLen, const N: usize> MaxEncodedLen for [T; N] {
    const MAX_ENCODED_LEN: Option<usize> = super::mul(T::MAX_ENCODED_LEN, N);
    const SHAPE: u64 = shape::then_number(shape::wrap("Array", T::SHAPE), N as u64);
}

/// Tuples: the sum of their elements, no framing.
macro_rules! tuples {
    ($(($($name:ident),+))*) => {
        $(impl<$($name: MaxEncodedLen),+> MaxEncodedLen for ($($name,)+) {
            const MAX_ENCODED_LEN: Option<usize> = {
                let total = Some(0);
                $(let total = add(total, $name::MAX_ENCODED_LEN);)+
                total
            };
            const SHAPE: u64 = {
                let shape = shape::named("Tuple");
                $(let shape = shape::then(shape, $name::SHAPE);)+
                shape
            };
        })*
    };
}

tuples! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
    (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J)
    (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
}
