//! The server tier side by side, on the same local Redis and PostgreSQL:
//! sessionkit's RedisStore, PostgresStore and Tiered Redis + PostgreSQL
//! against tower-sessions 0.14 with tower-sessions-redis-store 0.16 and
//! tower-sessions-sqlx-store 0.15 (the newest releases that build
//! together). One client, sequential requests through the in-process
//! service, configurations interleaved; every store call is counted where
//! it reaches the real store.
//!
//! A second table measures what "log out everywhere" costs a session that
//! lives in a cookie: the same cart with a `#[session(user)]` field, with
//! and without `with_user_revocation` on each store (one store read per
//! request that loads a session with a user).
//!
//! Needs `SESSIONKIT_REDIS_URL` and `SESSIONKIT_POSTGRES_URL` (from
//! `tests/servers.sh`; `benches/run.sh` starts them).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use session_runtime::store::{NearCache, PostgresStore, RedisStore};
use session_runtime::{SessionLayer, SessionStore, Tiered};
use sessionkit_benches::peers;
use sessionkit_benches::sessionkit::{self as kit, key};
use sessionkit_benches::tower_sessions_counted::Counted;
use sessionkit_benches::{ServerCart, UserCart, knobs, median};
use sessionkit_tests::probe::Probe;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tower::ServiceExt as _;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run benches/run.sh, which starts the servers")
    })
}

fn routes_kit() -> Router {
    Router::new()
        .route("/read", get(kit::server_cart_read))
        .route("/rw", get(kit::server_cart))
}

fn routes_user_cart() -> Router {
    Router::new()
        .route("/read", get(kit::user_cart_read))
        .route("/rw", get(kit::user_cart))
}

fn routes_ts() -> Router {
    Router::new()
        .route("/read", get(peers::tower_sessions_014_read))
        .route("/rw", get(peers::tower_sessions_014_rw))
}

/// Store calls so far: (cache reads, cache writes, durable reads, durable
/// writes); a single-store configuration counts as durable.
type Snapshot = [usize; 4];

/// Which table a configuration belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Server-side sessions, side by side with tower-sessions.
    Server,
    /// A sealed cookie with a user, with and without user revocation.
    Revocation,
}

struct Config {
    name: &'static str,
    group: Group,
    app: Router,
    cookie: String,
    calls: Box<dyn Fn() -> Snapshot>,
}

fn probe_calls<S>(probe: &Probe<S>) -> [usize; 2]
where
    S: SessionStore,
{
    let state = probe.state();
    [
        state.loads.load(Ordering::SeqCst),
        state.writes.load(Ordering::SeqCst) + state.deletes.load(Ordering::SeqCst),
    ]
}

async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Option<String> {
    let mut builder = Request::get(uri);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(builder.body(Body::empty()).expect("valid"))
        .await
        .expect("infallible");
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    response.headers().get("set-cookie").map(|v| {
        v.to_str()
            .expect("ascii")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    })
}

struct Measured {
    micros: Vec<f64>,
    calls: Snapshot,
    set_cookies: usize,
    requests: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (rounds, per_round) = knobs(7, 150);
    let redis_url = env("SESSIONKIT_REDIS_URL");
    let postgres_url = env("SESSIONKIT_POSTGRES_URL");

