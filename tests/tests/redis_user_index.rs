//! A user with 100,000 sessions on Redis: listed and revoked in bounded
//! rounds (the server's own command counts say so: hundreds of bounded
//! `SSCAN` and `SPOP` calls, no `SMEMBERS`), while another client's loads
//! are timed for the figure line. A binary of its own, so no other test's
//! traffic shares the server while it runs. Latency is reported, not
//! asserted: on a loaded machine it measures the machine.

use session_runtime::id::{SessionId, StoreKey};
use session_runtime::store::RedisStore;
use session_runtime::{CacheStore, Entry, Lookup, SessionStore, UserIndex};
use sessionkit_tests::servers::address;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SESSIONS: usize = 100_000;
const COOKIE: &str = "__Host-many";
const BATCH: usize = 1_000;
/// Concurrent creates over the store's one multiplexed connection: the
/// client pipelines them.
const WRITERS: usize = 64;
/// The most members one `SSCAN` page or `SPOP` round may touch (the
/// store's round size is smaller).
const MAX_ROUND: u64 = 1_000;

/// How many times the server has run `command` (`INFO commandstats`,
/// which counts commands run by scripts too).
async fn calls(url: &str, command: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What the probe saw: requests made, their worst and 99th percentile
/// latency.
struct Probed {
    requests: usize,
    worst: Duration,
    p99: Duration,
}

/// Loads another session over a connection of its own, on a thread and a
/// runtime of its own (so the test's own work never delays it), until
/// `stop`: the latency any other request sees.
fn probe(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Probed> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = RedisStore::connect(&url).await.unwrap();
            let other = SessionId::generate().unwrap().store_key();
            assert!(
                store
                    .create(&other, Entry::new(b"another user's", now() + 300))
                    .await
                    .unwrap()
            );
            let mut latencies = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let began = Instant::now();
                let loaded = store.load(&other, now()).await.unwrap();
                latencies.push(began.elapsed());
                assert!(loaded.is_some());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            store.delete(&other).await.unwrap();
            latencies.sort();
            Probed {
                requests: latencies.len(),
                worst: latencies.last().copied().unwrap_or_default(),
                p99: latencies
                    .get(latencies.len() * 99 / 100)
                    .copied()
                    .unwrap_or_default(),
            }
        })
    })
}

/// One thread for the test's own client work (parsing pages is most of it
/// in a debug build), so the probe and the server keep a core between them.
#[tokio::test]
async fn a_user_with_100k_redis_sessions_is_listed_and_revoked_without_blocking_the_server() {
    let Some(url) = address("SESSIONKIT_REDIS_URL") else {
        return;
    };
    let store = Arc::new(RedisStore::connect(&url).await.unwrap());
    let user = format!(
        "many-{}",
        &SessionId::generate().unwrap().store_key().to_hex()[..8]
    );
    let now = now();
    // expiring by themselves a few minutes after the test
    let expires_at = now + 300;

    // 100,000 sessions, last seen at 1,000 distinct times
    let began = Instant::now();
    let keys: Vec<StoreKey> = (0..SESSIONS)
        .map(|_| SessionId::generate().unwrap().store_key())
        .collect();
    let keys = Arc::new(keys);
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, keys, user) = (Arc::clone(&store), Arc::clone(&keys), user.clone());
        writers.spawn(async move {
            for i in (writer..SESSIONS).step_by(WRITERS) {
                let seen = now - 1_000 + (i % 1_000) as u64;
                let entry = Entry::new(b"sealed", expires_at).with_user(COOKIE, Some(&user), seen);
                assert!(store.create(&keys[i], entry).await.unwrap());
            }
        });
    }
    writers.join_all().await;
    let created = began.elapsed();

    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(url.clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(50)).await;

    let (sscan, spop, smembers) = (
        calls(&url, "sscan").await,
        calls(&url, "spop").await,
        calls(&url, "smembers").await,
    );
    let began = Instant::now();
    let listed = store.user_sessions(COOKIE, &user, now).await.unwrap();
    let list_time = began.elapsed();
    assert_eq!(listed.len(), SESSIONS, "every live session, once");
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].updated_at >= w[1].updated_at),
        "most recently seen first"
    );
    assert_eq!(listed[0].updated_at, now - 1);

    let keep = keys[0];
    let began = Instant::now();
    let mut batches = Vec::new();
    loop {
        let revoked = store
            .revoke_user(COOKIE, &user, Some(&keep), BATCH)
            .await
            .unwrap();
        batches.push(revoked);
        if revoked < BATCH {
            break;
        }
    }
    let revoke_time = began.elapsed();
    stop.store(true, Ordering::SeqCst);
    let probed = prober.join().unwrap();

    assert!(
        batches.iter().all(|&n| n <= BATCH),
        "bounded batches: {batches:?}"
    );
    assert_eq!(batches.iter().sum::<usize>(), SESSIONS - 1);
    let left = store.user_sessions(COOKIE, &user, now).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key, keep, "the excepted session stays");
    for key in [keys[1], keys[SESSIONS / 2], keys[SESSIONS - 1]] {
        assert_eq!(
            store.lookup(&key, now, None).await.unwrap(),
            Lookup::Gone,
            "a revoked session leaves a tombstone, as a delete does"
        );
    }
    store.delete(&keep).await.unwrap();
    // bounded rounds, by the server's count: each page or round touches at
    // most MAX_ROUND members, so there are at least SESSIONS / MAX_ROUND of
    // each, and nothing read the whole set at once
    let pages = calls(&url, "sscan").await - sscan;
    let rounds = calls(&url, "spop").await - spop;
    assert!(
        pages >= SESSIONS as u64 / MAX_ROUND,
        "listed in {pages} SSCAN pages: not bounded rounds"
    );
    assert!(
        rounds >= (SESSIONS as u64 - 1) / MAX_ROUND,
        "revoked in {rounds} SPOP rounds: not bounded rounds"
    );
    assert_eq!(
        calls(&url, "smembers").await,
        smembers,
        "no SMEMBERS of the user's set"
    );
    sessionkit_tests::figure(&format!(
        "redis user index: {SESSIONS} sessions of one user (created in {:.1} s), listed in {:.0} ms, \
         revoked in {} batches of at most {BATCH} in {:.1} s ({pages} SSCAN pages, {rounds} SPOP rounds); \
         another client's {} loads meanwhile: worst {:.1} ms, p99 {:.1} ms",
        created.as_secs_f64(),
        list_time.as_secs_f64() * 1e3,
        batches.len(),
        revoke_time.as_secs_f64(),
        probed.requests,
        probed.worst.as_secs_f64() * 1e3,
        probed.p99.as_secs_f64() * 1e3,
    ));
}
