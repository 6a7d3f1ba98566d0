//! The store conformance suite against every backend and every tier
//! combination, on the real servers `tests/servers.sh` starts: one test
//! per scenario and backend (`memory::save_is_compare_and_set`,
//! `tiered_redis_postgres::revoking_a_user_...`; see
//! `sessionkit_tests::conformance`), each on a store of its own. A backend
//! whose server is not configured skips (never under `CI=true`).

use session_runtime::id::SessionId;
use session_runtime::store::{
    MemcachedStore, MySqlStore, PostgresStore, RedisStore, RevocationTimes as _, SqliteStore,
};
use session_runtime::{Entry, MemoryStore, SessionStore, StoreError, Tiered};
use sessionkit_tests::conformance::{self, Finds};
use sessionkit_tests::conformance_tests;
use sessionkit_tests::servers::{address, table};
use std::sync::Arc;

async fn sqlite(name: &str) -> SqliteStore {
    let store = SqliteStore::in_memory().await.unwrap();
    store.with_table(&table(name)).unwrap()
}

/// Migrated twice: `migrate` is idempotent.
macro_rules! migrated {
    ($store:expr) => {{
        let store = $store;
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        store
    }};
}

/// A migrated SQLite store in memory, on a table of the scenario's own.
async fn sqlite_for(scenario: &str) -> SqliteStore {
    let store = SqliteStore::in_memory().await.unwrap();
    migrated!(store.with_table(&conformance::table(scenario)).unwrap())
}

/// A migrated SQLite store in a file of the scenario's own.
async fn sqlite_file_for(scenario: &str) -> SqliteStore {
    let name = conformance::table(scenario);
    let path = std::env::temp_dir().join(format!("sessionkit-{name}.db"));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    migrated!(SqliteStore::connect(&url).await.unwrap())
}

/// A migrated PostgreSQL store on a table of the scenario's own.
async fn postgres_for(scenario: &str) -> Option<PostgresStore> {
    let url = address("SESSIONKIT_POSTGRES_URL")?;
    let store = PostgresStore::connect(&url).await.unwrap();
    Some(migrated!(
        store.with_table(&conformance::table(scenario)).unwrap()
    ))
}

/// A migrated MariaDB store on a table of the scenario's own.
async fn mysql_for(scenario: &str) -> Option<MySqlStore> {
    let url = address("SESSIONKIT_MYSQL_URL")?;
    let store = MySqlStore::connect(&url).await.unwrap();
    Some(migrated!(
        store.with_table(&conformance::table(scenario)).unwrap()
    ))
}

async fn redis() -> Option<RedisStore> {
    let url = address("SESSIONKIT_REDIS_URL")?;
    Some(RedisStore::connect(&url).await.unwrap())
}

async fn redis_cluster() -> Option<RedisStore> {
    let nodes = address("SESSIONKIT_REDIS_CLUSTER")?;
    let nodes: Vec<&str> = nodes.split(',').collect();
    assert_eq!(nodes.len(), 3, "a 3-node cluster");
    Some(RedisStore::cluster(nodes).await.unwrap())
}

async fn memcached() -> Option<MemcachedStore> {
    let servers = address("SESSIONKIT_MEMCACHED")?;
    Some(MemcachedStore::connect(servers.split(',')).await.unwrap())
}

/// What a store with a user index and revocation times hands the layer.
const INDEXED: Finds = Finds {
    user_index: true,
    revocation_times: true,
    quick_tier: false,
};

/// What a `Tiered` store over a SQL store hands the layer.
const TIERED: Finds = Finds {
    quick_tier: true,
    ..INDEXED
};

