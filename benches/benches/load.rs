//! A load run over real sockets: each configuration is served by hyper
//! (through `axum::serve`) on loopback, and 64 keep-alive connections, each
//! its own browser with its own session, send requests for a bounded time:
//! four reads then one write (the cart's counter), again and again.
//! Reports requests per second, p50 / p99 / p99.9 latency and errors.
//!
//! Configurations: the cookie path (sessionkit's sealed cookie against
//! tower-sessions' MemoryStore, its default) and the server tier on the
//! same Redis and PostgreSQL (sessionkit's Tiered against tower-sessions'
//! CachingSessionStore over its Redis and sqlx stores).
//!
//! Knobs: `BENCH_SECONDS` (per configuration, default 5),
//! `BENCH_CONNECTIONS` (default 64).

use axum::Router;
use axum::routing::get;
use http::Request;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use session_runtime::store::{PostgresStore, RedisStore};
use session_runtime::{Mode, SessionLayer, Tiered};
use sessionkit_benches::peers;
use sessionkit_benches::sessionkit::{self as kit, key};
use sessionkit_benches::{Cart, ServerCart, percentile};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run benches/run.sh, which starts the servers")
    })
}

/// CPU seconds used so far by this process, by every `redis-server` and by
/// every `postgres` process (Linux `/proc`; zeros elsewhere).
fn cpu_seconds() -> [f64; 3] {
    let ticks = |stat: &str| -> Option<(String, f64)> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let comm = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((comm, (utime + stime) / 100.0))
    };
    let mut cpu = [0.0; 3];
    if let Some((_, own)) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .as_deref()
        .and_then(ticks)
    {
        cpu[0] = own;
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        match ticks(&stat) {
            Some((comm, secs)) if comm == "redis-server" => cpu[1] += secs,
            Some((comm, secs)) if comm == "postgres" => cpu[2] += secs,
            _ => {}
        }
    }
    cpu
}

struct Report {
    cpu: [f64; 3],
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<f64>,
}

/// One browser on one keep-alive connection: primes its session with a
/// write, then loops until `until`.
async fn browser(port: u16, until: Instant) -> (Vec<f64>, usize) {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let mut cookie: Option<String> = None;
    let mut latencies = Vec::with_capacity(4096);
    let mut errors = 0;
    let mut n: u64 = 0;
    loop {
        let uri = if n.is_multiple_of(5) { "/rw" } else { "/read" };
        let mut request = Request::get(uri).header("host", "localhost");
        if let Some(cookie) = &cookie {
            request = request.header("cookie", cookie.as_str());
        }
        let request = request.body(Empty::<Bytes>::new()).expect("valid");
        let start = Instant::now();
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                if let Some(set) = response.headers().get("set-cookie") {
                    let line = set.to_str().unwrap_or_default();
                    cookie = Some(line.split(';').next().unwrap_or_default().to_owned());
                }
                let body = response.into_body().collect().await;
                ok && body.is_ok()
            }
            Err(_) => false,
        };
        if n > 0 {
            // the priming write is not measured
            latencies.push(start.elapsed().as_secs_f64() * 1e6);
            if !ok {
                errors += 1;
            }
        }
        n += 1;
        if Instant::now() >= until || (!ok && sender.ready().await.is_err()) {
            break;
        }
    }
    (latencies, errors)
}

fn run(app: Router, connections: u64, seconds: u64) -> Report {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("binds");
    let port = listener.local_addr().expect("bound").port();
    server.spawn(async move { axum::serve(listener, app).await });
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let results = client.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(browser(port, until)))
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("browser task"));
        }
        results
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    drop(client);
    server.shutdown_timeout(Duration::from_secs(1));
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (l, e) in results {
        latencies.extend(l);
        errors += e;
    }
    Report {
        cpu: [0, 1, 2].map(|i| cpu_after[i] - cpu_before[i]),
        requests: latencies.len(),
        errors,
        seconds,
        latencies,
    }
}

