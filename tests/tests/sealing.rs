//! Sealed cookies: realistic sessions round-trip in both modes and both
//! codecs, and every kind of damage or misuse is refused without a panic.

use serde::{Deserialize, Serialize};
use session_runtime::{
    Bincode, BoundedMap, BoundedString, BoundedVec, Codec, KeyRing, MasterKey, MaxEncodedLen, Meta,
    Mode, OpenError, Postcard, Sealer, Session, SessionData, Storage,
};

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, PartialEq)]
struct Item {
    sku: u32,
    quantity: u16,
    price_cents: u64,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "cart")]
struct Cart {
    user_id: Option<u64>,
    name: BoundedString<40>,
    items: BoundedVec<Item, 16>,
    coupons: BoundedMap<BoundedString<8>, u8, 4>,
    last_seen: u64,
}

/// The same struct after a deploy that changed one field's type.
mod v2 {
    use super::*;
    #[derive(Session, Default, Debug)]
    #[session(cookie = "cart")]
    pub(super) struct Cart {
        pub(super) user_id: Option<u64>,
        pub(super) name: BoundedString<40>,
        pub(super) items: BoundedVec<Item, 16>,
        pub(super) coupons: BoundedMap<BoundedString<8>, u8, 4>,
        pub(super) last_seen: u32,
    }
}

/// Unbounded: lives in a cookie only while small (Adaptive).
#[derive(Session, Default, Debug, Clone, PartialEq)]
struct Profile {
    display_name: String,
    bio: String,
    tags: Vec<String>,
    #[session(skip)]
    cache_hits: u32,
}

const NOW: u64 = 1_800_000_000;

fn meta() -> Meta {
    Meta {
        issued_at: NOW - 60,
        expires_at: NOW + 3600,
        lifetime: 3600,
        browser_session: false,
    }
}

/// Not the shared `sessionkit_tests::key_from`: 48-byte secrets, so the
/// sealing tests also cover a secret longer than the 32-byte minimum that
/// every other test uses.
fn long_key(byte: u8) -> MasterKey {
    MasterKey::from_secret(&[byte; 48]).unwrap()
}

fn full_cart() -> Cart {
    let mut cart = Cart {
        user_id: Some(u64::MAX),
        name: BoundedString::try_from("Ada Lovelace — ünïcödé".to_owned()).unwrap(),
        last_seen: NOW,
        ..Cart::default()
    };
    for i in 0..16 {
        cart.items
            .try_push(Item {
                sku: i * 1000,
                quantity: u16::MAX - i as u16,
                price_cents: u64::from(i) << 40,
            })
            .unwrap();
    }
    for code in ["SPRING", "VIP", "X", "LAST"] {
        cart.coupons
            .try_insert(BoundedString::try_from(code).unwrap(), code.len() as u8)
            .unwrap();
    }
    cart
}

fn both_modes() -> [Sealer; 2] {
    [
        Sealer::new(long_key(1), Mode::Encrypted),
        Sealer::new(long_key(1), Mode::Signed),
    ]
}

fn round_trip<C: Codec>() {
    for sealer in both_modes() {
        for cart in [Cart::default(), full_cart()] {
            let sealed = sealer
                .seal::<Cart, C>("__Host-cart", &meta(), &cart)
                .unwrap();
            assert!(sealed.len() + "__Host-cart=".len() <= 4096);
            let opened = sealer.open::<Cart, C>("__Host-cart", &sealed, NOW).unwrap();
            assert_eq!(opened.data, cart);
            assert_eq!(opened.meta, meta());
            assert!(!opened.stale_key);
        }
        let profile = Profile {
            display_name: "Grace".into(),
            bio: "COBOL, compilers, and nanoseconds".into(),
            tags: vec!["navy".into(), "compilers".into()],
            cache_hits: 99,
        };
        let sealed = sealer
            .seal::<Profile, C>("profile", &meta(), &profile)
            .unwrap();
        let opened = sealer.open::<Profile, C>("profile", &sealed, NOW).unwrap();
        // `skip` fields are not stored: they come back as their default
        assert_eq!(
            opened.data,
            Profile {
                cache_hits: 0,
                ..profile
            }
        );
    }
}

