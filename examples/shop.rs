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

use sessionkit_examples::{shop, shop_stores};

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
    let app = shop_stores::app_for(key, secure, &cache, &database).await?;
    println!("carts: cache {cache}, database {database}");
    // the session metrics on /metrics, in Prometheus' text format
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let app = app.merge(shop::metrics(recorder));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("sessionkit shop: http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
