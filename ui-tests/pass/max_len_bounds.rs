//! `#[session(max_len = N)]` bounds the number of items only: the field
//! has a known bound when its items (a map's keys and values) have one.
use session_runtime::{BoundedString, SessionData, Storage};
use std::collections::{BTreeMap, HashMap};

// items without a bound: the session stays unbounded, stored adaptively
#[derive(session_runtime::Session, Default)]
struct Loose {
    #[session(max_len = 4)]
    tags: Vec<String>,
    #[session(max_len = 4)]
    scores: BTreeMap<String, u8>,
    #[session(max_len = 4)]
    blobs: Vec<Vec<u8>>,
    #[session(max_len = 4)]
    labels: HashMap<u8, String>,
}

// one unbounded-item field is enough
#[derive(session_runtime::Session, Default)]
struct OneLoose {
    flag: bool,
    #[session(max_len = 4)]
    blobs: Vec<Vec<u8>>,
}

// bounded items: a known bound, and it may be cookie-only
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Tight {
    #[session(max_len = 4)]
    bytes: Vec<u8>,
    #[session(max_len = 4)]
    names: Vec<BoundedString<8>>,
    #[session(max_len = 2)]
    scores: BTreeMap<BoundedString<8>, u8>,
    #[session(max_len = 16)]
    note: String,
}

#[derive(session_runtime::Session, Default)]
struct TightAuto {
    #[session(max_len = 4)]
    bytes: Vec<u8>,
    #[session(max_len = 4)]
    names: Vec<BoundedString<8>>,
}

const _: () = assert!(Loose::MAX_ENCODED_LEN.is_none());
const _: () = assert!(matches!(Loose::STORAGE, Storage::Adaptive));
const _: () = assert!(OneLoose::MAX_ENCODED_LEN.is_none());
const _: () = assert!(matches!(OneLoose::STORAGE, Storage::Adaptive));
const _: () = assert!(matches!(Tight::STORAGE, Storage::Cookie));
const _: () = assert!(matches!(TightAuto::STORAGE, Storage::Cookie));

fn main() {
    assert_eq!(Loose::MAX_ENCODED_LEN, None);
    assert_eq!(Loose::STORAGE, Storage::Adaptive);
    assert_eq!(OneLoose::STORAGE, Storage::Adaptive);
    // a one-byte length prefix, then 4 × 1 byte; 4 × (1 + 8) for the names
    assert_eq!(TightAuto::MAX_ENCODED_LEN, Some((1 + 4) + (1 + 4 * 9)));
    assert_eq!(TightAuto::STORAGE, Storage::Cookie);
    // ... 2 × (9 + 1) for the map, 1 + 16 for the string
    assert_eq!(
        Tight::MAX_ENCODED_LEN,
        Some((1 + 4) + (1 + 4 * 9) + (1 + 2 * 10) + (1 + 16))
    );
    assert_eq!(Tight::STORAGE, Storage::Cookie);
    let loose = Loose::default();
    let _ = (&loose.tags, &loose.scores, &loose.blobs, &loose.labels);
    let one = OneLoose::default();
    let _ = (one.flag, &one.blobs);
    let tight = Tight::default();
    let _ = (&tight.bytes, &tight.names, &tight.scores, &tight.note);
    let auto = TightAuto::default();
    let _ = (&auto.bytes, &auto.names);
}
