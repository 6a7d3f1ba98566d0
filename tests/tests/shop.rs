//! The shop example served on loopback and driven like a browser: the
//! acceptance walk-through of the request path.

use session_runtime::id::SIGNED_ID_LEN;
use session_runtime::store::SqliteStore;
use session_runtime::{MemoryStore, Tiered};
use sessionkit_tests::http::{browser, listen};
use sessionkit_tests::key;
use std::net::SocketAddr;

async fn serve() -> SocketAddr {
    let key = key();
    // plain HTTP: the jar would keep `Secure` cookies for https only
    let store = Tiered::new(
        MemoryStore::default(),
        SqliteStore::in_memory().await.unwrap(),
    );
    listen(sessionkit_examples::shop::app(key, false, store).unwrap()).await
}

/// The text of the page at `url`.
async fn page_text(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(set_cookie: &str) -> String {
    cookie::Cookie::parse(set_cookie.to_owned())
        .unwrap()
        .value()
        .to_owned()
}

/// The actix-web shop on loopback, on an actix system of its own.
fn serve_actix() -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let key = key();
            let store = std::sync::Arc::new(Tiered::new(
                MemoryStore::default(),
                SqliteStore::in_memory().await.unwrap(),
            ));
            let server = actix_web::HttpServer::new(move || {
                let scope = sessionkit_examples::shop_actix::scope(
                    key.clone(),
                    false,
                    std::sync::Arc::clone(&store),
                )
                .unwrap();
                actix_web::App::new().service(scope)
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            sender.send(server.addrs()[0]).unwrap();
            server.run().await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

#[tokio::test]
async fn the_axum_shop_walkthrough() {
    walk(serve().await).await;
}

#[tokio::test]
async fn the_actix_shop_walkthrough_is_the_same() {
    walk(serve_actix()).await;
}

async fn walk(addr: SocketAddr) {
    let client = browser();
    let url = |path: &str| format!("http://{addr}{path}");

    // pages that do not change a session send no cookie
    for path in ["/about", "/"] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(set_cookies(&response).is_empty(), "{path}");
    }

    // adding an item: one encrypted cookie
    let response = client
        .post(url("/cart/add"))
        .form(&[("sku", "3")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].starts_with("cart="), "{}", cookies[0]);
    assert!(!cookies[0].contains("Hazelnut"));

    // reading the cart again: no cookie
    let response = client.get(url("/")).send().await.unwrap();
    assert!(set_cookies(&response).is_empty());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("1 × Hazelnut spread")
    );

    // more items, removal, an unknown product
    client
        .post(url("/cart/add"))
        .form(&[("sku", "3")])
        .send()
        .await
        .unwrap();
    client
        .post(url("/cart/add"))
        .form(&[("sku", "1")])
        .send()
        .await
        .unwrap();
    client
        .post(url("/cart/remove"))
        .form(&[("sku", "1")])
        .send()
        .await
        .unwrap();
    let response = client
        .post(url("/cart/add"))
        .form(&[("sku", "999")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let page = page_text(&client, url("/")).await;
    assert!(page.contains("2 × Hazelnut spread"));
    assert!(!page.contains("× Sourdough loaf"), "removed again");

    // preferences live in their own cookie
    let response = client
        .post(url("/prefs"))
        .form(&[("theme", "dark"), ("currency", "usd")])
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].starts_with("prefs="));
    let page = page_text(&client, url("/")).await;
    assert!(
        page.contains("#1d1f21") && page.contains("$14.90"),
        "dark theme, USD prices"
    );

    // logging in re-seals the cart (cycle_id) and keeps its contents
    let response = client
        .post(url("/login"))
        .form(&[("name", "<Ada>")])
        .send()
        .await
        .unwrap();
    assert_eq!(set_cookies(&response).len(), 1);
    let page = page_text(&client, url("/")).await;
    assert!(
        page.contains("Signed in as <b>&lt;Ada&gt;</b>"),
        "the name is escaped"
    );
    assert!(page.contains("2 × Hazelnut spread"));

    // a long gift note outgrows the cookie: the cart moves to the store and
    // the cookie carries only its signed id; a short one brings it back
    let long_note = "Happy birthday! ".repeat(60);
    let response = client
        .post(url("/cart/note"))
        .form(&[("note", long_note.as_str())])
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    let value = cookie_value(&cookies[0]);
    assert_eq!(value.len(), SIGNED_ID_LEN, "a signed id: {}", cookies[0]);
    let page = page_text(&client, url("/")).await;
    assert!(page.contains("Happy birthday!") && page.contains("2 × Hazelnut spread"));
    let response = client
        .post(url("/cart/note"))
        .form(&[("note", "Short.")])
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&response);
    assert!(
        cookie_value(&cookies[0]).len() > SIGNED_ID_LEN,
        "back in the cookie"
    );

    // logging out expires the cart cookie; preferences stay
    let response = client.post(url("/logout")).send().await.unwrap();
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(
        cookies[0].starts_with("cart=;") && cookies[0].contains("Max-Age=0"),
        "{}",
        cookies[0]
    );
    let page = page_text(&client, url("/")).await;
    assert!(page.contains("Empty.") && page.contains("Log in"));
    assert!(page.contains("#1d1f21"), "preferences survive logout");
}

