//! Outside probes of the near cache (`NearCache` in front of Redis and
//! PostgreSQL): orders, races and operator actions that try to make it
//! serve something stale or revived past the delivery of a notification,
//! lose a write, overrun its byte bound, panic or hang. A test that fails
//! here shows a defect (its comment says which); the others are
//! regression tests of behaviour that held under the probe.

use session_runtime::Tiered;
use session_runtime::id::StoreKey;
use session_runtime::store::{
    CacheStore, Lookup, NearCache, PostgresStore, RedisStore, RevocationTimes, Saved, SessionStore,
    UserIndex,
};
use sessionkit_tests::conformance::fresh_key as key;
use sessionkit_tests::near::{NOW, entry, user_entry, within, within_a_second};
use sessionkit_tests::process::OwnServer;
use sessionkit_tests::servers::address;
use sessionkit_tests::stores::{self, NEAR_BYTES};
use std::num::NonZeroUsize;
use std::time::Duration;

fn bytes(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// A second "process": a PostgreSQL store with a pool of its own on the
/// same table.
async fn postgres_twin(store: &PostgresStore) -> PostgresStore {
    let url = address("SESSIONKIT_POSTGRES_URL").unwrap();
    PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(store.table())
        .unwrap()
}

/// What the store itself holds, asked without any near cache.
async fn in_store<S: SessionStore>(store: &S, key: &StoreKey) -> Option<Vec<u8>> {
    store.load(key, *NOW).await.unwrap().map(|r| r.data)
}

// ---------------------------------------------------------------------
// PostgreSQL: writes the triggers do not announce as changes
// ---------------------------------------------------------------------

/// Regression: `TRUNCATE` (what an operator runs to "log everyone out",
/// or a fixture between runs) fires no row trigger; it must still reach
/// every near cache (found failing, serving every session it held, before
/// the statement-level `AFTER TRUNCATE` triggers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncate_of_the_sessions_table_reaches_the_near_caches() {
    let Some(plain) = stores::postgres("np_trunc").await else {
        return;
    };
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let k = key();
    assert!(plain.create(&k, entry(b"logged in")).await.unwrap());
    near.sync().await;
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    assert!(near.load(&k, *NOW).await.unwrap().is_some(), "held");

    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {}", plain.table())))
        .execute(plain.pool())
        .await
        .unwrap();
    assert_eq!(in_store(&plain, &k).await, None, "gone from the store");
    near.sync().await;
    let refused = within_a_second(async || near.load(&k, *NOW).await.unwrap().is_none()).await;
    assert!(
        refused.is_some(),
        "a session TRUNCATE removed is still served by the near cache ({:?})",
        near.stats()
    );
}

/// Regression: a write that changes a row but not its `version` (an
/// operator ending a session with `UPDATE … SET expires_at = 0`) must
/// drop the entry everywhere, not pass for the writer's own echo (found
/// failing, serving the ended session without bound, while the trigger
/// announced whatever `NEW.version` was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_keeps_the_version_still_drops_the_entry() {
    let Some(plain) = stores::postgres("np_samev").await else {
        return;
    };
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let k = key();
    assert!(plain.create(&k, entry(b"session")).await.unwrap());
    near.sync().await;
    assert!(near.load(&k, *NOW).await.unwrap().is_some());

    // an operator ends the session in place
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET expires_at = 0 WHERE id = $1",
        plain.table()
    )))
    .bind(k.as_bytes().as_slice())
    .execute(plain.pool())
    .await
    .unwrap();
    assert_eq!(in_store(&plain, &k).await, None, "ended in the store");
    near.sync().await;
    let refused = within_a_second(async || near.load(&k, *NOW).await.unwrap().is_none()).await;
    assert!(
        refused.is_some(),
        "a session an UPDATE ended (same version) is still served ({:?})",
        near.stats()
    );
}