    let kit_redis = || async {
        Probe::new(
            RedisStore::connect(&redis_url)
                .await
                .expect("redis")
                .with_prefix("bench:kit:"),
        )
    };
    let kit_postgres = || async {
        let store = PostgresStore::connect(&postgres_url)
            .await
            .expect("postgres");
        store.migrate().await.expect("migrates");
        Probe::new(store)
    };
    let near_bytes = std::num::NonZeroUsize::new(64 << 20).unwrap();
    let near_redis = || async {
        RedisStore::connect(&redis_url)
            .await
            .expect("redis")
            .with_prefix("bench:kit:")
            .with_near_cache(near_bytes)
            .await
            .expect("redis tracking")
    };
    let near_postgres = || async {
        let store = PostgresStore::connect(&postgres_url)
            .await
            .expect("postgres");
        store.migrate().await.expect("migrates");
        store.with_near_cache(near_bytes).await.expect("listens")
    };
    // what reached the store behind a near cache: its misses, and the
    // writes the layer made (all of which reach the store)
    fn near_calls<S: Send + Sync + 'static>(
        near: &NearCache<S>,
        probe: &Probe<NearCache<S>>,
    ) -> [usize; 2]
    where
        NearCache<S>: SessionStore,
    {
        let [_, writes] = probe_calls(probe);
        [near.stats().misses as usize, writes]
    }
    let mut configs = Vec::new();
    {
        let store = kit_redis().await;
        let probe = store.clone();
        configs.push((
            Group::Server,
            "sessionkit RedisStore",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(key(), store)),
            Box::new(move || {
                let [r, w] = probe_calls(&probe);
                [0, 0, r, w]
            }) as Box<dyn Fn() -> Snapshot>,
        ));
    }
    {
        let store = kit_postgres().await;
        let probe = store.clone();
        configs.push((
            Group::Server,
            "sessionkit PostgresStore",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(key(), store)),
            Box::new(move || {
                let [r, w] = probe_calls(&probe);
                [0, 0, r, w]
            }),
        ));
    }
    {
        let cache = kit_redis().await;
        let durable = kit_postgres().await;
        let (c, d) = (cache.clone(), durable.clone());
        configs.push((
            Group::Server,
            "sessionkit Tiered Redis + PostgreSQL",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(
                key(),
                Tiered::new(cache, durable),
            )),
            Box::new(move || {
                let [cr, cw] = probe_calls(&c);
                let [dr, dw] = probe_calls(&d);
                [cr, cw, dr, dw]
            }),
        ));
    }
    {
        let near = near_redis().await;
        let probe = Probe::new(near.clone());
        let counted = probe.clone();
        configs.push((
            Group::Server,
            "sessionkit RedisStore + near cache",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(key(), probe)),
            Box::new(move || {
                let [r, w] = near_calls(&near, &counted);
                [0, 0, r, w]
            }),
        ));
    }
    {
        let near = near_postgres().await;
        let probe = Probe::new(near.clone());
        let counted = probe.clone();
        configs.push((
            Group::Server,
            "sessionkit PostgresStore + near cache",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(key(), probe)),
            Box::new(move || {
                let [r, w] = near_calls(&near, &counted);
                [0, 0, r, w]
            }),
        ));
    }
    {
        let (cache, durable) = (near_redis().await, near_postgres().await);
        let (c, d) = (Probe::new(cache.clone()), Probe::new(durable.clone()));
        let (cc, dc) = (c.clone(), d.clone());
        configs.push((
            Group::Server,
            "sessionkit Tiered Redis + PostgreSQL, near caches",
            routes_kit().layer(SessionLayer::<ServerCart>::with_store(
                key(),
                Tiered::new(c, d),
            )),
            Box::new(move || {
                let [cr, cw] = near_calls(&cache, &cc);
                let [dr, dw] = near_calls(&durable, &dc);
                [cr, cw, dr, dw]
            }),
        ));
    }
    {
        use tower_sessions_redis_store::fred::prelude::*;
        let config = Config::from_url(&redis_url).expect("redis url");
        let pool = Pool::new(config, None, None, None, 1).expect("fred pool");
        let _connection = pool.connect();
        pool.wait_for_connect().await.expect("redis");
        let store = Counted::new(tower_sessions_redis_store::RedisStore::new(pool));
        let calls = store.calls.clone();
        configs.push((
            Group::Server,
            "tower-sessions 0.14 + tower-sessions-redis-store 0.16",
            routes_ts().layer(tower_sessions_014::SessionManagerLayer::new(store)),
            Box::new(move || {
                [
                    0,
                    0,
                    calls.loads.load(Ordering::SeqCst),
                    calls.writes.load(Ordering::SeqCst) + calls.deletes.load(Ordering::SeqCst),
                ]
            }),
        ));
    }
    {
        let pool = sqlx::PgPool::connect(&postgres_url)
            .await
            .expect("postgres");
        let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
        store.migrate().await.expect("migrates");
        let store = Counted::new(store);
        let calls = store.calls.clone();
        configs.push((
            Group::Server,
            "tower-sessions 0.14 + tower-sessions-sqlx-store 0.15 (PostgreSQL)",
            routes_ts().layer(tower_sessions_014::SessionManagerLayer::new(store)),
            Box::new(move || {
                [
                    0,
                    0,
                    calls.loads.load(Ordering::SeqCst),
                    calls.writes.load(Ordering::SeqCst) + calls.deletes.load(Ordering::SeqCst),
                ]
            }),
        ));
    }
    configs.push((
        Group::Revocation,
        "sealed cookie, no revocation",
        routes_user_cart().layer(SessionLayer::<UserCart>::new(key())),
        Box::new(|| [0; 4]),
    ));
    {
        let store = kit_redis().await;
        let probe = store.clone();
        configs.push((
            Group::Revocation,
            "sealed cookie + user revocation on RedisStore",
            routes_user_cart()
                .layer(SessionLayer::<UserCart>::new(key()).with_user_revocation(store)),
            Box::new(move || {
                let [r, w] = probe_calls(&probe);
                [0, 0, r, w]
            }),
        ));
    }
    {
        let store = kit_postgres().await;
        let probe = store.clone();
        configs.push((
            Group::Revocation,
            "sealed cookie + user revocation on PostgresStore",
            routes_user_cart()
                .layer(SessionLayer::<UserCart>::new(key()).with_user_revocation(store)),
            Box::new(move || {
                let [r, w] = probe_calls(&probe);
                [0, 0, r, w]
            }),
        ));
    }
    configs.push(near_revocation(
        "sealed cookie + user revocation on RedisStore + near cache",
        near_redis().await,
    ));
    configs.push(near_revocation(
        "sealed cookie + user revocation on PostgresStore + near cache",
        near_postgres().await,
    ));
    let mut configs: Vec<Config> = {
        let mut primed = Vec::new();
        for (group, name, app, calls) in configs {
            let cookie = send(&app, "/rw", None)
                .await
                .expect("the first write sets a cookie");
            primed.push(Config {
                name,
                group,
                app,
                cookie,
                calls,
            });
        }
        primed
    };

    let kinds = ["/read", "/rw"];
    let mut results: Vec<[Measured; 2]> = configs
        .iter()
        .map(|_| {
            [0, 1].map(|_| Measured {
                micros: Vec::new(),
                calls: [0; 4],
                set_cookies: 0,
                requests: 0,
            })
        })
        .collect();
    for round in 0..=rounds {
        for (c, config) in configs.iter_mut().enumerate() {
            for (k, uri) in kinds.iter().enumerate() {
                let before = (config.calls)();
                let start = Instant::now();
                let mut set_cookies = 0;
                for _ in 0..per_round {
                    if let Some(set) = send(&config.app, uri, Some(&config.cookie)).await {
                        set_cookies += 1;
                        config.cookie = set;
                    }
                }
                let took = start.elapsed();
                let after = (config.calls)();
                if round == 0 {
                    continue; // warm-up
                }
                let m = &mut results[c][k];
                m.micros
                    .push(took.as_secs_f64() * 1e6 / f64::from(per_round));
                for i in 0..4 {
                    m.calls[i] += after[i] - before[i];
                }
                m.set_cookies += set_cookies;
                m.requests += per_round as usize;
            }
        }
    }
    black_box(&results);

    println!(
        "### Server tier, 131-byte cart (µs per request, median of {rounds} interleaved rounds of {per_round}; one client, sequential)\n"
    );
    println!(
        "| configuration | read: µs | read: store calls per request | read + write: µs | read + write: store calls per request | Set-Cookie on writes |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let per = |m: &Measured| {
        let n = m.requests as f64;
        let [cr, cw, dr, dw] = m.calls.map(|c| c as f64 / n);
        let mut parts = Vec::new();
        if cr + cw > 0.0 {
            parts.push(format!("cache {cr:.2} reads, {cw:.2} writes"));
            parts.push(format!("durable {dr:.2} reads, {dw:.2} writes"));
        } else {
            parts.push(format!("{dr:.2} reads, {dw:.2} writes"));
        }
        parts.join("; ")
    };
    let mut checks = Vec::new();
    let mut revocation = Vec::new();
    for (config, [read, write]) in configs.iter().zip(results.into_iter()) {
        if config.group == Group::Revocation {
            revocation.push((config.name, read, write));
            continue;
        }
        if config.name == "sessionkit Tiered Redis + PostgreSQL" {
            let n = |m: &Measured, i: usize| m.calls[i] as f64 / m.requests as f64;
            checks.push((
                "hit: 1 cache read, nothing else",
                n(&read, 0) == 1.0 && n(&read, 1) + n(&read, 2) + n(&read, 3) == 0.0,
            ));
            checks.push(("unchanged: 0 writes", n(&read, 1) + n(&read, 3) == 0.0));
            checks.push((
                "changed: 1 durable + 1 cache write (1 cache read)",
                n(&write, 0) == 1.0
                    && n(&write, 1) == 1.0
                    && n(&write, 2) == 0.0
                    && n(&write, 3) == 1.0,
            ));
        }
        if config.name.starts_with("sessionkit") {
            checks.push((config.name, write.set_cookies == 0));
        }
        println!(
            "| {} | {:.0} | {} | {:.0} | {} | {} of {} |",
            config.name,
            median(read.micros.clone()),
            per(&read),
            median(write.micros.clone()),
            per(&write),
            write.set_cookies,
            write.requests
        );
    }
    println!("\n| target | met |\n| --- | --- |");
    for (what, ok) in checks {
        let what = if what.starts_with("sessionkit") {
            format!("{what}: no Set-Cookie on a write that keeps the ID and the expiry")
        } else {
            format!("Tiered store calls per request, {what}")
        };
        println!("| {what} | {} |", if ok { "yes" } else { "**no**" });
    }
    print_revocation(rounds, per_round, &revocation);
}

