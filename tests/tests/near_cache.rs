//! The near cache from outside: two processes' caches over one Redis and
//! one PostgreSQL (two stores with connections of their own each, as two
//! processes have), writes and logouts on one seen by the other, and the
//! channel broken under it (a connection terminated, a server killed and
//! restarted empty) never leaving an entry served that may have missed a
//! change. Each scenario prints its figure.

use session_runtime::store::{
    CacheStore, NearCache, PostgresStore, RedisStore, RevocationTimes, SessionStore,
};
use sessionkit_tests::conformance::fresh_key as key;
use sessionkit_tests::near::{NOW, entry, within_a_second};
use sessionkit_tests::process::OwnServer;
use sessionkit_tests::servers::address;
use sessionkit_tests::stores::{self, NEAR_BYTES};
use std::time::{Duration, Instant};

fn p99(mut waits: Vec<Duration>) -> Duration {
    waits.sort();
    waits[waits.len() * 99 / 100]
}

/// Reads served from memory, writes and deletes by the other process
/// seen within the notification's delivery: `LOGOUTS` times, p99 printed.
const LOGOUTS: usize = 1_000;

async fn two_processes<S>(label: &str, a: &NearCache<S>, b: &NearCache<S>)
where
    NearCache<S>: SessionStore,
{
    // a read fills, the next is served from memory
    let k = key();
    assert!(a.create(&k, entry(b"one")).await.unwrap());
    // the create's own notification must not land after the fill below
    b.sync().await;
    assert_eq!(b.load(&k, *NOW).await.unwrap().unwrap().data, b"one");
    let hits = b.stats().hits;
    assert_eq!(b.load(&k, *NOW).await.unwrap().unwrap().data, b"one");
    assert_eq!(
        b.stats().hits,
        hits + 1,
        "{label}: the second read is a hit"
    );
    // held, but not past its expiry
    assert_eq!(b.load(&k, *NOW + 7200).await.unwrap(), None, "{label}");
    assert!(b.load(&k, *NOW).await.unwrap().is_some(), "{label}");

    // a write there is seen here
    a.save(&k, entry(b"two"), 1, *NOW).await.unwrap();
    let seen = within_a_second(async || {
        b.load(&k, *NOW)
            .await
            .unwrap()
            .is_some_and(|r| r.data == b"two")
    })
    .await;
    assert!(seen.is_some(), "{label}: the other process's write is seen");

    // logouts there are refused here, each within a notification's delivery
    let mut waits = Vec::with_capacity(LOGOUTS);
    for _ in 0..LOGOUTS {
        let k = key();
        assert!(a.create(&k, entry(b"x")).await.unwrap());
        assert!(b.load(&k, *NOW).await.unwrap().is_some());
        assert!(b.load(&k, *NOW).await.unwrap().is_some());
        assert!(a.delete(&k).await.unwrap());
        let refused = within_a_second(async || b.load(&k, *NOW).await.unwrap().is_none()).await;
        waits.push(refused.unwrap_or_else(|| panic!("{label}: a logout never reached the other")));
    }
    let p99 = p99(waits);
    let stats = b.stats();
    sessionkit_tests::figure(&format!(
        "near cache {label}, two processes: {LOGOUTS} logouts, refused by the other within p99 {p99:?}; \
         its cache: {} hits, {} misses, {} notifications, {} flushes",
        stats.hits, stats.misses, stats.invalidations, stats.flushes
    ));
    assert_eq!(stats.flushes, 0, "{label}: the channel never broke");
}