/// Regression (within one process): "a write … replaces or drops the
/// entry before it returns", even when the cache is too small for the
/// write's ticket and another key's: a read of another key must not evict
/// the ticket of a save in flight, or a read of the same key in this
/// process takes a ticket of its own, reads the row from before the save
/// (a pool has other connections) and keeps it past the save's return
/// (found failing 7 rounds of 10 before writes in flight stopped being
/// evicted). The row lock holds the save in the store so the order is
/// certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_write_ticket_lets_a_read_keep_the_old_record() {
    let Some(plain) = stores::postgres("np_evict").await else {
        return;
    };
    // one shard holding one record of a few bytes, not two tickets
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(bytes(200))
        .await
        .unwrap();
    let table = plain.table().to_owned();
    let mut stale = Vec::new();
    for round in 0..10 {
        let k = key();
        assert!(near.create(&k, entry(b"old")).await.unwrap());
        // another connection holds the row: the save waits in the store
        let mut lock = plain.pool().begin().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"
        )))
        .bind(k.as_bytes().as_slice())
        .execute(&mut *lock)
        .await
        .unwrap();
        let save = tokio::spawn({
            let near = near.clone();
            async move { near.save(&k, entry(b"new"), 1, *NOW).await.unwrap() }
        });
        let waiting = within(Duration::from_secs(5), async || {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE 'UPDATE %'",
            )
            .fetch_one(plain.pool())
            .await
            .unwrap();
            n > 0
        })
        .await;
        assert!(waiting.is_some(), "the save waits for the row");
        // a read of another key evicts the save's ticket
        assert!(near.load(&key(), *NOW).await.unwrap().is_none());
        // a read of this key, in this process, while the save is in flight
        assert_eq!(near.load(&k, *NOW).await.unwrap().unwrap().data, b"old");
        lock.commit().await.unwrap();
        assert_eq!(save.await.unwrap(), Saved::Saved { version: 2 });
        let read = near.load(&k, *NOW).await.unwrap().unwrap();
        if read.data != b"new" {
            stale.push(round);
        }
    }
    assert!(
        stale.is_empty(),
        "rounds {stale:?}: after this process's save returned, it served the record from before it"
    );
}

/// Regression (Redis, within one process): another process writes the
/// session's quick fields (`save_quick`, which keeps the version) while
/// this process saves it and reads it from another task. A version-less
/// invalidation removes this process's write ticket, so a concurrent read
/// may take a ticket of its own; it still reads what the save wrote,
/// since this process's commands share one connection and Redis runs
/// them in order. After every save returns, this process serves that
/// save (or a newer one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_own_writes_are_read_back_at_once_under_concurrent_reads() {
    let (Some(near), Some(other)) = (stores::redis_near().await, stores::redis().await) else {
        return;
    };
    let k = key();
    assert!(near.create(&k, entry(b"v")).await.unwrap());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // another process writes the session's quick fields meanwhile
    let quick = tokio::spawn({
        let done = done.clone();
        async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Lookup::Hit(record) = other.lookup(&k, *NOW, None).await.unwrap() {
                    let _ = other
                        .save_quick(&k, b"q", record.version, *NOW)
                        .await
                        .unwrap();
                }
            }
        }
    });
    let stale = own_writes_read_back(&near, k, 2_000).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    quick.await.unwrap();
    assert_eq!(
        stale,
        0,
        "{stale} saves were followed by a read of an older version in this process ({:?})",
        near.stats()
    );
}

/// Regression: the same probe on PostgreSQL (no other writer: a durable
/// store has no quick fields, and its versioned notifications only raise
/// a write ticket's floor), holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_own_writes_are_read_back_at_once_under_concurrent_reads() {
    let Some(near) = stores::postgres_near("np_own").await else {
        return;
    };
    let k = key();
    assert!(near.create(&k, entry(b"v")).await.unwrap());
    let stale = own_writes_read_back(&near, k, 1_000).await;
    assert_eq!(
        stale,
        0,
        "{stale} saves read back older ({:?})",
        near.stats()
    );
}

