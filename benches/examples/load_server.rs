//! One configuration of the load run (`benches/load.sh`), served by axum on
//! a loopback port for an external load generator (wrk):
//!
//! * `POST /login` creates a session holding the 131-byte cart and answers
//!   its cookie;
//! * `GET /read` loads the cart and reads its counter;
//! * `POST /write` loads the cart and increments its counter;
//! * `POST /logout` ends the session (a sessionkit server-side
//!   configuration; `near_logouts` measures how soon another process
//!   refuses it).
//!
//! ```sh
//! load_server --list                 # name, its tower-sessions peer, target, label
//! load_server CONFIG PORT [TAG]      # serves CONFIG on 127.0.0.1:PORT
//! ```
//!
//! Each configuration has its own Redis prefix and SQL tables (emptied at
//! start, so every run begins alike); `TAG` names another set of them, so
//! two builds of the same configuration (before and after a change) never
//! share a table that one of them migrated. With `LOAD_SHARE_TABLES` set,
//! the tables are kept: a second process of the configuration shares the
//! first's. Needs `SESSIONKIT_REDIS_URL`
//! and `SESSIONKIT_POSTGRES_URL` (from `tests/servers.sh`).

use axum::Router;
use axum::routing::{get, post};
use session_runtime::store::{PostgresStore, RedisStore};
use session_runtime::{Mode, SessionLayer, Tiered};
use sessionkit_benches::peers;
use sessionkit_benches::sessionkit::{self as kit, key};
use sessionkit_benches::{Cart, ServerCart};
use std::future::Future;
use std::pin::Pin;

/// Where a configuration keeps its sessions, and under which names.
struct Env {
    redis_url: String,
    postgres_url: String,
    /// `""`, or `_TAG` from the command line.
    tag: String,
}

impl Env {
    /// A table name of this run: `base` plus the tag.
    fn table(&self, base: &str) -> String {
        format!("{base}{}", self.tag)
    }

    /// A Redis key prefix of this run.
    fn prefix(&self, base: &str) -> String {
        format!("load:{base}{}:", self.tag)
    }
}

type Build = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = Router> + 'a>>;

/// One configuration: its name on the command line, the tower-sessions
/// configuration it is compared with (`None` for a peer), the target of
/// its ratio of requests/s against that peer (the issue's, `None`: no
/// target), and its label in tables.
struct Config {
    name: &'static str,
    peer: Option<&'static str>,
    target: Option<&'static str>,
    label: &'static str,
    build: Build,
}

/// Every configuration. To add one: a `Config` here (a sessionkit one
/// names its peer), and `load.sh` runs it against that peer.
const CONFIGS: &[Config] = &[
    Config {
        name: "kit-cookie",
        peer: Some("ts-memory"),
        target: Some("1.5"),
        label: "sessionkit, sealed cookie (encrypted)",
        build: |_| Box::pin(async { kit_cookie() }),
    },
    Config {
        name: "ts-memory",
        peer: None,
        target: None,
        label: "tower-sessions 0.15, MemoryStore",
        build: |_| Box::pin(async { ts_memory() }),
    },
    Config {
        name: "kit-redis",
        peer: Some("ts-redis"),
        target: None,
        label: "sessionkit RedisStore",
        build: |env| Box::pin(kit_redis(env)),
    },
    Config {
        name: "ts-redis",
        peer: None,
        target: None,
        label: "tower-sessions 0.14 + tower-sessions-redis-store 0.16",
        build: |env| Box::pin(ts_redis(env)),
    },
    Config {
        name: "kit-postgres",
        peer: Some("ts-postgres"),
        target: Some("1.2"),
        label: "sessionkit PostgresStore",
        build: |env| Box::pin(kit_postgres(env)),
    },
    Config {
        name: "ts-postgres",
        peer: None,
        target: None,
        label: "tower-sessions 0.14 + tower-sessions-sqlx-store 0.15 (PostgreSQL)",
        build: |env| Box::pin(ts_postgres(env)),
    },
    Config {
        name: "kit-tiered",
        peer: Some("ts-tiered"),
        target: None,
        label: "sessionkit Tiered Redis + PostgreSQL",
        build: |env| Box::pin(kit_tiered(env)),
    },
    Config {
        name: "ts-tiered",
        peer: None,
        target: None,
        label: "tower-sessions 0.14, CachingSessionStore(Redis, PostgreSQL)",
        build: |env| Box::pin(ts_tiered(env)),
    },
    Config {
        name: "kit-redis-near",
        peer: Some("ts-redis"),
        target: Some("1.5"),
        label: "sessionkit RedisStore + near cache",
        build: |env| Box::pin(kit_redis_near(env)),
    },
    Config {
        name: "kit-postgres-near",
        peer: Some("ts-postgres"),
        target: Some("2"),
        label: "sessionkit PostgresStore + near cache",
        build: |env| Box::pin(kit_postgres_near(env)),
    },
    Config {
        name: "kit-tiered-near",
        peer: Some("ts-tiered"),
        target: Some("2"),
        label: "sessionkit Tiered Redis + PostgreSQL, near cache on Redis",
        build: |env| Box::pin(kit_tiered_near(env)),
    },
];

