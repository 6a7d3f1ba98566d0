//! The sessionkit demo shop: `cargo run --example shop`.
//!
//! Serves on 127.0.0.1:3000 (`PORT` overrides). Without `SESSION_SECRET` it
//! generates a development secret (sessions end when the process does);
//! set `SESSION_SECRET` to a base64 secret of at least 32 bytes to keep them.
//! `SESSION_COOKIE_SECURE=0` drops the `Secure` attribute for plain-HTTP
//! development on a host other than localhost.

use session_runtime::MasterKey;
use sessionkit_examples::shop;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,session_runtime=debug".into()),
        )
        .init();

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
        Err(_) => 3000,
    };

    let app = shop::app(key, secure)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("sessionkit shop: http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