/// Saves one key `rounds` times while another task of this process reads
/// it; after each save returns, reads it here: how many reads were older
/// than the save.
async fn own_writes_read_back<S>(near: &NearCache<S>, k: StoreKey, rounds: u64) -> usize
where
    NearCache<S>: SessionStore + Clone + 'static,
    S: Send + Sync + 'static,
{
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = tokio::spawn({
        let near = near.clone();
        let done = done.clone();
        async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = near.load(&k, *NOW).await.unwrap();
                // a read served from memory never yields by itself
                tokio::task::yield_now().await;
            }
        }
    });
    let mut stale = 0;
    let mut version = 1;
    for _ in 0..rounds {
        let data = format!("v{version}");
        match near
            .save(&k, entry(data.as_bytes()), version, *NOW)
            .await
            .unwrap()
        {
            Saved::Saved { version: v } => version = v,
            other => panic!("a lone writer: {other:?}"),
        }
        let read = near.load(&k, *NOW).await.unwrap().unwrap();
        if read.version < version {
            stale += 1;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.await.unwrap();
    stale
}

// ---------------------------------------------------------------------
// Redis: operator actions on the server
// ---------------------------------------------------------------------

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn own_redis() -> Option<(OwnServer, String)> {
    let bin = address("SESSIONKIT_REDIS_BIN")?;
    let server = OwnServer::redis(&bin);
    let url = format!("redis://127.0.0.1:{}/", server.port());
    Some((server, url))
}

/// Ids of the clients with tracking on (`flags` holds `t`).
async fn tracking_clients(connection: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(connection)
        .await
        .unwrap();
    list.lines()
        .filter(|line| {
            line.split(' ').any(|field| {
                field
                    .strip_prefix("flags=")
                    .is_some_and(|f| f.contains('t'))
            })
        })
        .filter_map(|line| {
            line.split(' ')
                .find_map(|field| field.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect()
}

/// Regression: `SWAPDB 0 1` replaces every key of the database the store
/// uses, but Redis (7.0) sends tracking clients no invalidation for it,
/// not even the `invalidate nil` of a flush, so the near cache kept
/// serving records of the database swapped away, without bound. The
/// heartbeat now reads a marker key back (`<prefix>near:db`): a database
/// swapped in has another (or none), which flushes the cache, within a
/// beat or at the next `sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_database_is_not_served_from_memory() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let near = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let k = key();
    assert!(near.create(&k, entry(b"db0")).await.unwrap());
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    let mut admin = raw(&url).await;
    let () = redis::cmd("SWAPDB")
        .arg(0)
        .arg(1)
        .query_async(&mut admin)
        .await
        .unwrap();
    let plain = RedisStore::connect(&url).await.unwrap();
    assert_eq!(in_store(&plain, &k).await, None, "db 0 is now empty");
    near.sync().await;
    let refused = within_a_second(async || near.load(&k, *NOW).await.unwrap().is_none()).await;
    assert!(
        refused.is_some(),
        "a record of the database swapped away is still served ({:?})",
        near.stats()
    );
}

/// Regression: FLUSHALL and FLUSHDB drop everything held, and the cache
/// keeps serving (and holding) afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushes_drop_everything_held() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let near = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let mut admin = raw(&url).await;
    for flush in ["FLUSHALL", "FLUSHDB", "FLUSHALL"] {
        let k = key();
        assert!(near.create(&k, entry(b"x")).await.unwrap());
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        let flushes = near.stats().flushes;
        let mut cmd = redis::cmd(flush);
        if flush == "FLUSHDB" {
            cmd.arg("ASYNC");
        }
        let () = cmd.query_async(&mut admin).await.unwrap();
        near.sync().await;
        assert_eq!(near.load(&k, *NOW).await.unwrap(), None, "{flush}");
        assert!(near.stats().flushes > flushes, "{flush}");
        assert!(near.stats().connected, "{flush}: still up");
    }
    // and it holds again (once Redis's report of this process's own
    // create has arrived: it drops what a read filled before it)
    let k = key();
    assert!(near.create(&k, entry(b"y")).await.unwrap());
    near.sync().await;
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    let hits = near.stats().hits;
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    assert_eq!(near.stats().hits, hits + 1);
}

/// Regression: `CLIENT KILL` of the tracking connection (found in
/// `CLIENT LIST` by its `t` flag) while another process writes: the
/// write is seen within a second, the old value never again, and
/// tracking comes back on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tracking_connection_never_leaves_a_stale_entry() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let near = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let other = RedisStore::connect(&url).await.unwrap();
    let mut admin = raw(&url).await;
    for round in 0..5 {
        let k = key();
        assert!(near.create(&k, entry(b"one")).await.unwrap());
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        let ids = tracking_clients(&mut admin).await;
        assert_eq!(ids.len(), 1, "round {round}: one tracking connection");
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(&ids[0])
            .query_async(&mut admin)
            .await
            .unwrap();
        // the other process writes at once
        assert_eq!(
            other.save(&k, entry(b"two"), 1, *NOW).await.unwrap(),
            Saved::Saved { version: 2 }
        );
        let seen = within_a_second(async || {
            near.load(&k, *NOW)
                .await
                .unwrap()
                .is_some_and(|r| r.data == b"two")
        })
        .await;
        assert!(seen.is_some(), "round {round}: the write is seen");
        assert!(
            within(Duration::from_secs(5), async || near.stats().connected)
                .await
                .is_some(),
            "round {round}: tracking comes back"
        );
        for _ in 0..50 {
            assert_eq!(
                near.load(&k, *NOW).await.unwrap().unwrap().data,
                b"two",
                "round {round}: never the old value again"
            );
        }
    }
}

/// Regression: dropping the near cache (while a clone's reads are in
/// flight) closes its tracking connection; nothing panics or lingers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_redis_near_cache_closes_its_connection() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let mut admin = raw(&url).await;
    for _ in 0..3 {
        let near = RedisStore::connect(&url)
            .await
            .unwrap()
            .with_near_cache(NEAR_BYTES)
            .await
            .unwrap();
        let k = key();
        assert!(near.create(&k, entry(b"x")).await.unwrap());
        let reader = tokio::spawn({
            let near = near.clone();
            async move {
                for _ in 0..200 {
                    let _ = near.load(&k, *NOW).await.unwrap();
                }
            }
        });
        assert_eq!(tracking_clients(&mut admin).await.len(), 1);
        drop(near);
        reader.await.unwrap();
        let closed = within(Duration::from_secs(3), async || {
            tracking_clients(&mut admin).await.is_empty()
        })
        .await;
        assert!(
            closed.is_some(),
            "the tracking connection outlived the cache"
        );
    }
}

