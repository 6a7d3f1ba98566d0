//! The tamper sweep: sealed cookies (both modes, both codecs) and signed
//! server-side IDs, damaged every way a client can damage them — every
//! single-bit flip at every position, every truncation, extensions,
//! base64 alphabet swaps, another cookie name, another key, an old key id,
//! another codec or mode. 0 accepted, 0 panics.
//!
//! The regular suite runs a sample; `SESSIONKIT_SWEEP=full` runs every
//! variant over enough sessions for more than a million cases:
//!
//! ```sh
//! SESSIONKIT_SWEEP=full cargo test --release -p sessionkit-tests --all-features --test tamper -- --nocapture
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use session_runtime::id::SessionId;
use session_runtime::{
    Bincode, BoundedString, BoundedVec, KeyRing, Meta, Mode, Postcard, Sealer, Session,
};
use sessionkit_tests::key_from;
use std::panic::AssertUnwindSafe;

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "cart")]
struct Cart {
    user: Option<u64>,
    name: BoundedString<24>,
    items: BoundedVec<u32, 8>,
}

const NOW: u64 = 1_800_000_000;

fn meta() -> Meta {
    Meta {
        issued_at: NOW - 10,
        expires_at: NOW + 3_600,
        lifetime: 0,
        browser_session: false,
    }
}

/// Counts of one sweep.
#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    accepted: u64,
    panics: u64,
}

impl Tally {
    /// Runs one case: `open` must refuse, and must not panic.
    fn case(&mut self, open: impl FnOnce() -> bool) {
        self.cases += 1;
        match std::panic::catch_unwind(AssertUnwindSafe(open)) {
            Ok(true) => self.accepted += 1,
            Ok(false) => {}
            Err(_) => self.panics += 1,
        }
    }
}

/// Every damaged form of `value` a client can send: bit flips of the
/// decoded bytes (re-encoded), truncations, extensions, alphabet swaps.
fn damaged(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let raw = URL_SAFE_NO_PAD.decode(value).unwrap();
    for byte in 0..raw.len() {
        for bit in 0..8 {
            let mut flipped = raw.clone();
            flipped[byte] ^= 1 << bit;
            out.push(URL_SAFE_NO_PAD.encode(&flipped));
        }
    }
    for len in 0..value.len() {
        out.push(value[..len].to_owned());
    }
    for extra in ["A", "AA", "AAAA", "=", "==", " ", "\"", "%3D", "Zm9v"] {
        out.push(format!("{value}{extra}"));
        out.push(format!("{extra}{value}"));
    }
    // the other base64 alphabet, padding, and one character swapped
    out.push(value.replace('-', "+").replace('_', "/"));
    out.push(format!("{value}="));
    for at in 0..value.len() {
        let mut bytes = value.as_bytes().to_vec();
        bytes[at] = match bytes[at] {
            b'A' => b'B',
            b'-' => b'+',
            b'_' => b'/',
            _ => b'A',
        };
        out.push(String::from_utf8(bytes).unwrap());
    }
    // a "damage" that leaves the value as it was is no case
    out.retain(|bad| bad != value);
    out
}

fn sessions(count: usize) -> Vec<Cart> {
    (0..count)
        .map(|i| Cart {
            user: (i % 3 != 0).then_some(i as u64 * 7_919),
            name: BoundedString::try_from("x".repeat(i % 24)).unwrap(),
            items: BoundedVec::try_from((0..(i % 8) as u32).collect::<Vec<_>>()).unwrap(),
        })
        .collect()
}

