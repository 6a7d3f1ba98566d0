//! The session layer's cost over bare axum, measured in one run so the
//! ratios compare like with like: absolute times move between machines and
//! runs, ratios to a baseline of the same run do not.
//!
//! * `bare`: an axum route without the layer (the baseline).
//! * `untouched`: the layer installed, a session cookie sent, the handler
//!   does not extract the session (budget: +0.20 µs over bare).
//! * `read_write/{encrypted,signed}`: the handler reads and changes a
//!   131-byte struct (budget: at most 1.25× the floor below).
//! * `floor/*`: sealing plus opening that struct directly, no HTTP.
//!
//! `cargo bench -p session-runtime --all-features`; the last lines print the
//! overheads and ratios. `BENCH_NO_SUMMARY=1` skips that summary (for a
//! profiler run on one scenario with `--profile-time`).
//!
//! Profile (perf, 2026-11): untouched overhead is mostly `http::Extensions`
//! allocating and dropping its map for our slot, plus the `Arc<Slot>`;
//! read+write spends about a fifth in `Sealer::open` (base64, AES-GCM,
//! decode), an eighth in sealing, the rest in allocations between them.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::Request;
use serde::{Deserialize, Serialize};
use session_runtime::{
    Bincode, BoundedString, BoundedVec, MasterKey, MaxEncodedLen, Meta, Mode, Sealer, Session,
    SessionLayer,
};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tower::ServiceExt;

#[derive(Serialize, Deserialize, MaxEncodedLen, Clone)]
struct Line {
    sku: u32,
    quantity: u16,
}

/// 131 bytes encoded (checked below): a logged-in cart with a few items,
/// the size the README's performance table reports.
#[derive(Session, Default, Clone)]
#[session(cookie = "bench")]
struct Bench {
    user_id: Option<u64>,
    name: BoundedString<40>,
    lines: BoundedVec<Line, 16>,
    counter: u32,
}

fn sample() -> Bench {
    let mut bench = Bench {
        user_id: Some(1_234_567),
        name: BoundedString::try_from("A typical display name, 38 bytes long.").unwrap(),
        counter: 1,
        ..Bench::default()
    };
    for i in 0..14u32 {
        bench
            .lines
            .try_push(Line {
                sku: 70_000 + i,
                quantity: 2,
            })
            .unwrap();
    }
    bench
}

async fn untouched() -> &'static str {
    "ok"
}

async fn read_write(mut session: Session<Bench>) -> &'static str {
    let next = session.counter() + 1;
    session.set_counter(next);
    "ok"
}

fn routes() -> Router {
    Router::new()
        .route("/untouched", get(untouched))
        .route("/rw", get(read_write))
}

fn request(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    builder.body(Body::empty()).unwrap()
}

fn cookie_for(mode: Mode) -> String {
    let sealer = Sealer::new(MasterKey::from_secret(&[1; 32]).unwrap(), mode);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let meta = Meta {
        issued_at: now,
        expires_at: now + 3600,
        ..Meta::default()
    };
    // the name on the wire: the layer's default `__Host-` prefix included
    format!(
        "__Host-bench={}",
        sealer
            .seal::<Bench, Bincode>("__Host-bench", &meta, &sample())
            .unwrap()
    )
}

/// The scenarios, each a request sent through a router.
fn scenarios() -> Vec<(&'static str, Router, &'static str, Option<String>)> {
    let key = || MasterKey::from_secret(&[1; 32]).unwrap();
    let layered = |mode| routes().layer(SessionLayer::<Bench>::new(key()).with_mode(mode));
    let encrypted = cookie_for(Mode::Encrypted);
    let signed = cookie_for(Mode::Signed);
    vec![
        ("bare", routes(), "/untouched", None),
        (
            "untouched",
            layered(Mode::Encrypted),
            "/untouched",
            Some(encrypted.clone()),
        ),
        (
            "read_write/encrypted",
            layered(Mode::Encrypted),
            "/rw",
            Some(encrypted),
        ),
        (
            "read_write/signed",
            layered(Mode::Signed),
            "/rw",
            Some(signed),
        ),
    ]
}

fn floor(mode: Mode) -> impl FnMut() {
    let sealer = Sealer::new(MasterKey::from_secret(&[1; 32]).unwrap(), mode);
    let data = sample();
    let meta = Meta {
        issued_at: 1,
        expires_at: u64::MAX,
        ..Meta::default()
    };
    let value = sealer
        .seal::<Bench, Bincode>("bench", &meta, &data)
        .unwrap();
    move || {
        let opened = sealer
            .open::<Bench, Bincode>("bench", black_box(&value), 2)
            .unwrap();
        black_box(opened.data.counter);
        black_box(
            sealer
                .seal::<Bench, Bincode>("bench", &meta, &data)
                .unwrap(),
        );
    }
}

fn bench(c: &mut Criterion) {
    let body = session_runtime::encode_to_vec::<Bench, Bincode>(&sample()).unwrap();
    assert_eq!(
        body.len(),
        131,
        "the comparison struct encodes to 131 bytes"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("request_path");
    for (name, app, uri, cookie) in scenarios() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let response =
                    runtime.block_on(app.clone().oneshot(request(uri, cookie.as_deref())));
                black_box(response.unwrap().status())
            })
        });
    }
    for (name, mode) in [
        ("floor/encrypted", Mode::Encrypted),
        ("floor/signed", Mode::Signed),
    ] {
        let mut run = floor(mode);
        group.bench_function(name, |b| b.iter(&mut run));
    }
    group.finish();
}

/// Times every scenario in one loop, interleaved, and prints the layer's
/// overhead over `bare` and the ratio to the crypto floor.
fn summary() {
    const ROUNDS: usize = 20;
    const PER_ROUND: u32 = 5_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let scenarios = scenarios();
    let mut totals = vec![Duration::ZERO; scenarios.len() + 2];
    let mut floors = [floor(Mode::Encrypted), floor(Mode::Signed)];
    for _ in 0..ROUNDS {
        for (i, (_, app, uri, cookie)) in scenarios.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                let response =
                    runtime.block_on(app.clone().oneshot(request(uri, cookie.as_deref())));
                black_box(response.unwrap().status());
            }
            totals[i] += start.elapsed();
        }
        for (j, run) in floors.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                run();
            }
            totals[scenarios.len() + j] += start.elapsed();
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(PER_ROUND) / ROUNDS as f64;
    let bare = per(totals[0]);
    println!("\nsummary (µs per request, one interleaved run):");
    println!("  bare                   {bare:7.3}");
    for (i, (name, ..)) in scenarios.iter().enumerate().skip(1) {
        let t = per(totals[i]);
        println!(
            "  {name:22} {t:7.3}  overhead {:+.3} µs  ratio {:.2}x bare",
            t - bare,
            t / bare
        );
    }
    let floor_enc = per(totals[scenarios.len()]);
    let floor_sig = per(totals[scenarios.len() + 1]);
    println!("  floor/encrypted        {floor_enc:7.3}");
    println!("  floor/signed           {floor_sig:7.3}");
    let rw_enc = per(totals[2]) - bare;
    let rw_sig = per(totals[3]) - bare;
    println!(
        "  read+write overhead / floor: encrypted {:.2}x, signed {:.2}x",
        rw_enc / floor_enc,
        rw_sig / floor_sig
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // profilers want one scenario only
    if std::env::var_os("BENCH_NO_SUMMARY").is_none() {
        summary();
    }
}