conformance_tests! {
    memory(_name) -> MemoryStore { Some(MemoryStore::default()) }
        finds INDEXED;
        runs [core, reaps, cache, user_index, revocation_times, revocations_lapse];
    // every trait forwarded through an `Arc`, defaults included
    arc_memory(_name) -> Arc<MemoryStore> { Some(Arc::new(MemoryStore::default())) }
        finds INDEXED;
        runs [core, reaps, cache, user_index, revocation_times, revocations_lapse];
    sqlite_memory(name) -> SqliteStore { Some(sqlite_for(name).await) }
        finds INDEXED;
        runs [core, reaps, drops_quick, user_index, revocation_times, revocations_lapse];
    sqlite_file(name) -> SqliteStore { Some(sqlite_file_for(name).await) }
        finds INDEXED;
        runs [core, reaps, drops_quick, user_index, revocation_times, revocations_lapse];
    postgres(name) -> PostgresStore { postgres_for(name).await }
        finds INDEXED;
        runs [core, reaps, drops_quick, user_index, revocation_times, revocations_lapse];
    mariadb(name) -> MySqlStore { mysql_for(name).await }
        finds INDEXED;
        runs [core, reaps, drops_quick, user_index, revocation_times, revocations_lapse];
    redis(_name) -> RedisStore { redis().await }
        finds INDEXED;
        runs [core, expires_itself, cache, user_index, revocation_times, revocations_expire_themselves];
    redis_cluster(_name) -> RedisStore { redis_cluster().await }
        finds Finds { user_index: false, ..INDEXED };
        runs [core, expires_itself, cache, no_user_index, revocation_times, revocations_expire_themselves];
    memcached(_name) -> MemcachedStore { memcached().await }
        finds Finds { user_index: false, revocation_times: false, quick_tier: false };
        runs [core, expires_itself, cache];

    tiered_memory_sqlite(name) -> Tiered<MemoryStore, SqliteStore> {
        Some(Tiered::new(MemoryStore::default(), sqlite_for(name).await))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_memory_postgres(name) -> Tiered<MemoryStore, PostgresStore> {
        Some(Tiered::new(MemoryStore::default(), postgres_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_memory_mariadb(name) -> Tiered<MemoryStore, MySqlStore> {
        Some(Tiered::new(MemoryStore::default(), mysql_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_redis_sqlite(name) -> Tiered<RedisStore, SqliteStore> {
        Some(Tiered::new(redis().await?, sqlite_for(name).await))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_redis_postgres(name) -> Tiered<RedisStore, PostgresStore> {
        Some(Tiered::new(redis().await?, postgres_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_redis_mariadb(name) -> Tiered<RedisStore, MySqlStore> {
        Some(Tiered::new(redis().await?, mysql_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_memcached_sqlite(name) -> Tiered<MemcachedStore, SqliteStore> {
        Some(Tiered::new(memcached().await?, sqlite_for(name).await))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_memcached_postgres(name) -> Tiered<MemcachedStore, PostgresStore> {
        Some(Tiered::new(memcached().await?, postgres_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    tiered_memcached_mariadb(name) -> Tiered<MemcachedStore, MySqlStore> {
        Some(Tiered::new(memcached().await?, mysql_for(name).await?))
    }
        finds TIERED;
        runs [core, reaps, tiered, tiered_tombstones, user_index, revocation_times, revocations_lapse];
    // the quick tier forwarded through an `Arc`
    arc_tiered(name) -> Arc<Tiered<MemoryStore, SqliteStore>> {
        Some(Arc::new(Tiered::new(MemoryStore::default(), sqlite_for(name).await)))
    }
        finds TIERED;
        runs [core, reaps, tiered, user_index, revocation_times, revocations_lapse];
}

#[tokio::test]
async fn redis_cluster_spreads_sessions_over_every_node() {
    let Some(store) = redis_cluster().await else {
        return;
    };
    // enough keys to land on every node's slots
    for _ in 0..30 {
        let key = SessionId::generate().unwrap().store_key();
        assert!(
            store
                .create(&key, Entry::new(b"x", conformance::NOW))
                .await
                .unwrap()
        );
        assert!(store.delete(&key).await.unwrap());
    }
}

#[tokio::test]
async fn memory_store_is_bounded() {
    let store = MemoryStore::new(std::num::NonZeroUsize::new(3).unwrap());
    let keys: Vec<_> = (0..5)
        .map(|_| SessionId::generate().unwrap().store_key())
        .collect();
    for (i, key) in keys.iter().enumerate() {
        // later keys expire later
        assert!(
            store
                .create(key, Entry::new(b"x", 1_000 + i as u64))
                .await
                .unwrap()
        );
    }
    assert_eq!(store.len(), 3, "never more than its capacity");
    // the records closest to expiry were dropped first
    assert!(store.load(&keys[0], 0).await.unwrap().is_none());
    assert!(store.load(&keys[1], 0).await.unwrap().is_none());
    assert!(store.load(&keys[4], 0).await.unwrap().is_some());

    let small = MemoryStore::new(std::num::NonZeroUsize::new(10).unwrap())
        .with_max_record(std::num::NonZeroUsize::new(4).unwrap());
    let err = small
        .create(&keys[0], Entry::new(b"12345", 1_000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { len: 5, max: 4 }),
        "{err:?}"
    );
    assert!(small.is_empty());
}

#[tokio::test]
async fn sql_stores_refuse_oversized_records_and_odd_table_names() {
    let store = sqlite("big")
        .await
        .with_max_record(std::num::NonZeroUsize::new(10).unwrap());
    store.migrate().await.unwrap();
    let key = SessionId::generate().unwrap().store_key();
    let err = store
        .create(&key, Entry::new(&[0; 11], conformance::NOW))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { len: 11, max: 10 }),
        "{err:?}"
    );
    assert!(store.clone().with_table("x; DROP TABLE y").is_err());
}

#[tokio::test]
async fn the_reaper_cleans_up_in_the_background_and_survives_store_errors() {
    use session_runtime::cleanup::Reaper;
    use sessionkit_tests::TestClock;
    use sessionkit_tests::probe::Probe;

    let clock = TestClock::new();
    let store = Probe::new(sqlite("reaper").await);
    store.inner().migrate().await.unwrap();
    let now = clock.secs();
    for i in 0..30 {
        let key = SessionId::generate().unwrap().store_key();
        // 25 expired, 5 live
        let expires_at = if i < 25 { now - 10 } else { now + 3600 };
        store
            .create(&key, Entry::new(b"x", expires_at))
            .await
            .unwrap();
    }
    store.set_down(true);
    let reaper = Reaper::new()
        .with_interval(std::time::Duration::from_millis(20))
        .with_limit(7)
        .with_clock(clock.clone())
        .spawn(store.clone());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(reaper.is_running(), "store errors do not stop the reaper");
    assert_eq!(store.inner().stats(now).await.unwrap().unwrap().records, 30);

    store.set_down(false);
    let mut records = 30;
    for _ in 0..100 {
        records = store.inner().stats(now).await.unwrap().unwrap().records;
        if records == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(records, 5, "every expired session removed, live ones kept");
    reaper.stop();
}

/// A revocation table made before the `previous` column existed gains it
/// from `migrate`, keeps its rows, and reports the replaced time after.
#[tokio::test]
async fn migrate_adds_the_previous_revocation_column_to_old_tables() {
    let name = table("old_revoked");
    let store = SqliteStore::in_memory()
        .await
        .unwrap()
        .with_table(&name)
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {name}_revoked (user_id TEXT PRIMARY KEY NOT NULL, \
         not_before INTEGER NOT NULL, keep_until INTEGER NOT NULL) WITHOUT ROWID"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {name}_revoked VALUES ('alice', 100, 99999999999)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    assert_eq!(store.revoked_before("alice").await.unwrap(), Some(100));
    let revoked = store.revoke_before("alice", 100, 60).await.unwrap();
    assert_eq!((revoked.previous, revoked.before), (Some(100), 101));
}
