//! Property tests: for every `MaxEncodedLen` impl, the encoding of extreme
//! and random values in every shipped codec stays within the bound.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use session_runtime::{
    Bincode, BoundedMap, BoundedString, BoundedVec, Codec, MaxEncodedLen, Postcard,
};
use std::time::{Duration, SystemTime};

fn encoded_len<C: Codec, T: Serialize>(value: &T) -> usize {
    let mut out = Vec::new();
    C::encode(value, &mut out).expect("encodes");
    out.len()
}

/// Asserts the bound for both codecs and that the value round-trips.
fn check<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + serde::de::DeserializeOwned + MaxEncodedLen + PartialEq + std::fmt::Debug,
{
    let bound = T::MAX_ENCODED_LEN.expect("bounded type");
    for (codec, len, back) in [
        (
            "bincode",
            encoded_len::<Bincode, T>(value),
            round_trip::<Bincode, T>(value),
        ),
        (
            "postcard",
            encoded_len::<Postcard, T>(value),
            round_trip::<Postcard, T>(value),
        ),
    ] {
        prop_assert!(
            len <= bound,
            "{codec}: {value:?} took {len} bytes, bound {bound}"
        );
        prop_assert_eq!(&back, value);
    }
    Ok(())
}

fn round_trip<C: Codec, T: Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    let mut out = Vec::new();
    C::encode(value, &mut out).unwrap();
    let (back, read) = C::decode::<T>(&out).unwrap();
    assert_eq!(read, out.len());
    back
}

/// Extreme values first, then random ones.
macro_rules! int_strategy {
    ($ty:ty) => {
        prop_oneof![
            Just(<$ty>::MIN),
            Just(<$ty>::MAX),
            Just(0 as $ty),
            Just((<$ty>::MAX / 2) as $ty),
            any::<$ty>()
        ]
    };
}

macro_rules! int_props {
    ($($name:ident: $ty:ty),* $(,)?) => {
        proptest! {
            $(#[test]
            fn $name(value in int_strategy!($ty)) {
                check(&value)?;
            })*
        }
    };
}

int_props! {
    u8_within_bound: u8, u16_within_bound: u16, u32_within_bound: u32,
    u64_within_bound: u64, u128_within_bound: u128, usize_within_bound: usize,
    i8_within_bound: i8, i16_within_bound: i16, i32_within_bound: i32,
    i64_within_bound: i64, i128_within_bound: i128, isize_within_bound: isize,
}

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, PartialEq, Clone)]
struct Item {
    sku: u64,
    quantity: u16,
    note: BoundedString<12>,
}

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, PartialEq, Clone)]
enum Theme {
    Light,
    Dark,
    Custom { hue: u16, contrast: i8 },
    Named(BoundedString<8>),
}

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, PartialEq, Clone)]
struct Wrapper<T>(Option<T>, [u32; 3]);

fn string_of(max: usize) -> impl Strategy<Value = String> {
    // multi-byte characters reach the byte limit with few chars
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..=max / 4)
            .prop_map(|cs| cs.into_iter().collect::<String>()),
        Just("\u{10FFFF}".repeat(max / 4)),
        Just("x".repeat(max)),
    ]
    .prop_filter("within bytes", move |s| s.len() <= max)
}

fn item() -> impl Strategy<Value = Item> {
    (int_strategy!(u64), int_strategy!(u16), string_of(12)).prop_map(|(sku, quantity, note)| Item {
        sku,
        quantity,
        note: BoundedString::try_from(note).unwrap(),
    })
}