#[test]
fn realistic_sessions_round_trip_bincode() {
    round_trip::<Bincode>();
}

#[test]
fn realistic_sessions_round_trip_postcard() {
    round_trip::<Postcard>();
}

#[test]
fn bounded_cart_is_cookie_and_fits_at_its_bound() {
    assert_eq!(Cart::STORAGE, Storage::Cookie);
    assert_eq!(Profile::STORAGE, Storage::Adaptive);
    let bound = Cart::MAX_ENCODED_LEN.unwrap();
    let body = session_runtime::encode_to_vec::<Cart, Postcard>(&full_cart()).unwrap();
    assert!(body.len() <= bound, "{} > {bound}", body.len());
}

/// Flips every bit of the decoded envelope and of the text: nothing opens,
/// and each flip is refused for its place in the envelope.
#[test]
fn every_single_bit_flip_is_rejected() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for sealer in both_modes() {
        let sealed = sealer
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        let bytes = b64.decode(&sealed).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let text = b64.encode(&flipped);
            let refused = sealer.open::<Cart, Bincode>("__Host-cart", &text, NOW);
            // the format byte and the key id are read before the tag; every
            // other byte (the codec id too: the header is bound into the
            // tag) fails authentication, so nothing flipped is decoded
            let why = match bit / 8 {
                0 => matches!(refused, Err(OpenError::Format(..))),
                1 => matches!(refused, Err(OpenError::UnknownKey(_))),
                _ => matches!(refused, Err(OpenError::Forged)),
            };
            assert!(why, "{:?}: bit {bit} flipped: {refused:?}", sealer.mode());
        }
        // flipping bits of the base64 text itself: some flips leave the
        // alphabet, the rest change the bytes or the unused trailing bits
        let text = sealed.as_bytes();
        for bit in 0..text.len() * 8 {
            let mut flipped = text.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if let Ok(flipped) = String::from_utf8(flipped) {
                assert!(
                    sealer
                        .open::<Cart, Bincode>("__Host-cart", &flipped, NOW)
                        .is_err()
                );
            }
        }
    }
}

#[test]
fn truncation_and_extension_are_rejected() {
    for sealer in both_modes() {
        let sealed = sealer
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        for len in 0..sealed.len() {
            assert!(
                sealer
                    .open::<Cart, Bincode>("__Host-cart", &sealed[..len], NOW)
                    .is_err(),
                "len {len}"
            );
        }
        for extra in ["A", "AA", "AAA", "AAAA", "_-_-", "="] {
            let longer = format!("{sealed}{extra}");
            assert!(
                sealer
                    .open::<Cart, Bincode>("__Host-cart", &longer, NOW)
                    .is_err(),
                "{extra}"
            );
        }
    }
}

#[test]
fn garbage_is_rejected_without_panic() {
    let sealer = Sealer::new(long_key(1), Mode::Encrypted);
    let huge = "A".repeat(1 << 22);
    let inputs = ["", "=", "not base64!", "🍪", "AQ", &huge, "\0\0\0", "AbsB"];
    for input in inputs {
        assert!(
            sealer
                .open::<Cart, Bincode>("__Host-cart", input, NOW)
                .is_err()
        );
    }
    assert!(matches!(
        sealer.open::<Cart, Bincode>("__Host-cart", &huge, NOW),
        Err(OpenError::Oversize(_))
    ));
    assert!(matches!(
        sealer.open::<Cart, Bincode>("__Host-cart", "not base64!", NOW),
        Err(OpenError::NotBase64)
    ));
}

#[test]
fn wrong_key_is_rejected() {
    for mode in [Mode::Encrypted, Mode::Signed] {
        let sealed = Sealer::new(long_key(1), mode)
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        let err = Sealer::new(long_key(2), mode)
            .open::<Cart, Bincode>("__Host-cart", &sealed, NOW)
            .unwrap_err();
        assert!(
            matches!(err, OpenError::UnknownKey(_) | OpenError::Forged),
            "{err:?}"
        );
    }
}

