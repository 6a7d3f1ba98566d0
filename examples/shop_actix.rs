//! The sessionkit demo shop on actix-web: `cargo run --example shop_actix`.
//!
//! The same shop as `cargo run --example shop` (axum), on the same session
//! types, store and actions: a cart that moves between its cookie and a
//! MemoryStore + SQLite tier (`shop-actix-sessions.db`), and preferences in
//! a sealed cookie. Serves on 127.0.0.1:3001 (`PORT` overrides);
//! `SESSION_SECRET` and `SESSION_COOKIE_SECURE` as for the axum shop.

use session_runtime::store::SqliteStore;
use session_runtime::{MemoryStore, Tiered};
use sessionkit_examples::{shop, shop_actix};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,session_runtime=debug".into()),
        )
        .init();
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> Result<(), Error> {
    let shop::Env { key, secure, port } = shop::Env::read(3001)?;
    let database = SqliteStore::connect("sqlite://shop-actix-sessions.db?mode=rwc").await?;
    database.migrate().await?;
    let store = std::sync::Arc::new(Tiered::new(MemoryStore::default(), database));
    // check the configuration once, before the server starts its workers
    shop_actix::scope(key.clone(), secure, std::sync::Arc::clone(&store))?;
    println!("sessionkit shop (actix-web): http://127.0.0.1:{port}/");
    actix_web::HttpServer::new(move || {
        let scope = shop_actix::scope(key.clone(), secure, std::sync::Arc::clone(&store))
            .unwrap_or_else(|err| unreachable!("checked before starting: {err}"));
        actix_web::App::new().service(scope)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