#[tokio::test]
async fn the_shop_exposes_session_metrics_for_prometheus() {
    // the one recorder of this test process
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let key = key();
    let store = Tiered::new(
        MemoryStore::default(),
        SqliteStore::in_memory().await.unwrap(),
    );
    let app = sessionkit_examples::shop::app(key, false, store)
        .unwrap()
        .merge(sessionkit_examples::shop::metrics(handle));
    let addr = listen(app).await;
    let client = browser();
    let url = |path: &str| format!("http://{addr}{path}");
    // a scripted session: an item, a read, a long note (server-side), a
    // tampered cookie
    client
        .post(url("/cart/add"))
        .form(&[("sku", "3")])
        .send()
        .await
        .unwrap();
    client.get(url("/")).send().await.unwrap();
    let note = "n".repeat(2_000);
    client
        .post(url("/cart/note"))
        .form(&[("note", note.as_str())])
        .send()
        .await
        .unwrap();
    client.get(url("/")).send().await.unwrap();
    reqwest::Client::new()
        .get(url("/"))
        .header("cookie", "cart=forged")
        .send()
        .await
        .unwrap();
    let page = page_text(&client, url("/metrics")).await;
    for expected in [
        "sessionkit_sessions_saved_total{session=\"cart\",tier=\"cookie\"}",
        "sessionkit_sessions_saved_total{session=\"cart\",tier=\"store\"}",
        "sessionkit_sessions_created_total{session=\"cart\"}",
        "sessionkit_sessions_loaded_total{session=\"cart\"}",
        "sessionkit_sessions_unchanged_total{session=\"cart\"}",
        "sessionkit_refused_total{session=\"cart\",reason=\"malformed\"}",
        "sessionkit_store_seconds",
    ] {
        assert!(page.contains(expected), "{expected} missing from:\n{page}");
    }
}

#[tokio::test]
async fn every_documented_store_combination_serves_the_shop() {
    use sessionkit_tests::servers::address;
    let (Some(redis), Some(memcached), Some(postgres), Some(mysql)) = (
        address("SESSIONKIT_REDIS_URL"),
        address("SESSIONKIT_MEMCACHED"),
        address("SESSIONKIT_POSTGRES_URL"),
        address("SESSIONKIT_MYSQL_URL"),
    ) else {
        return;
    };
    let sqlite = std::env::temp_dir().join(format!("sessionkit-shop-{}.db", std::process::id()));
    let sqlite = format!("sqlite://{}?mode=rwc", sqlite.display());
    let caches = [
        "memory".to_owned(),
        "none".to_owned(),
        redis,
        format!("memcached://{memcached}"),
    ];
    let databases = [sqlite, postgres, mysql, "none".to_owned()];
    let mut served = 0;
    for cache in &caches {
        for database in &databases {
            if cache == "none" && database == "none" {
                continue;
            }
            let key = key();
            let app = sessionkit_examples::shop_stores::app_for(key, false, cache, database)
                .await
                .unwrap_or_else(|err| panic!("{cache} over {database}: {err}"));
            let addr = listen(app).await;
            let client = browser();
            // a long note moves the cart server-side, into these stores
            let note = "gift ".repeat(400);
            let response = client
                .post(format!("http://{addr}/cart/note"))
                .form(&[("note", note.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303, "{cache} over {database}");
            let page = page_text(&client, format!("http://{addr}/")).await;
            assert!(
                page.contains("gift gift"),
                "{cache} over {database}: the note came back"
            );
            served += 1;
        }
    }
    sessionkit_tests::figure(&format!(
        "shop store combinations (SESSION_CACHE x SESSION_DATABASE_URL): {served} of 15 serve a server-side cart"
    ));
    assert_eq!(served, 15);
}

#[tokio::test]
async fn log_out_other_devices_reaches_carts_in_cookies_and_on_the_server_on_both_shops() {
    for addr in [serve().await, serve_actix()] {
        let url = |path: &str| format!("http://{addr}{path}");
        let user = format!("ada{}", addr.port());
        let (phone, laptop, desk) = (browser(), browser(), browser());
        for client in [&phone, &laptop, &desk] {
            let login = client
                .post(url("/login"))
                .form(&[("name", user.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(login.status(), 303);
        }
        // the desk's cart outgrows its cookie: it lives on the server
        let long_note = "x".repeat(900);
        let note = desk
            .post(url("/cart/note"))
            .form(&[("note", long_note.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(note.status(), 303);
        let others = laptop.post(url("/logout-others")).send().await.unwrap();
        assert_eq!(others.status(), 303, "{addr}");
        for (name, client) in [("phone", &phone), ("desk", &desk)] {
            let page = page_text(client, url("/")).await;
            assert!(
                !page.contains("Signed in as"),
                "{addr}: the {name} is logged out"
            );
            assert!(page.contains("Log in"), "{addr}: {name}");
        }
        let page = page_text(&laptop, url("/")).await;
        assert!(
            page.contains(&format!("Signed in as <b>{user}</b>")),
            "{addr}: the laptop stays"
        );
    }
}
