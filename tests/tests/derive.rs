//! `#[derive(Session)]`: accessors, change tracking, attributes and the
//! compile-time storage decision.

use serde::{Deserialize, Serialize};
use session_runtime::{
    Bincode, BoundedString, BoundedVec, FieldSet, MaxEncodedLen, Part, Postcard, Session,
    SessionAccess, SessionData, Storage,
};

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, PartialEq)]
struct Item {
    sku: u32,
}

/// Bounded, but server-side: a `quick` field needs a cache tier.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(storage = "server")]
struct ShoppingCart {
    user_id: Option<u64>,
    #[session(max_len = 8)]
    tags: Vec<u8>,
    items: BoundedVec<Item, 4>,
    #[session(quick)]
    last_seen: u64,
    #[session(skip)]
    scratch: String,
}

#[derive(Session, Default)]
#[session(storage = "server", cookie = "sid")]
struct Secret {
    token: BoundedString<16>,
}

#[derive(Session, Default)]
#[session(storage = "cookie")]
struct Tiny {
    flag: bool,
    #[session(max_len = 100)]
    note: String,
}

/// `storage = "auto"` written out, and small: decided as a cookie.
#[derive(Session, Default)]
#[session(storage = "auto")]
struct AutoSmall {
    visits: u32,
    name: BoundedString<64>,
}

/// `storage = "auto"`, bounded but over the cookie budget: adaptive (in the
/// store while its encoding does not fit the layer's cookie threshold).
#[derive(Session, Default)]
#[session(storage = "auto")]
struct AutoLarge {
    blob: BoundedString<8000>,
}

/// No `storage` attribute is `auto`; an unbounded field: adaptive.
#[derive(Session, Default)]
struct AutoUnbounded {
    note: String,
}

/// `auto` at the edge: a bound of exactly the budget of the cookie name
/// `edge` (3 length-prefix bytes + 3007) is a cookie ...
#[derive(Session, Default)]
#[session(cookie = "edge")]
struct AtBudget {
    text: BoundedString<3007>,
}

/// ... and one byte more is not.
#[derive(Session, Default)]
#[session(cookie = "edge")]
struct OverBudget {
    text: BoundedString<3008>,
}

#[test]
fn default_cookie_name_is_snake_case() {
    assert_eq!(ShoppingCart::COOKIE_NAME, "shopping_cart");
    assert_eq!(Secret::COOKIE_NAME, "sid");
}

#[test]
fn storage_is_decided_at_compile_time() {
    // `storage = "cookie"`, bounded and small: a cookie, even with a
    // `max_len` String
    assert_eq!(Tiny::STORAGE, Storage::Cookie);
    // `storage = "server"` wins over a small bound
    assert_eq!(ShoppingCart::STORAGE, Storage::Server);
    assert_eq!(Secret::STORAGE, Storage::Server);
    const { assert!(matches!(Tiny::STORAGE, Storage::Cookie)) };

    // `auto`: a cookie when the bound fits the cookie budget, else adaptive
    assert_eq!(AutoSmall::STORAGE, Storage::Cookie);
    assert_eq!(AutoLarge::STORAGE, Storage::Adaptive);
    assert_eq!(AutoUnbounded::STORAGE, Storage::Adaptive);
    const { assert!(matches!(AutoSmall::STORAGE, Storage::Cookie)) };
    let budget = session_runtime::seal::envelope::cookie_body_budget("edge".len());
    assert_eq!(AtBudget::MAX_ENCODED_LEN, Some(budget));
    assert_eq!(AtBudget::STORAGE, Storage::Cookie);
    assert_eq!(OverBudget::MAX_ENCODED_LEN, Some(budget + 1));
    assert_eq!(OverBudget::STORAGE, Storage::Adaptive);
}