/// Regression: an empty prefix tracks every key (no `PREFIX` argument),
/// and writes and revocations still reach the other process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prefix_stays_coherent() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let open = async || {
        RedisStore::connect(&url)
            .await
            .unwrap()
            .with_prefix("")
            .with_near_cache(NEAR_BYTES)
            .await
            .unwrap()
    };
    let (a, b) = (open().await, open().await);
    let k = key();
    assert!(a.create(&k, entry(b"one")).await.unwrap());
    b.sync().await;
    assert!(b.load(&k, *NOW).await.unwrap().is_some());
    assert!(a.save(&k, entry(b"two"), 1, *NOW).await.is_ok());
    b.sync().await;
    assert_eq!(b.load(&k, *NOW).await.unwrap().unwrap().data, b"two");
    assert!(a.delete(&k).await.unwrap());
    b.sync().await;
    assert_eq!(b.lookup(&k, *NOW, None).await.unwrap(), Lookup::Gone);
    for user in ["revoked:x", "a:b", "ünï:cödé", ""] {
        assert_eq!(b.revoked_before(user).await.unwrap(), None);
        let revoked = a.revoke_before(user, 100, 3600).await.unwrap();
        b.sync().await;
        assert_eq!(
            b.revoked_before(user).await.unwrap(),
            Some(revoked.before),
            "{user:?}"
        );
    }
}

// ---------------------------------------------------------------------
// Both stores: revocations, two processes, tiers
// ---------------------------------------------------------------------

