//! What the fuzz targets share: a realistic session type and fixed keys.

use serde::{Deserialize, Serialize};
use session_runtime::{BoundedString, BoundedVec, MasterKey, MaxEncodedLen, Session};

/// A line of the fuzzed cart.
#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, PartialEq)]
pub struct Line {
    /// The product.
    pub sku: u32,
    /// How many.
    pub quantity: u16,
}

/// A cookie-sized session with every kind of field.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "cart")]
pub struct Cart {
    /// Who.
    pub user: Option<u64>,
    /// A bounded string.
    pub name: BoundedString<24>,
    /// A bounded vector of structs.
    pub lines: BoundedVec<Line, 8>,
    /// A float.
    pub ratio: f32,
}

/// An unbounded session, for server records.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "notes", storage = "server")]
pub struct Notes {
    /// Free text.
    pub text: String,
    /// Numbers.
    pub numbers: Vec<i64>,
    /// Cache-only.
    #[session(quick)]
    pub flash: String,
}

/// The fuzzing key.
#[must_use]
pub fn key() -> MasterKey {
    MasterKey::from_secret(&[7; 32]).expect("32 bytes")
}

/// The issue and expiry times of the seeds: valid at `NOW`.
pub const NOW: u64 = 1_800_000_000;
