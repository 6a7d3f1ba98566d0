//! One cookie-path configuration in a loop, for a profiler: the numbers
//! BENCHMARKS.md explains (where the time over the floor goes) come from
//! instruction counts, which other load on the machine does not change.
//!
//! ```text
//! cargo build --release --manifest-path benches/Cargo.toml --example profile
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/benches/release/examples/profile cart encrypted 20000
//! callgrind_annotate /tmp/cg.out | head -60
//! ```
//!
//! Arguments: `bare`, `untouched`, `counter`, `cart` or `note` (or
//! `floor-counter`, `floor-cart`, `floor-note`: the primitives floor); `encrypted`
//! or `signed`; the number of requests. Run it twice with different counts
//! and divide the difference by the difference in requests for a
//! per-request figure free of start-up costs.

use axum::Router;
use axum::body::Body;
use http::Request;
use session_runtime::Mode;
use sessionkit_benches::floor::Floor;
use sessionkit_benches::peers::PeerData;
use sessionkit_benches::{PeerCart, PeerCounter, PeerNote, Size, sessionkit as kit};
use std::hint::black_box;
use tower::ServiceExt as _;

fn request(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    builder.body(Body::empty()).expect("valid request")
}

fn floor<T: PeerData>(encrypted: bool, n: usize) {
    let mut floor = Floor::<T>::new(&T::filled(), encrypted, T::bump);
    for _ in 0..n {
        floor.step();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "cart".into());
    let mode = match args.next().as_deref() {
        Some("signed") => Mode::Signed,
        _ => Mode::Encrypted,
    };
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    if let Some(size) = what.strip_prefix("floor-") {
        let encrypted = mode == Mode::Encrypted;
        match size {
            "counter" => floor::<PeerCounter>(encrypted, n),
            "note" => floor::<PeerNote>(encrypted, n),
            _ => floor::<PeerCart>(encrypted, n),
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (app, uri): (Router, &str) = match what.as_str() {
        "bare" => (
            Router::new().route("/untouched", axum::routing::get(kit::untouched)),
            "/untouched",
        ),
        "untouched" => (kit::cookie_app(Size::Cart, mode), "/untouched"),
        "counter" => (kit::cookie_app(Size::Counter, mode), "/rw"),
        "note" => (kit::cookie_app(Size::Note, mode), "/rw"),
        _ => (kit::cookie_app(Size::Cart, mode), "/rw"),
    };
    // a real cookie: the first write's (bare axum gets a cart's, so that
    // building the request costs the same)
    let cookie = {
        let (primer, uri) = match what.as_str() {
            "bare" | "untouched" => (kit::cookie_app(Size::Cart, mode), "/rw"),
            _ => (app.clone(), uri),
        };
        let response = rt
            .block_on(primer.oneshot(request(uri, None)))
            .expect("infallible");
        let line = response.headers()["set-cookie"].to_str().expect("ascii");
        Some(line.split(';').next().unwrap_or_default().to_owned())
    };
    rt.block_on(async {
        for _ in 0..n {
            let response = app
                .clone()
                .oneshot(request(uri, cookie.as_deref()))
                .await
                .expect("infallible");
            black_box(response.status());
        }
    });
}
