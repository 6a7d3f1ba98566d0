//! Real stores for the end-to-end tests, on the servers `tests/servers.sh`
//! starts (`None` when a server is not configured; CI never skips).

use crate::servers::{address, table};
use session_runtime::store::{
    MemcachedStore, MySqlStore, NearCache, PostgresStore, RedisStore, SqliteStore,
};
use session_runtime::{MasterKey, MemoryStore, SessionData, SessionLayer, Tiered};

/// A migrated SQLite store in a private in-memory database.
///
/// # Panics
///
/// When SQLite cannot open it.
pub async fn sqlite_memory(name: &str) -> SqliteStore {
    let store = SqliteStore::in_memory()
        .await
        .unwrap()
        .with_table(&table(name))
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated SQLite store in a file of its own under the system's
/// temporary directory, which several stores (processes) can share.
///
/// # Panics
///
/// When SQLite cannot open it.
pub async fn sqlite_file(name: &str) -> SqliteStore {
    static OPENED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let path = std::env::temp_dir().join(format!("sessionkit-{}-{name}.db", crate::servers::run()));
    // fresh at the first call for `name`; a later call shares the file
    // (removing it then would leave the first store an unlinked file)
    let first = {
        let mut opened = OPENED.lock().unwrap();
        let first = !opened.iter().any(|seen| seen == name);
        if first {
            opened.push(name.to_owned());
        }
        first
    };
    if first {
        let _ = std::fs::remove_file(&path);
    }
    sqlite_at(&path).await
}

/// A migrated SQLite store over the database file at `path`.
///
/// # Panics
///
/// When SQLite cannot open it.
pub async fn sqlite_at(path: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// A migrated PostgreSQL store on a table of its own.
///
/// # Panics
///
/// When the server does not answer.
pub async fn postgres(name: &str) -> Option<PostgresStore> {
    let url = address("SESSIONKIT_POSTGRES_URL")?;
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&table(name))
        .unwrap();
    store.migrate().await.unwrap();
    Some(store)
}

/// A migrated MariaDB store on a table of its own.
///
/// # Panics
///
/// When the server does not answer.
pub async fn mysql(name: &str) -> Option<MySqlStore> {
    let url = address("SESSIONKIT_MYSQL_URL")?;
    let store = MySqlStore::connect(&url)
        .await
        .unwrap()
        .with_table(&table(name))
        .unwrap();
    store.migrate().await.unwrap();
    Some(store)
}

/// The test Redis.
///
/// # Panics
///
/// When the server does not answer.
pub async fn redis() -> Option<RedisStore> {
    let url = address("SESSIONKIT_REDIS_URL")?;
    Some(RedisStore::connect(&url).await.unwrap())
}

/// What the suite's near caches may hold: enough that nothing a test
/// writes is evicted.
pub const NEAR_BYTES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(16 << 20).unwrap();

/// The test Redis behind a near cache of this process's own (another call
/// is another process's).
///
/// # Panics
///
/// When the server does not answer.
pub async fn redis_near() -> Option<NearCache<RedisStore>> {
    Some(redis().await?.with_near_cache(NEAR_BYTES).await.unwrap())
}

/// [`postgres`] behind a near cache of its own.
///
/// # Panics
///
/// When the server does not answer.
pub async fn postgres_near(name: &str) -> Option<NearCache<PostgresStore>> {
    Some(
        postgres(name)
            .await?
            .with_near_cache(NEAR_BYTES)
            .await
            .unwrap(),
    )
}

/// The two test memcached servers.
///
/// # Panics
///
/// When a server does not answer.
pub async fn memcached() -> Option<MemcachedStore> {
    let servers = address("SESSIONKIT_MEMCACHED")?;
    Some(MemcachedStore::connect(servers.split(',')).await.unwrap())
}

/// A layer for `S` over every store configuration the suite knows: each
/// store alone, and the cache × durable pairs that matter, by name.
/// Configurations whose server is not set up are left out (never under
/// `CI=true`).
///
/// # Panics
///
/// When a configured server does not answer.
pub async fn every_server_layer<S>(
    key: &MasterKey,
    name: &str,
) -> Vec<(&'static str, SessionLayer<S>)>
where
    S: SessionData + Send,
    S::Access: Send,
    S::Tier: session_runtime::__private::StoreTier<S>,
{
    let mut layers = vec![
        ("memory", layer_of::<S, _>(key, MemoryStore::default())),
        (
            "sqlite",
            layer_of::<S, _>(key, sqlite_file(&format!("{name}_sqlite")).await),
        ),
        (
            "tiered memory+sqlite",
            layer_of::<S, _>(
                key,
                Tiered::new(
                    MemoryStore::default(),
                    sqlite_file(&format!("{name}_tiered_sqlite")).await,
                ),
            ),
        ),
    ];
    if let Some(store) = postgres(&format!("{name}_pg")).await {
        layers.push(("postgres", layer_of::<S, _>(key, store)));
    }
    if let Some(store) = mysql(&format!("{name}_my")).await {
        layers.push(("mariadb", layer_of::<S, _>(key, store)));
    }
    if let Some(store) = redis().await {
        layers.push(("redis", layer_of::<S, _>(key, store)));
    }
    if let Some(store) = memcached().await {
        layers.push(("memcached", layer_of::<S, _>(key, store)));
    }
    if let (Some(cache), Some(durable)) = (redis().await, postgres(&format!("{name}_tpg")).await) {
        layers.push((
            "tiered redis+postgres",
            layer_of::<S, _>(key, Tiered::new(cache, durable)),
        ));
    }
    if let Some(store) = redis_near().await {
        layers.push(("redis near", layer_of::<S, _>(key, store)));
    }
    if let Some(store) = postgres_near(&format!("{name}_npg")).await {
        layers.push(("postgres near", layer_of::<S, _>(key, store)));
    }
    if let (Some(cache), Some(durable)) = (
        redis_near().await,
        postgres_near(&format!("{name}_tnpg")).await,
    ) {
        layers.push((
            "tiered redis near+postgres near",
            layer_of::<S, _>(key, Tiered::new(cache, durable)),
        ));
    }
    if let (Some(cache), Some(durable)) = (memcached().await, mysql(&format!("{name}_tmy")).await) {
        layers.push((
            "tiered memcached+mariadb",
            layer_of::<S, _>(key, Tiered::new(cache, durable)),
        ));
    }
    layers
}

fn layer_of<S, St>(key: &MasterKey, store: St) -> SessionLayer<S>
where
    S: SessionData + Send,
    S::Access: Send,
    // `with_store`'s bound (a session type that may live server-side)
    S::Tier: session_runtime::__private::StoreTier<S>,
    St: session_runtime::SessionStore,
{
    SessionLayer::<S>::with_store(key.clone(), store)
}
