//! One cookie-path configuration in a loop, for a profiler: the same app
//! and requests as the `cookie_path` bench, nothing else in the process.
//!
//! ```sh
//! CARGO_TARGET_DIR=target/benches cargo build --release --manifest-path benches/Cargo.toml --example profile_cookie
//! valgrind --tool=callgrind target/benches/release/examples/profile_cookie counter signed 20000
//! perf record -g target/benches/release/examples/profile_cookie cart encrypted 300000
//! ```
//!
//! Arguments: `counter` | `cart` | `note`, `signed` | `encrypted`, the
//! number of requests, and `untouched` to call the route that never
//! extracts the session (`bare`: the same route without the layer, sent
//! the same cookie; `floor`: the primitives floor of the size, no HTTP).
//! Prints µs per request (wall clock: compare runs with callgrind's
//! instruction counts, which do not vary; two runs with different request
//! counts give a per-request count free of start-up costs).

use axum::body::Body;
use http::Request;
use session_runtime::Mode;
use sessionkit_benches::floor::Floor;
use sessionkit_benches::peers::PeerData;
use sessionkit_benches::sessionkit::cookie_app;
use sessionkit_benches::{PeerCart, PeerCounter, PeerNote, Size};
use tower::ServiceExt as _;

/// The primitives floor of `T`, `requests` times.
fn floor<T: PeerData>(encrypted: bool, requests: usize) {
    let mut floor = Floor::<T>::new(&T::filled(), encrypted, T::bump);
    let start = std::time::Instant::now();
    for _ in 0..requests {
        floor.step();
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / requests.max(1) as f64;
    println!("{micros:.3} µs per step");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let size = match arg(0) {
        Some("cart") => Size::Cart,
        Some("note") => Size::Note,
        _ => Size::Counter,
    };
    let mode = match arg(1) {
        Some("signed") => Mode::Signed,
        _ => Mode::Encrypted,
    };
    let requests: usize = arg(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let uri = if matches!(arg(3), Some("untouched" | "bare")) {
        "/untouched"
    } else {
        "/rw"
    };
    if arg(3) == Some("floor") {
        let encrypted = mode == Mode::Encrypted;
        match size {
            Size::Counter => floor::<PeerCounter>(encrypted, requests),
            Size::Cart => floor::<PeerCart>(encrypted, requests),
            Size::Note => floor::<PeerNote>(encrypted, requests),
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let app = if arg(3) == Some("bare") {
        axum::Router::new().route(
            "/untouched",
            axum::routing::get(sessionkit_benches::sessionkit::untouched),
        )
    } else {
        cookie_app(size, mode)
    };
    let send = |cookie: Option<&str>| {
        let mut request = Request::get(uri);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let request = request.body(Body::empty()).expect("a request");
        rt.block_on(app.clone().oneshot(request))
            .expect("infallible")
    };
    // the cookie a first write gives, sent with every request after
    let first = Request::get("/rw").body(Body::empty()).expect("a request");
    let first = rt
        .block_on(cookie_app(size, mode).oneshot(first))
        .expect("infallible");
    let cookie = first
        .headers()
        .get("set-cookie")
        .and_then(|line| line.to_str().ok())
        .and_then(|line| line.split(';').next())
        .map(str::to_owned);
    let start = std::time::Instant::now();
    for _ in 0..requests {
        std::hint::black_box(send(cookie.as_deref()));
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / requests.max(1) as f64;
    println!("{micros:.3} µs per request");
}