proptest! {
    #[test]
    fn scalars_within_bound(b in any::<bool>(), c in any::<char>(), f in any::<f32>(), d in any::<f64>(), unit in Just(())) {
        check(&b)?;
        check(&c)?;
        check(&char::MAX)?;
        // NaN != NaN: compare bits through a round trip of the bits instead
        prop_assert!(encoded_len::<Postcard, _>(&f) <= f32::MAX_ENCODED_LEN.unwrap());
        prop_assert!(encoded_len::<Bincode, _>(&d) <= f64::MAX_ENCODED_LEN.unwrap());
        check(&unit)?;
    }

    #[test]
    fn time_within_bound(secs in int_strategy!(u64), nanos in 0u32..1_000_000_000) {
        check(&Duration::new(secs, nanos))?;
        check(&Duration::MAX)?;
        let time = SystemTime::UNIX_EPOCH + Duration::new(secs % (1 << 40), nanos);
        check(&time)?;
    }

    #[test]
    fn options_tuples_arrays_within_bound(a in int_strategy!(u64), b in int_strategy!(i32), c in any::<char>()) {
        check(&Some(a))?;
        check(&None::<u64>)?;
        check(&(a, b, c))?;
        check(&[a; 4])?;
        check(&(Some((b, c)), [b; 2]))?;
        check(&Ok::<u64, i32>(a))?;
        check(&Err::<u64, i32>(b))?;
        check(&Box::new(a))?;
    }

    #[test]
    fn bounded_string_within_bound(s in string_of(300)) {
        // 300 crosses bincode's 251-byte prefix threshold
        check(&BoundedString::<300>::try_from(s.as_str()).unwrap())?;
        let short = s.get(..s.floor_char_boundary(5)).unwrap_or("");
        check(&BoundedString::<5>::try_from(short).unwrap())?;
    }

    #[test]
    fn bounded_vec_within_bound(items in proptest::collection::vec(item(), 0..=16), full in item()) {
        check(&BoundedVec::<Item, 16>::try_from(items).unwrap())?;
        check(&BoundedVec::<Item, 16>::try_from(vec![full.clone(); 16]).unwrap())?;
        check(&BoundedVec::<u64, 300>::try_from(vec![u64::MAX; 300]).unwrap())?;
    }

    #[test]
    fn bounded_map_within_bound(entries in proptest::collection::btree_map(int_strategy!(i64), item(), 0..=8)) {
        check(&BoundedMap::<i64, Item, 8>::try_from(entries).unwrap())?;
    }

    #[test]
    fn derived_types_within_bound(hue in int_strategy!(u16), contrast in int_strategy!(i8), name in string_of(8), x in int_strategy!(u32)) {
        for theme in [
            Theme::Light,
            Theme::Dark,
            Theme::Custom { hue, contrast },
            Theme::Named(BoundedString::try_from(name.as_str()).unwrap()),
        ] {
            check(&theme)?;
        }
        check(&Wrapper(Some(hue), [x; 3]))?;
        check(&Wrapper::<Theme>(None, [u32::MAX; 3]))?;
    }
}

#[test]
fn derived_bounds_are_sums() {
    assert_eq!(Item::MAX_ENCODED_LEN, Some(10 + 3 + (1 + 12)));
    // tag + the largest variant (`Named`: 1 + 8)
    assert_eq!(Theme::MAX_ENCODED_LEN, Some(1 + 9));
    assert_eq!(<Wrapper<u16>>::MAX_ENCODED_LEN, Some(1 + 3 + 15));
    assert_eq!(<Wrapper<String>>::MAX_ENCODED_LEN, None);
    assert_eq!(String::MAX_ENCODED_LEN, None);
    assert_eq!(<Vec<u8>>::MAX_ENCODED_LEN, None);
    assert_eq!(<Option<String>>::MAX_ENCODED_LEN, None);
}

#[test]
fn bounded_collections_refuse_growth_without_losing_data() {
    let mut s = BoundedString::<4>::new();
    s.try_push_str("ab").unwrap();
    let refused = s.try_push_str("cde").unwrap_err();
    assert_eq!(refused.capacity(), 4);
    assert_eq!(refused.into_inner(), "cde");
    assert_eq!(s, "ab");
    assert!(s.try_push('é').is_ok()); // 2 bytes: exactly full
    assert!(s.try_push('x').is_err());
    assert!(BoundedString::<2>::try_from("abc").is_err());

    let mut v = BoundedVec::<u8, 2>::try_from(vec![1, 2]).unwrap();
    assert_eq!(v.try_insert(0, 9).unwrap_err().into_inner(), 9);
    v[0] = 7; // in-place changes through DerefMut are fine
    assert_eq!(v.remove(5), None);
    assert_eq!(v.remove(0), Some(7));
    assert!(BoundedVec::<u8, 2>::try_from(vec![1, 2, 3]).is_err());

    let mut m = BoundedMap::<u8, u8, 1>::new();
    assert_eq!(m.try_insert(1, 1).unwrap(), None);
    assert_eq!(m.try_insert(1, 2).unwrap(), Some(1));
    assert_eq!(m.try_insert(2, 2).unwrap_err().into_inner(), (2, 2));
}

#[test]
fn decoding_refuses_over_capacity() {
    // five bytes of text presented as a BoundedString<4>
    let mut out = Vec::new();
    Bincode::encode("abcde", &mut out).unwrap();
    assert!(Bincode::decode::<BoundedString<4>>(&out).is_err());
    let mut out = Vec::new();
    Postcard::encode(&vec![1u8, 2, 3], &mut out).unwrap();
    assert!(Postcard::decode::<BoundedVec<u8, 2>>(&out).is_err());
}