fn kit_routes(store: impl session_runtime::SessionStore) -> Router {
    Router::new()
        .route("/login", post(kit::server_cart))
        .route("/read", get(kit::server_cart_read))
        .route("/write", post(kit::server_cart))
        .route(
            "/logout",
            post(
                |mut cart: session_runtime::Session<ServerCart>| async move {
                    cart.terminate();
                    "bye"
                },
            ),
        )
        .layer(SessionLayer::<ServerCart>::with_store(key(), store))
}

fn ts_014_routes<S: tower_sessions_014::SessionStore + Clone>(store: S) -> Router {
    Router::new()
        .route("/login", post(peers::tower_sessions_014_rw))
        .route("/read", get(peers::tower_sessions_014_read))
        .route("/write", post(peers::tower_sessions_014_rw))
        .layer(tower_sessions_014::SessionManagerLayer::new(store))
}

fn kit_cookie() -> Router {
    Router::new()
        .route("/login", post(kit::cart))
        .route("/read", get(kit::cart_read))
        .route("/write", post(kit::cart))
        .layer(SessionLayer::<Cart>::new(key()).with_mode(Mode::Encrypted))
}

fn ts_memory() -> Router {
    Router::new()
        .route("/login", post(peers::tower_sessions_rw_cart))
        .route("/read", get(peers::tower_sessions_read))
        .route("/write", post(peers::tower_sessions_rw_cart))
        .layer(tower_sessions::SessionManagerLayer::new(
            tower_sessions::MemoryStore::default(),
        ))
}

async fn redis_store(env: &Env, base: &str) -> RedisStore {
    RedisStore::connect(&env.redis_url)
        .await
        .expect("redis")
        .with_prefix(&env.prefix(base))
}

/// A sessionkit PostgresStore on a fresh table of its own.
async fn postgres_store(env: &Env, base: &str) -> PostgresStore {
    let table = env.table(base);
    // a second process of the same configuration shares the first's tables
    if std::env::var_os("LOAD_SHARE_TABLES").is_none() {
        drop_tables(env, &[table.clone(), format!("{table}_revoked")]).await;
    }
    let store = PostgresStore::connect(&env.postgres_url)
        .await
        .expect("postgres")
        .with_table(&table)
        .expect("a plain table name");
    store.migrate().await.expect("migrates");
    store
}

/// Drops `tables` (a fresh start for every run), over a connection of the
/// benches' own sqlx (sessionkit's store is on another sqlx generation).
async fn drop_tables(env: &Env, tables: &[String]) {
    let pool = sqlx::PgPool::connect(&env.postgres_url)
        .await
        .expect("postgres");
    for table in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&pool)
            .await
            .expect("drops");
    }
    pool.close().await;
}

