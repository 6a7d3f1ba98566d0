//! Outages fail fast and lose nothing: store timeouts, the circuit breaker,
//! a cache outage served by the durable store, and real servers killed
//! with SIGKILL under load. Each scenario prints one figure line.

use axum::Router;
use axum::http::StatusCode;
use session_runtime::store::{MemcachedStore, PostgresStore, RedisStore, SqliteStore};
use session_runtime::{MemoryStore, SessionLayer, Tiered};
use sessionkit_tests::http::{percentile, send};
use sessionkit_tests::key;
use sessionkit_tests::probe::Probe;
use sessionkit_tests::process::OwnServer;
use sessionkit_tests::servers::address;
use sessionkit_tests::stores::NEAR_BYTES;
use sessionkit_tests::wide::{self, Wide};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WIDE: &str = "__Host-wide";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_fails_fast_then_is_skipped() {
    let store = Probe::new(SqliteStore::in_memory().await.unwrap());
    let layer = SessionLayer::<Wide>::with_store(key(), store.clone())
        .with_store_timeout(Duration::from_millis(100))
        .unwrap();
    let app = wide::app(layer);
    let cookie = wide::login(&app, 1).await;

    store.set_hung(true);
    let mut waits = Vec::new();
    for _ in 0..3 {
        let began = Instant::now();
        let reply = send(&app, "GET", "/user", Some((WIDE, &cookie))).await;
        waits.push(began.elapsed());
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.body.contains("unavailable"), "{}", reply.body);
    }
    // three failures in a row: the store is skipped, nobody waits
    let calls = store.state().loads.load(Ordering::SeqCst);
    let began = Instant::now();
    let skipped = send(&app, "POST", "/set/1", Some((WIDE, &cookie))).await;
    let skipped_in = began.elapsed();
    assert_eq!(skipped.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        store.state().loads.load(Ordering::SeqCst),
        calls,
        "not called"
    );
    sessionkit_tests::figure(&format!(
        "hung store, 100 ms timeout: 3 requests answered 503 in {:?} max; then skipped, answered in {skipped_in:?}",
        waits.iter().max().unwrap()
    ));
    assert!(
        waits.iter().all(|wait| *wait < Duration::from_secs(2)),
        "{waits:?}"
    );

    // back: after the open period one probe goes through and closes it
    store.set_hung(false);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reply = send(&app, "GET", "/user", Some((WIDE, &cookie))).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "Some(1)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_outage_is_served_by_the_durable_store() {
    let cache = Probe::new(MemoryStore::default());
    let store = Tiered::new(cache.clone(), SqliteStore::in_memory().await.unwrap())
        .with_cache_timeout(Duration::from_millis(50))
        .unwrap();
    let app = wide::app(SessionLayer::<Wide>::with_store(key(), store));
    let cookie = wide::login(&app, 2).await;

    cache.set_hung(true);
    let mut waits = Vec::new();
    for i in 0..10 {
        let began = Instant::now();
        let write = send(&app, "POST", &format!("/set/{i}"), Some((WIDE, &cookie))).await;
        let read = send(&app, "GET", "/user", Some((WIDE, &cookie))).await;
        waits.push(began.elapsed());
        assert_eq!(
            (write.status, read.status),
            (StatusCode::OK, StatusCode::OK)
        );
        assert_eq!(read.body, "Some(2)");
    }
    let calls = cache.state().loads.load(Ordering::SeqCst);
    send(&app, "GET", "/user", Some((WIDE, &cookie))).await;
    assert_eq!(
        cache.state().loads.load(Ordering::SeqCst),
        calls,
        "a failing cache is skipped"
    );
    sessionkit_tests::figure(&format!(
        "hung cache (50 ms timeout) over SQLite: 20 requests, all 200 from the durable store, slowest pair {:?}",
        waits.iter().max().unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_comes_back_never_serves_what_it_held_before() {
    let cache = Probe::new(MemoryStore::default());
    let durable = SqliteStore::in_memory().await.unwrap();
    let app = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(cache.clone(), durable),
    ));
    let cookie = wide::login(&app, 3).await;
    let before = send(&app, "GET", "/fields", Some((WIDE, &cookie)))
        .await
        .body;
    assert!(before.starts_with("0|0,"), "{before}");

    // the cache is unreachable (but keeps its entry) while a write lands
    cache.set_down(true);
    assert_eq!(
        send(&app, "POST", "/set/0", Some((WIDE, &cookie)))
            .await
            .status,
        StatusCode::OK
    );
    // a logout cannot tell the cache: it follows the outage policy
    let other = wide::login(&app, 4).await;
    let logout = send(&app, "POST", "/logout", Some((WIDE, &other))).await;
    assert_eq!(logout.status, StatusCode::SERVICE_UNAVAILABLE);

    cache.set_down(false);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = send(&app, "GET", "/fields", Some((WIDE, &cookie)))
        .await
        .body;
    assert!(
        after.starts_with("0|1,"),
        "the write made during the outage is seen: {after}"
    );
    // the logout that answered 503 is retried and now holds
    assert_eq!(
        send(&app, "POST", "/logout", Some((WIDE, &other)))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "GET", "/user", Some((WIDE, &other))).await.body,
        "None"
    );
}