#[test]
fn cookie_name_is_bound() {
    for sealer in both_modes() {
        let sealed = sealer
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        let err = sealer
            .open::<Cart, Bincode>("admin", &sealed, NOW)
            .unwrap_err();
        assert!(matches!(err, OpenError::Forged), "{err:?}");
    }
}

#[test]
fn other_codec_is_rejected() {
    for sealer in both_modes() {
        let sealed = sealer
            .seal::<Cart, Postcard>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        let err = sealer
            .open::<Cart, Bincode>("__Host-cart", &sealed, NOW)
            .unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Codec {
                    expected: 1,
                    found: 2
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn old_schema_is_rejected() {
    assert_ne!(Cart::FINGERPRINT, v2::Cart::FINGERPRINT);
    for sealer in both_modes() {
        let sealed = sealer
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();
        let err = sealer
            .open::<v2::Cart, Bincode>("__Host-cart", &sealed, NOW)
            .unwrap_err();
        assert!(matches!(err, OpenError::SchemaChanged { .. }), "{err:?}");
        let v2 = v2::Cart {
            last_seen: 5,
            ..v2::Cart::default()
        };
        let sealed = sealer
            .seal::<v2::Cart, Bincode>("__Host-cart", &meta(), &v2)
            .unwrap();
        let opened = sealer
            .open::<v2::Cart, Bincode>("__Host-cart", &sealed, NOW)
            .unwrap();
        assert_eq!(opened.data.last_seen, 5);
        assert_eq!(opened.data.user_id, None);
        assert!(opened.data.name.is_empty() && opened.data.items.is_empty());
        assert!(opened.data.coupons.is_empty());
    }
}

#[test]
fn expired_is_rejected() {
    let sealer = Sealer::new(long_key(1), Mode::Encrypted);
    let sealed = sealer
        .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
        .unwrap();
    assert!(
        sealer
            .open::<Cart, Bincode>("__Host-cart", &sealed, meta().expires_at - 1)
            .is_ok()
    );
    let err = sealer
        .open::<Cart, Bincode>("__Host-cart", &sealed, meta().expires_at)
        .unwrap_err();
    assert!(matches!(err, OpenError::Expired(at) if at == meta().expires_at));
}

#[test]
fn rotation_opens_old_and_reseals_with_newest() {
    for mode in [Mode::Encrypted, Mode::Signed] {
        let old = Sealer::new(long_key(1), mode);
        let sealed_old = old
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &full_cart())
            .unwrap();

        let rotated = Sealer::new(KeyRing::new(long_key(2)).with_previous(long_key(1)), mode);
        let opened = rotated
            .open::<Cart, Bincode>("__Host-cart", &sealed_old, NOW)
            .unwrap();
        assert!(opened.stale_key, "sealed under the previous key");
        assert_eq!(opened.data, full_cart());

        let resealed = rotated
            .seal::<Cart, Bincode>("__Host-cart", &meta(), &opened.data)
            .unwrap();
        let reopened = rotated
            .open::<Cart, Bincode>("__Host-cart", &resealed, NOW)
            .unwrap();
        assert!(!reopened.stale_key, "re-sealed under the newest key");
        // the newest key alone opens it, the old key alone does not
        assert!(
            Sealer::new(long_key(2), mode)
                .open::<Cart, Bincode>("__Host-cart", &resealed, NOW)
                .is_ok()
        );
        assert!(
            old.open::<Cart, Bincode>("__Host-cart", &resealed, NOW)
                .is_err()
        );
    }
}

#[test]
fn authenticated_garbage_body_is_a_decode_error() {
    // a correctly sealed envelope whose body is not a Cart
    for sealer in both_modes() {
        for body in [&b""[..], &[0xff; 3][..], &[0u8; 500][..]] {
            let sealed =
                sealer.seal_body::<Bincode>("__Host-cart", Cart::FINGERPRINT, &meta(), body);
            let err = sealer
                .open::<Cart, Bincode>("__Host-cart", &sealed, NOW)
                .unwrap_err();
            assert!(matches!(err, OpenError::Decode(_)), "{err:?}");
        }
    }
}