async fn revocations_reach_the_other<S>(label: &str, a: &NearCache<S>, b: &NearCache<S>)
where
    NearCache<S>: RevocationTimes,
{
    let user = format!("user-{}", key().to_hex());
    assert_eq!(b.revoked_before(&user).await.unwrap(), None);
    let hits = b.stats().hits;
    assert_eq!(b.revoked_before(&user).await.unwrap(), None);
    assert_eq!(b.stats().hits, hits + 1, "{label}: 'never revoked' is held");
    let revoked = a.revoke_before(&user, 500, 3600).await.unwrap();
    assert_eq!(a.revoked_before(&user).await.unwrap(), Some(revoked.before));
    let waited =
        within_a_second(async || b.revoked_before(&user).await.unwrap() == Some(revoked.before))
            .await
            .unwrap_or_else(|| panic!("{label}: a revocation never reached the other"));
    sessionkit_tests::figure(&format!(
        "near cache {label}: a user's revocation reached the other process after {waited:?}"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_near_caches_in_two_processes_stay_coherent() {
    let (Some(a), Some(b)) = (stores::redis_near().await, stores::redis_near().await) else {
        return;
    };
    two_processes("redis", &a, &b).await;
    revocations_reach_the_other("redis", &a, &b).await;

    // a write made here is read back here as written (Redis reports a
    // process's own writes to it too, so it is read again, not kept)
    let k = key();
    assert!(a.create(&k, entry(b"mine")).await.unwrap());
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"mine");
    a.save(&k, entry(b"mine too"), 1, *NOW).await.unwrap();
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"mine too");
    // and a write by the other process reaches it
    b.save(&k, entry(b"theirs"), 2, *NOW).await.unwrap();
    a.sync().await;
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"theirs");

    // a tombstone is held too, and a lookup of a deleted session is Gone
    let k = key();
    assert!(a.create(&k, entry(b"t")).await.unwrap());
    assert!(b.delete(&k).await.unwrap());
    assert_eq!(
        a.lookup(&k, *NOW, None).await.unwrap(),
        session_runtime::store::Lookup::Gone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_near_caches_in_two_processes_stay_coherent() {
    let Some(a) = stores::postgres_near("near_two").await else {
        return;
    };
    let b = a.store().clone().with_near_cache(NEAR_BYTES).await.unwrap();
    two_processes("postgres", &a, &b).await;
    revocations_reach_the_other("postgres", &a, &b).await;

    // a write made here is served here at once (its own notification,
    // at its version, keeps it)
    let k = key();
    assert!(a.create(&k, entry(b"mine")).await.unwrap());
    a.sync().await;
    let hits = a.stats().hits;
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"mine");
    assert_eq!(a.stats().hits, hits + 1, "its own write is held");

    // a process without a near cache (a tool, an older release) writes:
    // the trigger notifies all the same
    let plain: &PostgresStore = a.store();
    plain.save(&k, entry(b"theirs"), 1, *NOW).await.unwrap();
    a.sync().await;
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"theirs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_listener_drops_everything_until_it_is_back() {
    let Some(a) = stores::postgres_near("near_cut").await else {
        return;
    };
    let plain = a.store().clone();
    let k = key();
    assert!(a.create(&k, entry(b"before")).await.unwrap());
    assert_eq!(a.load(&k, *NOW).await.unwrap().unwrap().data, b"before");
    // cut the listening connection, then write while it is gone: the
    // notification of that write is lost with it
    let flushes = a.stats().flushes;
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .execute(plain.pool())
    .await
    .unwrap();
    plain.save(&k, entry(b"after"), 1, *NOW).await.unwrap();
    let noticed = within_a_second(async || a.stats().flushes > flushes)
        .await
        .expect("the cache notices its channel broke");
    assert_eq!(
        a.load(&k, *NOW).await.unwrap().unwrap().data,
        b"after",
        "nothing held from before the break is served"
    );
    let back = within_a_second(async || a.stats().connected).await;
    sessionkit_tests::figure(&format!(
        "near cache postgres: listener terminated, flushed after {noticed:?}, serving again after {back:?} more"
    ));
    assert!(back.is_some(), "the channel comes back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_never_serves_what_the_cache_held_before() {
    let Some(bin) = address("SESSIONKIT_REDIS_BIN") else {
        return;
    };
    let mut server = OwnServer::redis(&bin);
    let url = format!("redis://127.0.0.1:{}/", server.port());
    let near = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let k = key();
    assert!(near.create(&k, entry(b"held")).await.unwrap());
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    assert!(near.stats().entries > 0);

    // killed: its data is gone (no persistence), and so must be ours
    server.kill();
    let down = within_a_second(async || {
        let stats = near.stats();
        !stats.connected && stats.entries == 0
    })
    .await
    .expect("the cache notices the server is gone and drops everything");
    server.restart();
    let back = tokio::time::timeout(Duration::from_secs(10), async {
        let began = Instant::now();
        while !near.stats().connected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        began.elapsed()
    })
    .await
    .expect("tracking comes back with the server");
    // the store's own connection finds out on its first call (an error,
    // never stale data) and reconnects
    let mut loaded = near.load(&k, *NOW).await;
    for _ in 0..50 {
        if loaded.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        loaded = near.load(&k, *NOW).await;
    }
    assert_eq!(
        loaded.unwrap(),
        None,
        "the restarted server holds nothing, and nothing is revived"
    );
    sessionkit_tests::figure(&format!(
        "near cache redis: server SIGKILLed, cache down and flushed after {down:?}, tracking back {back:?} after the restart"
    ));
}