/// A cookie session checked against revocation times behind a near cache;
/// the store reads are the cache's misses.
fn near_revocation<S>(
    name: &'static str,
    near: NearCache<S>,
) -> (Group, &'static str, Router, Box<dyn Fn() -> Snapshot>)
where
    S: Clone + Send + Sync + 'static,
    NearCache<S>: session_runtime::store::RevocationTimes,
{
    let counted = near.clone();
    (
        Group::Revocation,
        name,
        routes_user_cart().layer(SessionLayer::<UserCart>::new(key()).with_user_revocation(near)),
        Box::new(move || [0, 0, counted.stats().misses as usize, 0]),
    )
}

/// The cost of `with_user_revocation` for a cookie session with a user:
/// µs over the same layer without it, and store reads per request.
fn print_revocation(rounds: usize, per_round: u32, rows: &[(&str, Measured, Measured)]) {
    println!(
        "\n### Log out everywhere for sessions in a cookie: the revocation check (the 131-byte cart with a `#[session(user)]`, encrypted; median of {rounds} interleaved rounds of {per_round}, sequential)\n"
    );
    println!(
        "| configuration | read: µs | read + write: µs | store reads per request | added to a read |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let Some((_, base, _)) = rows.first() else {
        return;
    };
    let base = median(base.micros.clone());
    let mut checks = Vec::new();
    for (name, read, write) in rows {
        let reads =
            (read.calls[2] + write.calls[2]) as f64 / (read.requests + write.requests) as f64;
        let read_micros = median(read.micros.clone());
        println!(
            "| {name} | {read_micros:.1} | {:.1} | {reads:.2} | {} |",
            median(write.micros.clone()),
            if name.contains("revocation on") {
                format!("{:+.1} µs", read_micros - base)
            } else {
                "baseline".to_owned()
            }
        );
        if name.contains("near cache") {
            // a hit: no round trip, and at most 2 µs over no check at all
            let added = read_micros - base;
            checks.push((
                format!("{name}: the check adds ≤ 2 µs on a near-cache hit ({added:+.1} µs, {reads:.2} store reads per request)"),
                added <= 2.0 && reads < 0.01,
            ));
        } else if name.contains("revocation on") {
            checks.push((
                format!("{name}: one store read per request that loads a session with a user"),
                reads == 1.0,
            ));
        }
    }
    println!("\n| target | met |\n| --- | --- |");
    for (target, ok) in checks {
        println!("| {target} | {} |", if ok { "yes" } else { "**no**" });
    }
}
