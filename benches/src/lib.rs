//! What the side-by-side benchmarks share: the session shapes (each once for
//! sessionkit and once as the plain serde struct a peer stores), the
//! handlers, and an interleaved timing loop that prints Markdown tables.
//!
//! Every configuration does the same work per request: the client sends
//! the cookie a first request gave it, the handler reads the session and
//! increments its counter (or leaves it alone, for "untouched"), and the
//! response carries whatever the library sends back.

use serde::{Deserialize, Serialize};
use session_runtime::{BoundedString, BoundedVec, MaxEncodedLen, Session};
use std::time::{Duration, Instant};

pub mod floor;
pub mod peers;
pub mod sessionkit;
pub mod tower_sessions_counted;

/// One cart line.
#[derive(Serialize, Deserialize, MaxEncodedLen, Clone, Debug, Default)]
pub struct Line {
    /// Stock keeping unit.
    pub sku: u32,
    /// How many.
    pub quantity: u16,
}

/// The smallest session: one counter.
#[derive(Session, Default, Clone)]
#[session(cookie = "bench")]
pub struct Counter {
    /// Incremented by every writing request.
    pub counter: u64,
}

/// 131 bytes encoded with bincode: a logged-in cart with 14 lines.
#[derive(Session, Default, Clone)]
#[session(cookie = "bench")]
pub struct Cart {
    /// The user.
    pub user_id: Option<u64>,
    /// Display name.
    pub name: BoundedString<40>,
    /// Cart lines.
    pub lines: BoundedVec<Line, 16>,
    /// Incremented by every writing request.
    pub counter: u32,
}

/// The cart, always kept server-side (the cookie holds a signed ID).
#[derive(Session, Default, Clone)]
#[session(cookie = "bench", storage = "server")]
pub struct ServerCart {
    /// The user.
    pub user_id: Option<u64>,
    /// Display name.
    pub name: BoundedString<40>,
    /// Cart lines.
    pub lines: BoundedVec<Line, 16>,
    /// Incremented by every writing request.
    pub counter: u32,
}

/// The cart in a sealed cookie, its user marked for "log out everywhere"
/// (`SessionLayer::with_user_revocation`).
#[derive(Session, Default, Clone)]
#[session(cookie = "bench")]
pub struct UserCart {
    /// The user: a session with one is checked against the user's
    /// revocation time when it loads.
    #[session(user)]
    pub user_id: Option<u64>,
    /// Display name.
    pub name: BoundedString<40>,
    /// Cart lines.
    pub lines: BoundedVec<Line, 16>,
    /// Incremented by every writing request.
    pub counter: u32,
}

/// About 1 KiB encoded: a long note and a counter.
#[derive(Session, Default, Clone)]
#[session(cookie = "bench")]
pub struct Note {
    /// A gift note of 1,000 characters.
    pub note: BoundedString<1024>,
    /// Incremented by every writing request.
    pub counter: u64,
}

/// The same cart as a peer stores it (serde, no bounds).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct PeerCart {
    /// The user.
    pub user_id: Option<u64>,
    /// Display name.
    pub name: String,
    /// Cart lines.
    pub lines: Vec<Line>,
    /// Incremented by every writing request.
    pub counter: u32,
}

/// The same note as a peer stores it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct PeerNote {
    /// A gift note of 1,000 characters.
    pub note: String,
    /// Incremented by every writing request.
    pub counter: u64,
}

/// The counter as a peer stores it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct PeerCounter {
    /// Incremented by every writing request.
    pub counter: u64,
}

/// The display name in every cart.
pub const NAME: &str = "A typical display name, 38 bytes long.";

/// The lines of every cart.
#[must_use]
pub fn lines() -> Vec<Line> {
    (0..14u32)
        .map(|i| Line {
            sku: 70_000 + i,
            quantity: 2,
        })
        .collect()
}

/// The note of every 1 KiB session.
#[must_use]
pub fn note() -> String {
    "gift note ".repeat(100)
}

/// The session sizes compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// A `u64` counter.
    Counter,
    /// The 131-byte cart.
    Cart,
    /// The 1 KiB note.
    Note,
}

impl Size {
    /// Every size, smallest first.
    pub const ALL: [Size; 3] = [Size::Counter, Size::Cart, Size::Note];

    /// The label in tables.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Size::Counter => "u64 counter",
            Size::Cart => "131-byte cart",
            Size::Note => "1 KiB note",
        }
    }
}

/// A configuration timed by [`run_interleaved`]: `run(n)` serves `n`
/// requests.
pub struct Case {
    /// Row label.
    pub name: String,
    /// The row this one's overhead is measured against (a bare framework),
    /// or `None` for a baseline.
    pub baseline: Option<usize>,
    /// Serves `n` requests.
    pub run: Box<dyn FnMut(u32)>,
}

/// Median microseconds per request of every case, timed in `rounds`
/// rounds of `per_round` requests, cases interleaved within each round so
/// that drift (frequency scaling, other load) hits them all alike.
pub fn run_interleaved(cases: &mut [Case], rounds: usize, per_round: u32) -> Vec<f64> {
    // warm up: caches, allocator, lazily built state
    for case in cases.iter_mut() {
        (case.run)(per_round / 4 + 1);
    }
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for (i, case) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            (case.run)(per_round);
            samples[i].push(micros(start.elapsed()) / f64::from(per_round));
        }
    }
    samples.into_iter().map(median).collect()
}

/// Microseconds in `d`.
#[must_use]
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median of `values` (sorted here).
#[must_use]
pub fn median(mut values: Vec<f64>) -> f64 {
    percentile(&mut values, 0.5)
}

/// The `q` quantile (0..=1) of `values`, nearest rank.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * q).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// The bench knobs from the environment: `BENCH_ROUNDS` and
/// `BENCH_PER_ROUND` (a smoke run sets them small).
#[must_use]
pub fn knobs(rounds: usize, per_round: u32) -> (usize, u32) {
    let get = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    (
        get("BENCH_ROUNDS").map_or(rounds, |v: u32| v as usize),
        get("BENCH_PER_ROUND").unwrap_or(per_round),
    )
}