/// One shopper: logs in, then writes (an increment) and reads, and now and
/// then logs out and in again, counting what was acknowledged.
#[derive(Default)]
struct Shopper {
    cookie: String,
    acked_hits: u64,
    stale_reads: usize,
    terminated: Vec<String>,
    errors_5xx_other_than_503: usize,
}

struct Sample {
    at: Instant,
    took: Duration,
    status: StatusCode,
}

async fn shop(app: Router, user: u64, stop: Arc<AtomicBool>) -> (Shopper, Vec<Sample>) {
    let mut me = Shopper {
        cookie: wide::login(&app, user).await,
        ..Shopper::default()
    };
    let mut samples = Vec::new();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let (uri, method) = match round % 12 {
            0 => ("/logout", "POST"),
            n if n % 2 == 1 => ("/hit", "POST"),
            _ => ("/fields", "GET"),
        };
        let began = Instant::now();
        let reply = send(&app, method, uri, Some((WIDE, &me.cookie))).await;
        samples.push(Sample {
            at: began,
            took: began.elapsed(),
            status: reply.status,
        });
        match reply.status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                // not done (or, for a logout, maybe half done): retry it,
                // as the 503 asks
                round -= 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            _ => {
                me.errors_5xx_other_than_503 += 1;
                continue;
            }
        }
        match uri {
            "/hit" => me.acked_hits += 1,
            "/fields" => {
                let hits: u64 = reply.body.split('|').next().unwrap().parse().unwrap();
                if hits < me.acked_hits {
                    me.stale_reads += 1;
                }
            }
            _ => {
                // logged out: this cookie must stay dead; start again
                me.terminated.push(std::mem::take(&mut me.cookie));
                me.acked_hits = 0;
                loop {
                    let reply = send(&app, "POST", &format!("/login/{user}"), None).await;
                    if let (StatusCode::OK, Some(cookie)) = (reply.status, reply.set_cookie) {
                        me.cookie = cookie;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (me, samples)
}

/// Takes a server down (`true`) or brings it back (`false`).
type Toggle = Box<dyn FnMut(bool) + Send>;

/// The fault-injection run: 16 shoppers on one app while each fault in
/// turn takes a server down for 2 seconds and brings it back.
async fn under_fire(label: &str, app: &Router, faults: Vec<(&str, Toggle)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let shoppers: Vec<_> = (0..16)
        .map(|user| tokio::spawn(shop(app.clone(), user, Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut windows = Vec::new();
    for (name, mut fault) in faults {
        let down = Instant::now();
        tokio::task::block_in_place(|| fault(true));
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::task::block_in_place(|| fault(false));
        let up = Instant::now();
        windows.push((name, down, up));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for shopper in shoppers {
        all.push(shopper.await.unwrap());
    }
    // after recovery: nothing acknowledged lost, no terminated session back
    let mut lost = 0;
    let mut revived = 0;
    let mut stale = 0;
    let mut bad = 0;
    let mut terminated = 0;
    for (me, _) in &all {
        let shown = send(app, "GET", "/fields", Some((WIDE, &me.cookie))).await;
        assert_eq!(
            shown.status,
            StatusCode::OK,
            "{label}: served after recovery"
        );
        let hits: u64 = shown.body.split('|').next().unwrap().parse().unwrap();
        if hits < me.acked_hits {
            lost += me.acked_hits - hits;
        }
        for old in &me.terminated {
            terminated += 1;
            if send(app, "GET", "/user", Some((WIDE, old))).await.body != "None" {
                revived += 1;
            }
        }
        stale += me.stale_reads;
        bad += me.errors_5xx_other_than_503;
    }
    let requests: usize = all.iter().map(|(_, samples)| samples.len()).sum();
    for (name, down, up) in &windows {
        let mut during: Vec<Duration> = all
            .iter()
            .flat_map(|(_, samples)| samples.iter())
            .filter(|s| s.at >= *down && s.at <= *up)
            .map(|s| s.took)
            .collect();
        let unavailable = all
            .iter()
            .flat_map(|(_, samples)| samples.iter())
            .filter(|s| s.at >= *down && s.at <= *up && s.status == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        let n = during.len();
        let p99 = percentile(&mut during, 99);
        sessionkit_tests::figure(&format!(
            "{label}, {name} SIGKILLed for 2 s under 16 clients: {n} requests in the window, {unavailable} answered 503, p99 {p99:?}"
        ));
        assert!(
            p99 < Duration::from_secs(3),
            "{label}/{name}: requests wait for a dead server"
        );
    }
    sessionkit_tests::figure(&format!(
        "{label} after recovery: {requests} requests, {lost} acknowledged writes lost, {stale} stale reads, {revived} of {terminated} terminated sessions back, {bad} 5xx other than 503"
    ));
    assert_eq!((lost, stale, revived, bad), (0, 0, 0, 0), "{label}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_redis_memcached_and_postgres_under_load_loses_nothing() {
    let (Some(redis_bin), Some(memcached_bin), Some(pg_bin)) = (
        address("SESSIONKIT_REDIS_BIN"),
        address("SESSIONKIT_MEMCACHED_BIN"),
        address("SESSIONKIT_POSTGRES_BIN"),
    ) else {
        return;
    };
    let redis = Arc::new(std::sync::Mutex::new(OwnServer::redis(&redis_bin)));
    let memcached = Arc::new(std::sync::Mutex::new(OwnServer::memcached(&memcached_bin)));
    let postgres = Arc::new(std::sync::Mutex::new(OwnServer::postgres(&pg_bin)));
    let pg_url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        postgres.lock().unwrap().port()
    );
    let durable = PostgresStore::connect(&pg_url).await.unwrap();
    durable.migrate().await.unwrap();
    let redis_url = format!("redis://127.0.0.1:{}/", redis.lock().unwrap().port());
    let cache = RedisStore::connect(&redis_url).await.unwrap();
    let app = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(cache, durable.clone()),
    ));

    let toggle = |server: &Arc<std::sync::Mutex<OwnServer>>| -> Toggle {
        let server = Arc::clone(server);
        Box::new(move |down| {
            let mut server = server.lock().unwrap();
            if down {
                server.kill()
            } else {
                server.restart()
            }
        })
    };
    under_fire(
        "tiered redis+postgres",
        &app,
        vec![("redis", toggle(&redis)), ("postgres", toggle(&postgres))],
    )
    .await;

    // the same with a near cache on both tiers: each is dropped when its
    // channel breaks, and nothing it held from before is served again
    let near_durable = durable.clone().with_table("sessions_near_run").unwrap();
    near_durable.migrate().await.unwrap();
    let near_app = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(
            RedisStore::connect(&redis_url)
                .await
                .unwrap()
                .with_near_cache(NEAR_BYTES)
                .await
                .unwrap(),
            near_durable.with_near_cache(NEAR_BYTES).await.unwrap(),
        ),
    ));
    under_fire(
        "tiered redis near+postgres near",
        &near_app,
        vec![("redis", toggle(&redis)), ("postgres", toggle(&postgres))],
    )
    .await;

    let memcached_addr = format!("127.0.0.1:{}", memcached.lock().unwrap().port());
    let cache = MemcachedStore::connect([memcached_addr]).await.unwrap();
    let durable = durable.with_table("sessions_memcached_run").unwrap();
    durable.migrate().await.unwrap();
    let app = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(cache, durable),
    ));
    under_fire(
        "tiered memcached+postgres",
        &app,
        vec![("memcached", toggle(&memcached))],
    )
    .await;
}

/// A request pays at most one cache timeout: once a cache call of a
/// `Tiered` store times out, its other calls skip the cache (the breaker
/// of the cache opens at the first timeout), so a request that loads and
/// saves during a cache outage waits one timeout, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_pays_at_most_one_cache_timeout() {
    let cache = Probe::new(MemoryStore::default());
    let store = Tiered::new(cache.clone(), SqliteStore::in_memory().await.unwrap())
        .with_cache_timeout(Duration::from_millis(200))
        .unwrap();
    let app = wide::app(SessionLayer::<Wide>::with_store(key(), store));
    let cookie = wide::login(&app, 3).await;
    cache.set_hung(true);
    let calls = |cache: &Probe<MemoryStore>| {
        let state = cache.state();
        state.loads.load(Ordering::SeqCst)
            + state.writes.load(Ordering::SeqCst)
            + state.deletes.load(Ordering::SeqCst)
    };
    let before = calls(&cache);
    let began = Instant::now();
    // a load (from the cache: it hangs) and a save (to the database, then
    // the cache)
    let write = send(&app, "POST", "/set/5", Some((WIDE, &cookie))).await;
    let took = began.elapsed();
    assert_eq!(write.status, StatusCode::OK, "{}", write.body);
    assert_eq!(
        calls(&cache) - before,
        1,
        "one cache call waited for its timeout; the rest of the request skipped the cache"
    );
    cache.set_hung(false);
    sessionkit_tests::figure(&format!(
        "hung cache (200 ms timeout) over SQLite: a request that loads and saves made 1 cache call and took {took:?}"
    ));
}
