//! The shop's stores, chosen by URL: `SESSION_CACHE` (`memory`, `none`,
//! `redis://…`, `memcached://host:port,…`) in front of
//! `SESSION_DATABASE_URL` (`sqlite://…`, `postgres://…`, `mysql://…`,
//! `none`); every combination but none over none works.

use crate::shop;
use session_runtime::cleanup::Reaper;
use session_runtime::store::{MemcachedStore, MySqlStore, PostgresStore, RedisStore, SqliteStore};
use session_runtime::{CacheStore, MasterKey, MemoryStore, RevocationTimes, SessionStore, Tiered};
use std::sync::Arc;
use std::time::Duration;

type Error = Box<dyn std::error::Error>;

/// The shop's router over the stores `cache` and `database` name, with an
/// hourly reaper on them.
///
/// # Errors
///
/// A URL this shop does not know, or a store that cannot be reached.
pub async fn app_for(
    key: MasterKey,
    secure: bool,
    cache: &str,
    database: &str,
) -> Result<axum::Router, Error> {
    let alone = scheme(database) == "none";
    match cache {
        "memory" if alone => serve(key, secure, MemoryStore::default()),
        "memory" => with_database(key, secure, MemoryStore::default(), database).await,
        "none" => durable_only(key, secure, database).await,
        url if url.starts_with("redis://") && alone => {
            serve(key, secure, RedisStore::connect(url).await?)
        }
        url if url.starts_with("redis://") => {
            with_database(key, secure, RedisStore::connect(url).await?, database).await
        }
        url if url.starts_with("memcached://") => {
            let servers = url.trim_start_matches("memcached://").split(',');
            let cache = MemcachedStore::connect(servers).await?;
            if alone {
                // memcached may evict revocation times: it cannot keep them
                return serve_without_revocation(key, secure, cache);
            }
            with_database(key, secure, cache, database).await
        }
        other => Err(format!(
            "SESSION_CACHE `{other}` is not memory, none, redis:// or memcached://"
        )
        .into()),
    }
}

/// The router with `cache` in front of the database, and a reaper. (A
/// cache alone, gae-sessions' `no_datastore`, is served by `app_for`.)
async fn with_database<C: CacheStore>(
    key: MasterKey,
    secure: bool,
    cache: C,
    url: &str,
) -> Result<axum::Router, Error> {
    Ok(match scheme(url) {
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

/// The database alone, no cache in front.
async fn durable_only(key: MasterKey, secure: bool, url: &str) -> Result<axum::Router, Error> {
    match scheme(url) {
        "sqlite" => serve(key, secure, migrated_sqlite(url).await?),
        "postgres" | "postgresql" => {
            let store = PostgresStore::connect(url).await?;
            store.migrate().await?;
            serve(key, secure, store)
        }
        "mysql" => {
            let store = MySqlStore::connect(url).await?;
            store.migrate().await?;
            serve(key, secure, store)
        }
        "none" => Err("SESSION_CACHE=none and SESSION_DATABASE_URL=none leave no store".into()),
        other => Err(format!(
            "SESSION_DATABASE_URL scheme `{other}` is not sqlite, postgres, mysql or none"
        )
        .into()),
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

/// The shop over `store`, which an hourly reaper shares.
fn serve<S: RevocationTimes>(
    key: MasterKey,
    secure: bool,
    store: S,
) -> Result<axum::Router, Error> {
    Ok(shop::app(key, secure, reaped(store))?)
}

/// As [`serve`], for a store that keeps no revocation times.
fn serve_without_revocation<S: SessionStore>(
    key: MasterKey,
    secure: bool,
    store: S,
) -> Result<axum::Router, Error> {
    Ok(shop::app_without_revocation(key, secure, reaped(store))?)
}

/// `store`, shared with an hourly reaper.
fn reaped<S: SessionStore>(store: S) -> Arc<S> {
    let store = Arc::new(store);
    Reaper::new()
        .with_interval(Duration::from_secs(3600))
        .spawn(Arc::clone(&store));
    store
}
