//! The sessionkit demo shop on actix-web: `cargo run --example shop_actix`.
//!
//! The same shop as `cargo run --example shop` (axum), on the same session
//! types, store and actions: a cart that moves between its cookie and a
//! MemoryStore + SQLite tier (`shop-actix-sessions.db`), and preferences in
//! a sealed cookie. Serves on 127.0.0.1:3001 (`PORT` overrides);
//! `SESSION_SECRET` and `SESSION_COOKIE_SECURE` as for the axum shop.

use session_runtime::store::SqliteStore;
use session_runtime::{MasterKey, MemoryStore, Tiered};
use sessionkit_examples::shop_actix;

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
    let key = match std::env::var("SESSION_SECRET") {
        Ok(secret) => MasterKey::from_base64(&secret)?,
        Err(_) => {
            eprintln!("SESSION_SECRET is not set: using a development secret for this run only");
            MasterKey::from_base64(&MasterKey::generate_secret()?)?
        }
    };
    let secure = std::env::var("SESSION_COOKIE_SECURE").map_or(true, |v| v != "0");
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT `{port}` is not a port number"))?,
        Err(_) => 3001,
    };
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