fn main() {
    let connections = knob("BENCH_CONNECTIONS", 64);
    let seconds = knob("BENCH_SECONDS", 5);
    let setup = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let redis_url = env("SESSIONKIT_REDIS_URL");
    let postgres_url = env("SESSIONKIT_POSTGRES_URL");

    let kit_cookie = Router::new()
        .route("/read", get(kit::cart_read))
        .route("/rw", get(kit::cart))
        .layer(SessionLayer::<Cart>::new(key()).with_mode(Mode::Encrypted));
    let ts_memory = Router::new()
        .route("/read", get(peers::tower_sessions_read))
        .route("/rw", get(peers::tower_sessions_rw_cart))
        .layer(tower_sessions::SessionManagerLayer::new(
            tower_sessions::MemoryStore::default(),
        ));
    let kit_tiered = setup.block_on(async {
        let cache = RedisStore::connect(&redis_url)
            .await
            .expect("redis")
            .with_prefix("load:kit:");
        let durable = PostgresStore::connect(&postgres_url)
            .await
            .expect("postgres");
        durable.migrate().await.expect("migrates");
        Router::new()
            .route("/read", get(kit::server_cart_read))
            .route("/rw", get(kit::server_cart))
            .layer(SessionLayer::<ServerCart>::with_store(
                key(),
                Tiered::new(cache, durable),
            ))
    });
    let ts_tiered = setup.block_on(async {
        use tower_sessions_redis_store::fred::prelude::*;
        let pool = Pool::new(
            Config::from_url(&redis_url).expect("url"),
            None,
            None,
            None,
            2,
        )
        .expect("fred pool");
        let _connection = pool.connect();
        pool.wait_for_connect().await.expect("redis");
        let cache = tower_sessions_redis_store::RedisStore::new(pool);
        let pg = sqlx::PgPool::connect(&postgres_url)
            .await
            .expect("postgres");
        let durable = tower_sessions_sqlx_store::PostgresStore::new(pg);
        durable.migrate().await.expect("migrates");
        Router::new()
            .route("/read", get(peers::tower_sessions_014_read))
            .route("/rw", get(peers::tower_sessions_014_rw))
            .layer(tower_sessions_014::SessionManagerLayer::new(
                tower_sessions_014::CachingSessionStore::new(cache, durable),
            ))
    });
    let configs: Vec<(&str, Router)> = vec![
        ("sessionkit, sealed cookie (encrypted)", kit_cookie),
        ("tower-sessions 0.15, MemoryStore", ts_memory),
        ("sessionkit, Tiered Redis + PostgreSQL", kit_tiered),
        (
            "tower-sessions 0.14, CachingSessionStore(Redis, PostgreSQL)",
            ts_tiered,
        ),
    ];
    println!(
        "### Load over loopback sockets: {connections} keep-alive connections, {seconds} s per configuration, 4 reads : 1 write of the 131-byte cart\n"
    );
    println!(
        "| configuration | requests/s | p50 µs | p99 µs | p99.9 µs | errors | CPU µs per request: bench process (client + server) / redis-server / postgres |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut rates = Vec::new();
    for (name, app) in configs {
        let mut report = run(app, connections, seconds);
        let rate = report.requests as f64 / report.seconds;
        let p50 = percentile(&mut report.latencies, 0.5);
        let p99 = percentile(&mut report.latencies, 0.99);
        let p999 = percentile(&mut report.latencies, 0.999);
        let per = report
            .cpu
            .map(|secs| secs * 1e6 / report.requests.max(1) as f64);
        println!(
            "| {name} | {rate:.0} | {p50:.0} | {p99:.0} | {p999:.0} | {} of {} | {:.1} / {:.1} / {:.1} |",
            report.errors, report.requests, per[0], per[1], per[2]
        );
        rates.push((rate, p99));
    }
    println!("\n| target | measured | met |\n| --- | --- | --- |");
    for (label, ours, theirs) in [
        ("cookie path", rates[0], rates[1]),
        ("Tiered Redis + PostgreSQL", rates[2], rates[3]),
    ] {
        let ratio = ours.0 / theirs.0;
        println!(
            "| {label}: ≥ 1.5× tower-sessions' requests/s | {ratio:.2}× | {} |",
            if ratio >= 1.5 { "yes" } else { "**no**" }
        );
        println!(
            "| {label}: p99 ≤ tower-sessions' ({:.0} µs) | {:.0} µs | {} |",
            theirs.1,
            ours.1,
            if ours.1 <= theirs.1 { "yes" } else { "**no**" }
        );
    }
}