/// Log out everywhere on one process, with the other holding every one
/// of the user's sessions and the user's "never revoked": the revoking
/// process refuses them as soon as `revoke_user` returns, the other
/// within a second; revocation times of users with `:` and non-ASCII in
/// their ids reach the other process too.
async fn logout_everywhere<S>(label: &str, a: &NearCache<S>, b: &NearCache<S>)
where
    NearCache<S>: SessionStore + UserIndex + RevocationTimes,
{
    for user in [
        format!("u:{}", key().to_hex()),
        format!("ü😀:{}:é", key().to_hex()),
    ] {
        let keys: Vec<StoreKey> = (0..20).map(|_| key()).collect();
        for k in &keys {
            assert!(a.create(k, user_entry(b"s", &user)).await.unwrap());
        }
        a.sync().await;
        b.sync().await;
        for k in &keys {
            assert!(a.load(k, *NOW).await.unwrap().is_some());
            assert!(b.load(k, *NOW).await.unwrap().is_some());
            assert!(b.load(k, *NOW).await.unwrap().is_some());
        }
        assert_eq!(b.revoked_before(&user).await.unwrap(), None);
        assert_eq!(b.revoked_before(&user).await.unwrap(), None);

        let kept = keys[0];
        let revoked = a
            .revoke_user("sid", &user, Some(&kept), 1000)
            .await
            .unwrap();
        assert_eq!(revoked, keys.len() - 1, "{label}");
        let at = a.revoke_before(&user, *NOW, 3600).await.unwrap();
        // here, at once
        assert_eq!(
            a.revoked_before(&user).await.unwrap(),
            Some(at.before),
            "{label}"
        );
        for k in &keys[1..] {
            assert!(
                a.load(k, *NOW).await.unwrap().is_none(),
                "{label}: revoked here"
            );
        }
        assert!(a.load(&kept, *NOW).await.unwrap().is_some(), "{label}");
        // there, within a notification's delivery
        for k in &keys[1..] {
            let refused = within_a_second(async || b.load(k, *NOW).await.unwrap().is_none()).await;
            assert!(refused.is_some(), "{label}: a revoked session served there");
        }
        let seen =
            within_a_second(async || b.revoked_before(&user).await.unwrap() == Some(at.before))
                .await;
        assert!(seen.is_some(), "{label}: {user:?}'s revocation time");
        assert!(b.load(&kept, *NOW).await.unwrap().is_some(), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_logout_everywhere_reaches_both_processes() {
    let (Some(a), Some(b)) = (stores::redis_near().await, stores::redis_near().await) else {
        return;
    };
    logout_everywhere("redis", &a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logout_everywhere_reaches_both_processes() {
    let Some(plain) = stores::postgres("np_logout").await else {
        return;
    };
    let a = plain.clone().with_near_cache(NEAR_BYTES).await.unwrap();
    let b = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    logout_everywhere("postgres", &a, &b).await;
}

/// Two processes each with `Tiered::new(near redis, near postgres)`:
/// a write, a logout and a log-out-everywhere on one are seen by the
/// other within a second, and a session deleted never comes back (not
/// through the durable tier's memory refilling the cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_near_over_near_stays_coherent_in_two_processes() {
    let Some(plain) = stores::postgres("np_tiered").await else {
        return;
    };
    let Some(redis_a) = stores::redis_near().await else {
        return;
    };
    let redis_b = stores::redis_near().await.unwrap();
    let a = Tiered::new(
        redis_a,
        plain.clone().with_near_cache(NEAR_BYTES).await.unwrap(),
    );
    let b = Tiered::new(
        redis_b,
        postgres_twin(&plain)
            .await
            .with_near_cache(NEAR_BYTES)
            .await
            .unwrap(),
    );
    let user = format!("t:{}", key().to_hex());
    let k = key();
    assert!(a.create(&k, user_entry(b"one", &user)).await.unwrap());
    let seen = within_a_second(async || b.load(&k, *NOW).await.unwrap().is_some()).await;
    assert!(seen.is_some());
    assert!(matches!(
        a.save(&k, user_entry(b"two", &user), 1, *NOW)
            .await
            .unwrap(),
        Saved::Saved { .. }
    ));
    let seen = within_a_second(async || {
        b.load(&k, *NOW)
            .await
            .unwrap()
            .is_some_and(|r| r.data == b"two")
    })
    .await;
    assert!(seen.is_some(), "the write is seen there");
    assert!(a.delete(&k).await.unwrap());
    let refused = within_a_second(async || b.load(&k, *NOW).await.unwrap().is_none()).await;
    assert!(refused.is_some(), "the logout is seen there");
    for _ in 0..50 {
        assert!(b.load(&k, *NOW).await.unwrap().is_none(), "never revived");
        assert!(a.load(&k, *NOW).await.unwrap().is_none(), "never revived");
    }
    assert_eq!(in_store(&plain, &k).await, None);

    let keys: Vec<StoreKey> = (0..10).map(|_| key()).collect();
    for k in &keys {
        assert!(a.create(k, user_entry(b"s", &user)).await.unwrap());
        let _ = within_a_second(async || b.load(k, *NOW).await.unwrap().is_some()).await;
    }
    let index = a.user_index().expect("a user index");
    let revoked = index.revoke_user("sid", &user, None, 100).await.unwrap();
    assert_eq!(revoked, keys.len());
    for k in &keys {
        assert!(a.load(k, *NOW).await.unwrap().is_none(), "revoked here");
        let refused = within_a_second(async || b.load(k, *NOW).await.unwrap().is_none()).await;
        assert!(refused.is_some(), "revoked there");
    }
}

/// Two processes race on one key: saves from both (compare-and-set on
/// the version each last read), reads from both, then a delete. Once
/// both caches are synced, each serves exactly what the store holds;
/// after the delete neither ever serves the session again.
async fn two_writers_one_key<S>(label: &str, a: &NearCache<S>, b: &NearCache<S>, plain: &S)
where
    NearCache<S>: SessionStore + Clone + 'static,
    S: SessionStore + Send + Sync + 'static,
{
    for round in 0..5 {
        let k = key();
        assert!(a.create(&k, entry(b"0")).await.unwrap());
        let mut tasks = Vec::new();
        for (n, near) in [a.clone(), b.clone(), a.clone(), b.clone()]
            .into_iter()
            .enumerate()
        {
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    let Some(record) = near.load(&k, *NOW).await.unwrap() else {
                        continue;
                    };
                    let data = format!("{n}-{i}");
                    let _ = near
                        .save(&k, entry(data.as_bytes()), record.version, *NOW)
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        a.sync().await;
        b.sync().await;
        let truth = plain.load(&k, *NOW).await.unwrap();
        assert_eq!(
            a.load(&k, *NOW).await.unwrap(),
            truth,
            "{label} round {round}: a"
        );
        assert_eq!(
            b.load(&k, *NOW).await.unwrap(),
            truth,
            "{label} round {round}: b"
        );
        // a delete while the other keeps reading and saving
        let writer = tokio::spawn({
            let b = b.clone();
            async move {
                for i in 0..50 {
                    if let Some(record) = b.load(&k, *NOW).await.unwrap() {
                        let data = format!("late-{i}");
                        let _ = b
                            .save(&k, entry(data.as_bytes()), record.version, *NOW)
                            .await
                            .unwrap();
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(a.delete(&k).await.unwrap() || plain.load(&k, *NOW).await.unwrap().is_none());
        assert!(
            a.load(&k, *NOW).await.unwrap().is_none(),
            "{label}: gone here at once"
        );
        writer.await.unwrap();
        a.sync().await;
        b.sync().await;
        assert_eq!(
            plain.load(&k, *NOW).await.unwrap(),
            None,
            "{label}: a save never recreates"
        );
        for _ in 0..20 {
            assert!(
                a.load(&k, *NOW).await.unwrap().is_none(),
                "{label}: revived in a"
            );
            assert!(
                b.load(&k, *NOW).await.unwrap().is_none(),
                "{label}: revived in b"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_writers_on_one_key_settle_on_the_store() {
    let (Some(a), Some(b), Some(plain)) = (
        stores::redis_near().await,
        stores::redis_near().await,
        stores::redis().await,
    ) else {
        return;
    };
    two_writers_one_key("redis", &a, &b, &plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_writers_on_one_key_settle_on_the_store() {
    let Some(plain) = stores::postgres("np_race").await else {
        return;
    };
    let a = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let b = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    two_writers_one_key("postgres", &a, &b, &plain).await;
}

// ---------------------------------------------------------------------
// The byte bound
// ---------------------------------------------------------------------

/// A slot's cost as `near/cache.rs` counts it: bookkeeping, the 32-byte
/// key, the record's bytes.
const SLOT: usize = 96 + 32;

/// A budget of one byte holds nothing and answers everything right; a
/// record that exactly fills the budget is held, one byte more is not;
/// many records never take more than the bound.
async fn byte_bound<S>(label: &str, open: impl AsyncFn(NonZeroUsize) -> NearCache<S>)
where
    NearCache<S>: SessionStore + RevocationTimes,
{
    let tiny = open(bytes(1)).await;
    let k = key();
    assert!(tiny.create(&k, entry(b"a")).await.unwrap());
    assert_eq!(tiny.load(&k, *NOW).await.unwrap().unwrap().data, b"a");
    assert!(matches!(
        tiny.save(&k, entry(b"b"), 1, *NOW).await.unwrap(),
        Saved::Saved { version: 2 }
    ));
    assert_eq!(tiny.load(&k, *NOW).await.unwrap().unwrap().data, b"b");
    let user = format!("tiny:{}", key().to_hex());
    assert_eq!(tiny.revoked_before(&user).await.unwrap(), None);
    let revoked = tiny.revoke_before(&user, 7, 3600).await.unwrap();
    assert_eq!(
        tiny.revoked_before(&user).await.unwrap(),
        Some(revoked.before)
    );
    assert!(tiny.delete(&k).await.unwrap());
    assert!(tiny.load(&k, *NOW).await.unwrap().is_none());
    let stats = tiny.stats();
    assert_eq!(
        (stats.entries, stats.bytes, stats.hits),
        (0, 0, 0),
        "{label}: {stats:?}"
    );

    // exactly at the bound: held; one byte past it: not
    let data = vec![7u8; 300];
    let exact = open(bytes(SLOT + data.len())).await;
    let k = key();
    assert!(exact.create(&k, entry(&data)).await.unwrap());
    exact.sync().await;
    assert_eq!(exact.load(&k, *NOW).await.unwrap().unwrap().data, data);
    let hits = exact.stats().hits;
    assert_eq!(exact.load(&k, *NOW).await.unwrap().unwrap().data, data);
    assert_eq!(
        exact.stats().hits,
        hits + 1,
        "{label}: a record at the bound is held"
    );
    assert!(exact.stats().bytes <= SLOT + data.len());
    let over = open(bytes(SLOT + data.len() - 1)).await;
    assert_eq!(over.load(&k, *NOW).await.unwrap().unwrap().data, data);
    assert_eq!(over.load(&k, *NOW).await.unwrap().unwrap().data, data);
    assert_eq!(over.stats().hits, 0, "{label}: one byte over is not held");
    assert_eq!(over.stats().entries, 0);

    // many records of many sizes through a 16-shard cache of 1 MiB
    let max = 1 << 20;
    let many = open(bytes(max)).await;
    let mut largest = 0;
    for n in 0..300usize {
        let data = vec![1u8; (n * 997) % 20_000];
        let k = key();
        assert!(many.create(&k, entry(&data)).await.unwrap());
        assert_eq!(many.load(&k, *NOW).await.unwrap().unwrap().data, data);
        largest = largest.max(many.stats().bytes);
    }
    assert!(largest <= max, "{label}: {largest} bytes held, bound {max}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_byte_bound_holds_at_its_edges() {
    let Some(_) = stores::redis().await else {
        return;
    };
    byte_bound("redis", async |max| {
        stores::redis()
            .await
            .unwrap()
            .with_near_cache(max)
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_byte_bound_holds_at_its_edges() {
    let Some(plain) = stores::postgres("np_bytes").await else {
        return;
    };
    byte_bound("postgres", async |max| {
        postgres_twin(&plain)
            .await
            .with_near_cache(max)
            .await
            .unwrap()
    })
    .await;
}

// ---------------------------------------------------------------------
// PostgreSQL: the listener, table names, dropping
// ---------------------------------------------------------------------

async fn listeners(plain: &PostgresStore) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()",
    )
    .bind(format!("LISTEN \"{}\"", plain.table()))
    .fetch_one(plain.pool())
    .await
    .unwrap()
}

/// Regression: the listening connection terminated again and again while
/// another process writes: after each break the write is seen within a
/// second and the value from before never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_terminated_while_the_other_writes_leaves_nothing_stale() {
    let Some(plain) = stores::postgres("np_term").await else {
        return;
    };
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    for round in 0..4 {
        let k = key();
        assert!(plain.create(&k, entry(b"one")).await.unwrap());
        assert!(
            within(Duration::from_secs(5), async || near.stats().connected)
                .await
                .is_some(),
            "round {round}: up"
        );
        near.sync().await;
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        assert!(near.load(&k, *NOW).await.unwrap().is_some());
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1")
            .bind(format!("LISTEN \"{}\"", plain.table()))
            .execute(plain.pool())
            .await
            .unwrap();
        plain.save(&k, entry(b"two"), 1, *NOW).await.unwrap();
        let seen = within_a_second(async || {
            near.load(&k, *NOW)
                .await
                .unwrap()
                .is_some_and(|r| r.data == b"two")
        })
        .await;
        assert!(seen.is_some(), "round {round}: the write is seen");
        for _ in 0..20 {
            assert_eq!(near.load(&k, *NOW).await.unwrap().unwrap().data, b"two");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        within(Duration::from_secs(5), async || near.stats().connected)
            .await
            .is_some()
    );
}

/// Regression: dropping the near cache (with a clone's reads in flight)
/// ends its listening connection within a few heartbeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_postgres_near_cache_stops_listening() {
    let Some(plain) = stores::postgres("np_drop").await else {
        return;
    };
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    assert_eq!(listeners(&plain).await, 1);
    let k = key();
    assert!(near.create(&k, entry(b"x")).await.unwrap());
    let reader = tokio::spawn({
        let near = near.clone();
        async move {
            for _ in 0..200 {
                let _ = near.load(&k, *NOW).await.unwrap();
            }
        }
    });
    drop(near);
    reader.await.unwrap();
    let gone = within(Duration::from_secs(5), async || {
        listeners(&plain).await == 0
    })
    .await;
    assert!(
        gone.is_some(),
        "the listening connection outlived the cache"
    );
}

/// Regression: the longest table name `with_table` takes (48) keeps its
/// trigger functions apart (their names stay under PostgreSQL's 63) and
/// notifies as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_table_name_notifies() {
    let Some(url) = address("SESSIONKIT_POSTGRES_URL") else {
        return;
    };
    let run = sessionkit_tests::servers::run();
    let name = format!("t_{run}_{}", "x".repeat(48 - 3 - run.len()));
    assert_eq!(name.len(), 48);
    let plain = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&name)
        .unwrap();
    plain.migrate().await.unwrap();
    let near = postgres_twin(&plain)
        .await
        .with_near_cache(NEAR_BYTES)
        .await
        .unwrap();
    let k = key();
    assert!(plain.create(&k, entry(b"one")).await.unwrap());
    near.sync().await;
    assert!(near.load(&k, *NOW).await.unwrap().is_some());
    plain.save(&k, entry(b"two"), 1, *NOW).await.unwrap();
    near.sync().await;
    assert_eq!(near.load(&k, *NOW).await.unwrap().unwrap().data, b"two");
    let user = "long:ü";
    assert_eq!(near.revoked_before(user).await.unwrap(), None);
    let at = plain.revoke_before(user, 9, 60).await.unwrap();
    near.sync().await;
    assert_eq!(near.revoked_before(user).await.unwrap(), Some(at.before));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {name}, {name}_revoked"
    )))
    .execute(plain.pool())
    .await
    .unwrap();
}

/// Regression (of `with_table`, met on the way): a table name with an
/// upper-case letter used to pass, but PostgreSQL folds the unquoted name
/// to lower case while `migrate`'s column check compared the name as
/// given, so `migrate` failed on a fresh database ("column … already
/// exists"), and a near cache would have listened on a channel named
/// otherwise than its table. Such a name is now refused at configuration,
/// saying what is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_name_in_upper_case_is_refused_at_configuration() {
    let Some(url) = address("SESSIONKIT_POSTGRES_URL") else {
        return;
    };
    let name = format!("T_Upper_{}", std::process::id());
    let refused = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&name)
        .unwrap_err();
    assert!(
        matches!(&refused, session_runtime::ConfigError::TableName(n) if *n == name),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("lower-case"), "{refused}");
}

/// Regression: writes in flight are never evicted (a read of the same
/// key would otherwise take their place and keep the record they
/// replace), and used to count against the bound while never leaving it:
/// 20 creates held by `CLIENT PAUSE WRITE` in a cache of 300 bytes made
/// `stats().bytes` 20 × 128. Their places now count nothing (they hold no
/// value), so the bound holds for what is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_flight_stay_within_the_byte_bound() {
    let Some((_server, url)) = own_redis().await else {
        return;
    };
    let max = 300;
    let near = RedisStore::connect(&url)
        .await
        .unwrap()
        .with_near_cache(bytes(max))
        .await
        .unwrap();
    let mut admin = raw(&url).await;
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .unwrap();
    let creates: Vec<_> = (0..20)
        .map(|_| {
            let near = near.clone();
            tokio::spawn(async move { near.create(&key(), entry(b"x")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let held = near.stats().bytes;
    for create in creates {
        let _ = create.await.unwrap();
    }
    assert!(
        held <= max,
        "{held} bytes held while writes waited, bound {max}"
    );
    assert!(near.stats().bytes <= max);
}