#[test]
fn bound_sums_stored_fields_only() {
    let expected = (1 + 10) // Option<u64>
        + (1 + 8) // Vec<u8> with max_len 8, one byte each
        + (1 + 4 * 5) // BoundedVec<Item, 4>
        + 10; // u64; the skip String does not count
    assert_eq!(ShoppingCart::MAX_ENCODED_LEN, Some(expected));
    assert_eq!(Tiny::MAX_ENCODED_LEN, Some(1 + 1 + 100));
}

#[test]
fn fields_describe_the_struct() {
    let names: Vec<_> = ShoppingCart::FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(names, ["user_id", "tags", "items", "last_seen", "scratch"]);
    assert!(ShoppingCart::FIELDS[3].quick && !ShoppingCart::FIELDS[3].skip);
    assert!(ShoppingCart::FIELDS[4].skip);
}

#[test]
fn accessors_track_changes_per_field() {
    let mut cart = ShoppingCartAccess::from_data(ShoppingCart::default());
    assert!(cart.changed().is_empty());
    assert_eq!(cart.user_id(), &None);

    cart.set_user_id(Some(1));
    assert_eq!(cart.changed().iter().collect::<Vec<_>>(), [0]);

    cart.items_mut().try_push(Item { sku: 9 }).unwrap();
    assert!(cart.changed().contains(2));
    assert_eq!(cart.items.len(), 1, "Deref reads the struct");

    assert_eq!(cart.take_user_id(), Some(1));
    assert_eq!(cart.user_id(), &None);

    // skip fields are not stored, so changing them marks nothing
    cart.set_scratch("tmp".into());
    assert!(!cart.changed().contains(4));

    let (data, changed) = cart.into_parts();
    assert_eq!(changed.iter().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(data.items.as_slice(), &[Item { sku: 9 }]);
}

#[test]
fn update_marks_every_stored_field() {
    let mut cart = ShoppingCartAccess::from_data(ShoppingCart::default());
    let len = cart.update(|c| {
        c.last_seen = 5;
        c.tags.len()
    });
    assert_eq!(len, 0);
    assert_eq!(cart.changed().iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
fn max_len_is_enforced_at_the_setter_and_at_encode() {
    let mut cart = ShoppingCartAccess::from_data(ShoppingCart::default());
    let refused = cart.set_tags(vec![0; 9]).unwrap_err();
    assert_eq!(refused.into_inner(), vec![0; 9], "the value is handed back");
    assert!(cart.changed().is_empty());
    cart.set_tags(vec![1; 8]).unwrap();
    // growing through `_mut` is caught when the session is encoded
    cart.tags_mut().push(2);
    let err = session_runtime::encode_to_vec::<ShoppingCart, Bincode>(&cart).unwrap_err();
    assert!(
        err.to_string()
            .contains("`tags` has length 9, over its `max_len` of 8"),
        "{err}"
    );
}

#[test]
fn quick_fields_encode_separately() {
    let cart = ShoppingCart {
        user_id: Some(3),
        last_seen: 77,
        ..ShoppingCart::default()
    };
    let mut durable = Vec::new();
    cart.encode::<Postcard>(Part::Durable, &mut durable)
        .unwrap();
    let mut quick = Vec::new();
    cart.encode::<Postcard>(Part::Quick, &mut quick).unwrap();
    let mut all = Vec::new();
    cart.encode::<Postcard>(Part::All, &mut all).unwrap();
    assert_eq!(quick, [77]);
    assert_eq!(all.len(), durable.len() + quick.len());

    // durable and quick parts merge back into the whole
    let mut back = ShoppingCart::default();
    back.decode::<Postcard>(Part::Durable, &durable).unwrap();
    assert_eq!(back.last_seen, 0);
    back.decode::<Postcard>(Part::Quick, &quick).unwrap();
    assert_eq!(back, cart);

    // the wrong part is refused, not mis-decoded
    assert!(
        ShoppingCart::default()
            .decode::<Postcard>(Part::Quick, &durable)
            .is_err()
    );
}

#[test]
fn take_fields_reapplies_only_changed_fields() {
    // request A changed `user_id`; meanwhile the stored copy gained an item
    let mut newer = ShoppingCart {
        items: BoundedVec::try_from(vec![Item { sku: 1 }]).unwrap(),
        ..ShoppingCart::default()
    };
    let mut mine = ShoppingCart {
        user_id: Some(42),
        ..ShoppingCart::default()
    };
    let changed = FieldSet::all(1); // field 0, `user_id`
    newer.take_fields(&mut mine, &changed);
    assert_eq!(newer.user_id, Some(42));
    assert_eq!(newer.items.len(), 1, "the other request's change survives");
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes =
        session_runtime::encode_to_vec::<ShoppingCart, Bincode>(&ShoppingCart::default()).unwrap();
    bytes.push(0);
    let err = session_runtime::decode_from_slice::<ShoppingCart, Bincode>(&bytes).unwrap_err();
    assert!(matches!(err, session_runtime::CodecError::TrailingBytes(1)));
}

#[test]
fn decode_refuses_values_over_max_len() {
    // encode a Vec<u8> of 9 where the struct says max_len = 8
    let mut bytes = Vec::new();
    use session_runtime::Codec as _;
    Bincode::encode(&None::<u64>, &mut bytes).unwrap();
    Bincode::encode(&vec![0u8; 9], &mut bytes).unwrap();
    Bincode::encode(&Vec::<Item>::new(), &mut bytes).unwrap();
    Bincode::encode(&0u64, &mut bytes).unwrap();
    let err = session_runtime::decode_from_slice::<ShoppingCart, Bincode>(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            session_runtime::CodecError::TooLong { field: "tags", .. }
        ),
        "{err:?}"
    );
}

/// More than 64 fields spill the change set past one word.
macro_rules! wide_struct {
    ($($field:ident)*) => {
        #[derive(Session, Default)]
        struct Wide { $($field: u8,)* }
    };
}

wide_struct! {
    f00 f01 f02 f03 f04 f05 f06 f07 f08 f09 f10 f11 f12 f13 f14 f15 f16 f17 f18 f19
    f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31 f32 f33 f34 f35 f36 f37 f38 f39
    f40 f41 f42 f43 f44 f45 f46 f47 f48 f49 f50 f51 f52 f53 f54 f55 f56 f57 f58 f59
    f60 f61 f62 f63 f64 f65 f66 f67 f68 f69
}

#[test]
fn more_than_64_fields() {
    assert_eq!(Wide::FIELDS.len(), 70);
    assert_eq!(Wide::MAX_ENCODED_LEN, Some(70));
    let mut wide = WideAccess::from_data(Wide::default());
    wide.set_f01(1);
    wide.set_f64(64);
    wide.set_f69(69);
    assert_eq!(wide.changed().iter().collect::<Vec<_>>(), [1, 64, 69]);
    let bytes = session_runtime::encode_to_vec::<Wide, Bincode>(&wide).unwrap();
    let back = session_runtime::decode_from_slice::<Wide, Bincode>(&bytes).unwrap();
    assert_eq!((back.f01, back.f64, back.f69, back.f02), (1, 64, 69, 0));
}

#[test]
fn fingerprint_tracks_names_types_and_flags() {
    mod a {
        #[derive(session_runtime::Session, Default)]
        pub(super) struct S {
            pub(super) x: u32,
        }
    }
    mod renamed {
        #[derive(session_runtime::Session, Default)]
        pub(super) struct S {
            pub(super) y: u32,
        }
    }
    mod retyped {
        #[derive(session_runtime::Session, Default)]
        pub(super) struct S {
            pub(super) x: u64,
        }
    }
    mod quick {
        #[derive(session_runtime::Session, Default)]
        #[session(storage = "server")]
        pub(super) struct S {
            #[session(quick)]
            pub(super) x: u32,
        }
    }
    mod same {
        #[derive(session_runtime::Session, Default)]
        pub(super) struct T {
            pub(super) x: u32,
            #[session(skip)]
            pub(super) ignored: String,
        }
    }
    let base = a::S::FINGERPRINT;
    assert_ne!(base, renamed::S::FINGERPRINT);
    assert_ne!(base, retyped::S::FINGERPRINT);
    assert_ne!(base, quick::S::FINGERPRINT);
    // the struct's name and skipped fields do not matter
    assert_eq!(base, same::T::FINGERPRINT);
    let _ = (
        a::S { x: 0 }.x,
        renamed::S { y: 0 }.y,
        retyped::S { x: 0 }.x,
        quick::S { x: 0 }.x,
    );
    let _ = same::T {
        x: 0,
        ignored: String::new(),
    }
    .ignored;
}

#[test]
fn access_debug_hides_values() {
    let mut cart = ShoppingCartAccess::from_data(ShoppingCart::default());
    cart.set_user_id(Some(123_456_789));
    let text = format!("{cart:?}");
    assert!(text.starts_with("ShoppingCartAccess"), "{text}");
    assert!(!text.contains("123456789"), "{text}");
}

#[test]
fn the_fingerprint_sees_nested_types_all_the_way_down() {
    // each module is one deploy of the same session struct
    macro_rules! deploy {
        ($name:ident { $($nested:item)* } $field:ty) => {
            // only the types' consts are used
            #[allow(dead_code)]
            mod $name {
                #[allow(unused_imports)]
                use serde::{Deserialize, Serialize};
                #[allow(unused_imports)]
                use session_runtime::{BoundedVec, MaxEncodedLen};
                $($nested)*
                #[derive(session_runtime::Session, Default)]
                pub(super) struct S {
                    pub(super) x: $field,
                }
            }
        };
    }
    deploy!(base {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Role { #[default] User, Admin }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Line { sku: u32, role: Role }
    } BoundedVec<Line, 8>);
    deploy!(reordered_variants {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Role { Admin, #[default] User }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Line { sku: u32, role: Role }
    } BoundedVec<Line, 8>);
    deploy!(renamed_nested_field {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Role { #[default] User, Admin }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Line { item: u32, role: Role }
    } BoundedVec<Line, 8>);
    deploy!(retyped_nested_field {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Role { #[default] User, Admin }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Line { sku: u64, role: Role }
    } BoundedVec<Line, 8>);
    deploy!(bigger_capacity {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Role { #[default] User, Admin }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Line { sku: u32, role: Role }
    } BoundedVec<Line, 16>);
    deploy!(renamed_types_only {
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) enum Kind { #[default] User, Admin }
        #[derive(Serialize, Deserialize, MaxEncodedLen, Default)]
        pub(super) struct Entry { sku: u32, role: Kind }
    } BoundedVec<Entry, 8>);
    let base = base::S::FINGERPRINT;
    for (what, other) in [
        (
            "reordered enum variants",
            reordered_variants::S::FINGERPRINT,
        ),
        (
            "a renamed nested field",
            renamed_nested_field::S::FINGERPRINT,
        ),
        (
            "a retyped nested field",
            retyped_nested_field::S::FINGERPRINT,
        ),
        (
            "BoundedVec<_, 8> to BoundedVec<_, 16>",
            bigger_capacity::S::FINGERPRINT,
        ),
    ] {
        assert_ne!(base, other, "{what} must change the fingerprint");
    }
    // what is encoded matters, not what the types are called
    assert_eq!(base, renamed_types_only::S::FINGERPRINT);
    // types encoded alike share a shape
    assert_eq!(
        <Vec<u8> as MaxEncodedLen>::SHAPE,
        <std::collections::VecDeque<u8> as MaxEncodedLen>::SHAPE
    );
    assert_eq!(
        <std::collections::HashMap<u8, u8> as MaxEncodedLen>::SHAPE,
        <std::collections::BTreeMap<u8, u8> as MaxEncodedLen>::SHAPE
    );
    assert_ne!(<u32 as MaxEncodedLen>::SHAPE, <i32 as MaxEncodedLen>::SHAPE);
}
