//! The store conformance suite against every backend and every tier
//! combination, on the real servers `tests/servers.sh` starts.

use session_runtime::id::SessionId;
use session_runtime::store::{MemcachedStore, MySqlStore, PostgresStore, RedisStore, SqliteStore};
use session_runtime::{Entry, MemoryStore, SessionStore, StoreError, Tiered};
use sessionkit_tests::conformance;
use sessionkit_tests::servers::{address, table};

async fn sqlite(name: &str) -> SqliteStore {
    let store = SqliteStore::in_memory().await.unwrap();
    store.with_table(&table(name)).unwrap()
}

async fn postgres(name: &str) -> Option<PostgresStore> {
    let url = address("SESSIONKIT_POSTGRES_URL")?;
    let store = PostgresStore::connect(&url).await.unwrap();
    Some(store.with_table(&table(name)).unwrap())
}

async fn mysql(name: &str) -> Option<MySqlStore> {
    let url = address("SESSIONKIT_MYSQL_URL")?;
    let store = MySqlStore::connect(&url).await.unwrap();
    Some(store.with_table(&table(name)).unwrap())
}

async fn redis() -> Option<RedisStore> {
    let url = address("SESSIONKIT_REDIS_URL")?;
    Some(RedisStore::connect(&url).await.unwrap())
}

async fn memcached() -> Option<MemcachedStore> {
    let servers = address("SESSIONKIT_MEMCACHED")?;
    Some(MemcachedStore::connect(servers.split(',')).await.unwrap())
}

macro_rules! migrated {
    ($store:expr) => {{
        let store = $store;
        store.migrate().await.unwrap();
        store.migrate().await.unwrap(); // idempotent
        store
    }};
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(&MemoryStore::default()).await;
}

#[tokio::test]
async fn sqlite_store_conforms_in_memory_and_on_disk() {
    conformance::run(&migrated!(sqlite("sqlite").await)).await;
    let dir = std::env::temp_dir().join(format!("sessionkit-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", dir.display());
    let on_disk = migrated!(SqliteStore::connect(&url).await.unwrap());
    conformance::run(&on_disk).await;
    on_disk.pool().close().await;
    std::fs::remove_file(&dir).ok();
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some(store) = postgres("pg").await else {
        return;
    };
    conformance::run(&migrated!(store)).await;
}

#[tokio::test]
async fn mysql_store_conforms_on_mariadb() {
    let Some(store) = mysql("my").await else {
        return;
    };
    conformance::run(&migrated!(store)).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let Some(store) = redis().await else { return };
    conformance::run(&store).await;
}

#[tokio::test]
async fn redis_cluster_store_conforms_on_three_nodes() {
    let Some(nodes) = address("SESSIONKIT_REDIS_CLUSTER") else {
        return;
    };
    let nodes: Vec<&str> = nodes.split(',').collect();
    assert_eq!(nodes.len(), 3, "a 3-node cluster");
    let store = RedisStore::cluster(nodes).await.unwrap();
    conformance::run(&store).await;
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
async fn memcached_store_conforms_across_two_servers() {
    let Some(store) = memcached().await else {
        return;
    };
    conformance::run(&store).await;
}

#[tokio::test]
async fn every_cache_in_front_of_every_durable_store_conforms() {
    let caches_available =
        address("SESSIONKIT_REDIS_URL").is_some() && address("SESSIONKIT_MEMCACHED").is_some();
    macro_rules! durables {
        ($cache:expr, $name:literal) => {{
            conformance::run(&Tiered::new(
                $cache,
                migrated!(sqlite(concat!($name, "_sqlite")).await),
            ))
            .await;
            if let Some(pg) = postgres(concat!($name, "_pg")).await {
                conformance::run(&Tiered::new($cache, migrated!(pg))).await;
            }
            if let Some(my) = mysql(concat!($name, "_my")).await {
                conformance::run(&Tiered::new($cache, migrated!(my))).await;
            }
        }};
    }
    durables!(MemoryStore::default(), "memory");
    if caches_available {
        durables!(redis().await.unwrap(), "redis");
        durables!(memcached().await.unwrap(), "memcached");
    }
}

#[tokio::test]
async fn memory_store_is_bounded() {
    let store = MemoryStore::new(3);
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

    let small = MemoryStore::new(10).with_max_record(4);
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
    let store = sqlite("big").await.with_max_record(10);
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
