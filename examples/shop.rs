//! The sessionkit demo shop: `cargo run --example shop`.
//!
//! Serves on 127.0.0.1:3000 (`PORT` overrides); `/metrics` has the session
//! metrics in Prometheus' text format. Without `SESSION_SECRET` it
//! generates a development secret (sessions end when the process does);
//! set `SESSION_SECRET` to a base64 secret of at least 32 bytes (`sessionkit
//! keygen` makes one) to keep them. `SESSION_COOKIE_SECURE=0` drops the
//! `Secure` attribute for plain-HTTP development on a host other than
//! localhost.
//!
//! Where large carts go (embedded defaults: no server needed):
//!
//! * `SESSION_CACHE`: `memory` (default), `redis://host:port/`,
//!   `memcached://host:port[,host:port…]`, or `none`.
//! * `SESSION_DATABASE_URL`: `sqlite://shop-sessions.db?mode=rwc` (default),
//!   `postgres://…`, `mysql://…` (MariaDB too), or `none` for a cache-only
//!   store (gae-sessions' `no_datastore`).

use session_runtime::cleanup::Reaper;
use session_runtime::store::{MemcachedStore, MySqlStore, PostgresStore, RedisStore, SqliteStore};
use session_runtime::{MasterKey, MemoryStore, SessionStore, Tiered};
use sessionkit_examples::shop;
use std::sync::Arc;
use std::time::Duration;

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,session_runtime=debug".into()),
        )
        .init();

    let shop::Env { key, secure, port } = shop::Env::read(3000)?;

    let cache = std::env::var("SESSION_CACHE").unwrap_or_else(|_| "memory".to_owned());
    let database = std::env::var("SESSION_DATABASE_URL")
        .unwrap_or_else(|_| "sqlite://shop-sessions.db?mode=rwc".to_owned());
    let app = match cache.as_str() {
        "memory" => with_database(key, secure, MemoryStore::default(), &database).await?,
        "none" => durable_only(key, secure, &database).await?,
        url if url.starts_with("redis://") => {
            with_database(key, secure, RedisStore::connect(url).await?, &database).await?
        }
        url if url.starts_with("memcached://") => {
            let servers = url.trim_start_matches("memcached://").split(',');
            with_database(
                key,
                secure,
                MemcachedStore::connect(servers).await?,
                &database,
            )
            .await?
        }
        other => {
            return Err(format!(
                "SESSION_CACHE `{other}` is not memory, none, redis:// or memcached://"
            )
            .into());
        }
    };
    println!("carts: cache {cache}, database {database}");
    // the session metrics on /metrics, in Prometheus' text format
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let app = app.merge(shop::metrics(recorder));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("sessionkit shop: http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The router with `cache` in front of the database, and a reaper.
async fn with_database<C: SessionStore>(
    key: MasterKey,
    secure: bool,
    cache: C,
    url: &str,
) -> Result<axum::Router, Error> {
    Ok(match scheme(url) {
        "none" => serve(key, secure, cache)?,
        "sqlite" => serve(key, secure, Tiered::new(cache, migrated_sqlite(url).await?))?,
        "postgres" | "postgresql" => {
            let store = PostgresStore::connect(url).await?;
            store.migrate().await?;
            serve(key, secure, Tiered::new(cache, store))?
        }
        "mysql" => {
            let store = MySqlStore::connect(url).await?;
            store.migrate().await?;
            serve(key, secure, Tiered::new(cache, store))?
        }
        other => {
            return Err(format!(
                "SESSION_DATABASE_URL scheme `{other}` is not sqlite, postgres, mysql or none"
            )
            .into());
        }
    })
}

async fn durable_only(key: MasterKey, secure: bool, url: &str) -> Result<axum::Router, Error> {
    match scheme(url) {
        "sqlite" => serve(key, secure, migrated_sqlite(url).await?),
        _ => Err("SESSION_CACHE=none works with the sqlite database".into()),
    }
}

async fn migrated_sqlite(url: &str) -> Result<SqliteStore, Error> {
    let store = SqliteStore::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or_default()
}

/// Shares the store between the layer and an hourly reaper.
fn serve<S: SessionStore>(key: MasterKey, secure: bool, store: S) -> Result<axum::Router, Error> {
    let store = Arc::new(store);
    Reaper::new()
        .with_interval(Duration::from_secs(3600))
        .spawn(Arc::clone(&store));
    Ok(shop::app(key, secure, store)?)
}