async fn fred_pool(env: &Env) -> tower_sessions_redis_store::fred::prelude::Pool {
    use tower_sessions_redis_store::fred::prelude::*;
    let config = Config::from_url(&env.redis_url).expect("redis url");
    let pool = Pool::new(config, None, None, None, 2).expect("fred pool");
    let _connection = pool.connect();
    pool.wait_for_connect().await.expect("redis");
    pool
}

/// tower-sessions' PostgresStore on a fresh table of its own.
async fn ts_postgres_store(env: &Env, base: &str) -> tower_sessions_sqlx_store::PostgresStore {
    let table = env.table(base);
    drop_tables(env, &[format!("tower_sessions.{table}")]).await;
    let pool = sqlx::PgPool::connect(&env.postgres_url)
        .await
        .expect("postgres");
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool)
        .with_table_name(&table)
        .expect("a plain table name");
    store.migrate().await.expect("migrates");
    store
}

async fn kit_redis(env: &Env) -> Router {
    kit_routes(redis_store(env, "kit_redis").await)
}

async fn ts_redis(env: &Env) -> Router {
    ts_014_routes(tower_sessions_redis_store::RedisStore::new(
        fred_pool(env).await,
    ))
}

async fn kit_postgres(env: &Env) -> Router {
    kit_routes(postgres_store(env, "load_kit_postgres").await)
}

async fn ts_postgres(env: &Env) -> Router {
    ts_014_routes(ts_postgres_store(env, "load_ts_postgres").await)
}

async fn kit_tiered(env: &Env) -> Router {
    let cache = redis_store(env, "kit_tiered").await;
    let durable = postgres_store(env, "load_kit_tiered").await;
    kit_routes(Tiered::new(cache, durable))
}

/// What each near cache may hold: every session of the run, many times.
const NEAR_BYTES: std::num::NonZeroUsize = std::num::NonZeroUsize::new(64 << 20).unwrap();

async fn kit_redis_near(env: &Env) -> Router {
    let store = redis_store(env, "kit_redis_near").await;
    kit_routes(store.with_near_cache(NEAR_BYTES).await.expect("tracking"))
}

async fn kit_postgres_near(env: &Env) -> Router {
    let store = postgres_store(env, "load_kit_postgres_near").await;
    kit_routes(store.with_near_cache(NEAR_BYTES).await.expect("listens"))
}

/// The near cache in front of the cache tier, which serves the reads: in
/// front of the durable tier it would only add a notification to every
/// durable write.
async fn kit_tiered_near(env: &Env) -> Router {
    let cache = redis_store(env, "kit_tiered_near").await;
    let durable = postgres_store(env, "load_kit_tiered_near").await;
    kit_routes(Tiered::new(
        cache.with_near_cache(NEAR_BYTES).await.expect("tracking"),
        durable,
    ))
}

async fn ts_tiered(env: &Env) -> Router {
    let cache = tower_sessions_redis_store::RedisStore::new(fred_pool(env).await);
    let durable = ts_postgres_store(env, "load_ts_tiered").await;
    ts_014_routes(tower_sessions_014::CachingSessionStore::new(cache, durable))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run benches/load.sh, which starts the servers")
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        // name, peer, target, label: one line each, tab-separated
        for config in CONFIGS {
            println!(
                "{}\t{}\t{}\t{}",
                config.name,
                config.peer.unwrap_or("-"),
                config.target.unwrap_or("-"),
                config.label
            );
        }
        return;
    }
    let usage = "usage: load_server --list | load_server CONFIG PORT [TAG]";
    let (Some(name), Some(port)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(config) = CONFIGS.iter().find(|c| c.name == name) else {
        eprintln!("unknown configuration {name}: see load_server --list");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port number");
    let env = Env {
        redis_url: env("SESSIONKIT_REDIS_URL"),
        postgres_url: env("SESSIONKIT_POSTGRES_URL"),
        tag: args
            .get(2)
            .map_or_else(String::new, |tag| format!("_{tag}")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let app = (config.build)(&env).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binds");
        println!("{} listening on 127.0.0.1:{port}", config.name);
        axum::serve(listener, app).await.expect("serves");
    });
}
