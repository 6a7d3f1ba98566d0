//! The derive's expansion is clean under clippy's pedantic lints and strict
//! rustc lints in the user's crate (checked by `cargo clippy --all-targets`).
#![deny(clippy::pedantic, unused_qualifications, missing_docs, unreachable_pub)]

use serde::{Deserialize, Serialize};
use session_runtime::{BoundedString, BoundedVec, MaxEncodedLen, Session, SessionData};

/// A nested type.
#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Red.
    Red,
    /// Custom.
    Rgb(u8, u8, u8),
}

/// A session touching every attribute.
#[derive(Session, Default, Debug)]
#[session(cookie = "lints", storage = "server")]
pub struct Everything {
    /// A bounded string.
    pub name: BoundedString<16>,
    /// A limited vector.
    #[session(max_len = 4)]
    pub tags: Vec<u16>,
    /// A bounded vector of a derived enum.
    pub colours: BoundedVec<Colour, 2>,
    /// Cache only.
    #[session(quick)]
    pub seen: u64,
    /// Never stored.
    #[session(skip)]
    pub scratch: Option<String>,
}

#[test]
fn expansion_compiles_under_pedantic_lints() {
    assert_eq!(Everything::COOKIE_NAME, "lints");
    assert!(Everything::MAX_ENCODED_LEN.is_some());
}