fn sweep(sessions_per_variant: usize) -> Tally {
    let mut tally = Tally::default();
    let keys = KeyRing::new(key_from(1));
    for mode in [Mode::Encrypted, Mode::Signed] {
        let sealer = Sealer::new(keys.clone(), mode);
        let other_mode = Sealer::new(
            keys.clone(),
            match mode {
                Mode::Encrypted => Mode::Signed,
                _ => Mode::Encrypted,
            },
        );
        let other_key = Sealer::new(key_from(2), mode);
        // an old key id: a ring whose current key the value's ring retired
        let rotated = Sealer::new(KeyRing::new(key_from(3)), mode);
        for cart in sessions(sessions_per_variant) {
            for codec in ["bincode", "postcard"] {
                let value = match codec {
                    "bincode" => sealer
                        .seal::<Cart, Bincode>("__Host-cart", &meta(), &cart)
                        .unwrap(),
                    _ => sealer
                        .seal::<Cart, Postcard>("__Host-cart", &meta(), &cart)
                        .unwrap(),
                };
                let open = |sealer: &Sealer, name: &str, v: &str| match codec {
                    "bincode" => sealer.open::<Cart, Bincode>(name, v, NOW).is_ok(),
                    _ => sealer.open::<Cart, Postcard>(name, v, NOW).is_ok(),
                };
                // the intact value opens: the sweep tests refusals, not a
                // sealer that refuses everything
                assert!(open(&sealer, "__Host-cart", &value));
                for bad in damaged(&value) {
                    tally.case(|| open(&sealer, "__Host-cart", &bad));
                }
                tally.case(|| open(&sealer, "other", &value));
                tally.case(|| open(&sealer, "Cart", &value));
                tally.case(|| open(&other_key, "__Host-cart", &value));
                tally.case(|| open(&other_mode, "__Host-cart", &value));
                tally.case(|| open(&rotated, "__Host-cart", &value));
                // the other codec
                tally.case(|| match codec {
                    "bincode" => sealer
                        .open::<Cart, Postcard>("__Host-cart", &value, NOW)
                        .is_ok(),
                    _ => sealer
                        .open::<Cart, Bincode>("__Host-cart", &value, NOW)
                        .is_ok(),
                });
                // replayed after its sealed expiry, whatever the client's clock
                tally.case(|| match codec {
                    "bincode" => sealer
                        .open::<Cart, Bincode>("__Host-cart", &value, NOW + 3_600)
                        .is_ok(),
                    _ => sealer
                        .open::<Cart, Postcard>("__Host-cart", &value, NOW + 3_600)
                        .is_ok(),
                });
            }
        }
    }
    // signed server-side IDs
    for _ in 0..sessions_per_variant * 2 {
        let id = SessionId::generate().unwrap();
        let signed = id.sign(&keys, "__Host-cart");
        assert!(SessionId::verify(&signed, &keys, "__Host-cart").is_ok());
        for bad in damaged(&signed) {
            tally.case(|| SessionId::verify(&bad, &keys, "__Host-cart").is_ok());
        }
        tally.case(|| SessionId::verify(&signed, &keys, "other").is_ok());
        tally
            .case(|| SessionId::verify(&signed, &KeyRing::new(key_from(2)), "__Host-cart").is_ok());
    }
    tally
}

#[test]
fn no_damaged_cookie_or_id_is_ever_accepted() {
    let full = std::env::var("SESSIONKIT_SWEEP").is_ok_and(|v| v == "full");
    let tally = sweep(if full { 250 } else { 3 });
    sessionkit_tests::figure(&format!(
        "tamper sweep ({}): {} cases (bit flips, truncations, extensions, alphabet swaps, names, keys, key ids, codecs, modes, expiry; sealed cookies and signed ids), {} accepted, {} panics",
        if full { "full" } else { "sample" },
        tally.cases,
        tally.accepted,
        tally.panics
    ));
    assert_eq!((tally.accepted, tally.panics), (0, 0), "{tally:?}");
    if full {
        assert!(tally.cases >= 1_000_000, "{tally:?}");
    }
}

#[test]
fn ids_are_unique_and_their_bits_balanced() {
    let full = std::env::var("SESSIONKIT_SWEEP").is_ok_and(|v| v == "full");
    let count: usize = if full { 10_000_000 } else { 200_000 };
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut ones = [0u64; 256];
    let keys = KeyRing::new(key_from(1));
    for _ in 0..count {
        let id = SessionId::generate().unwrap();
        // the ID's bytes, through its signed form (the only public view)
        let signed = id.sign(&keys, "s");
        let raw = URL_SAFE_NO_PAD.decode(&signed).unwrap();
        // format byte and key id first, then the 32 random bytes
        let bytes: [u8; 32] = raw[2..34].try_into().unwrap();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                ones[i * 8 + bit] += u64::from(byte >> bit & 1);
            }
        }
        assert!(seen.insert(bytes), "duplicate id");
    }
    // each bit is set in half the ids, within 6 standard deviations
    let n = count as f64;
    let worst = ones
        .iter()
        .map(|&k| ((k as f64) - n / 2.0).abs() / (n / 4.0).sqrt())
        .fold(0.0f64, f64::max);
    sessionkit_tests::figure(&format!(
        "session ids: {count} generated, 256 bits each, 0 duplicates, worst per-bit deviation {worst:.2} sigma"
    ));
    assert!(worst < 6.0, "bit balance off by {worst} sigma");
}
