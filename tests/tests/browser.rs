//! The shop in a real browser: headless Chromium driven through WebDriver
//! (Debian's `chromium` and `chromium-driver`, installed by
//! `tests/servers.sh`) walks what a shopper does, and saves a screenshot
//! of every step under `target/browser-walk/` (the run's artefacts).
//! Without a browser the test says SKIPPED; under `CI=true` it fails.

use fantoccini::{Client, ClientBuilder, Locator};
use session_runtime::id::SIGNED_ID_LEN;
use session_runtime::store::SqliteStore;
use session_runtime::{MemoryStore, Tiered};
use sessionkit_tests::http::listen;
use sessionkit_tests::key;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver process, stopped with the test.
struct Driver {
    child: Child,
    port: u16,
    profiles: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Starts chromedriver on a free port, or says why not.
fn driver() -> Option<Driver> {
    let binary = std::env::var_os("SESSIONKIT_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_binary(&["chromedriver"]));
    let Some(binary) = binary
        .filter(|_| find_binary(&["chromium", "chromium-browser", "google-chrome"]).is_some())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have chromium and chromedriver: run tests/run.sh, which installs them"
        );
        eprintln!("SKIPPED: chromium or chromedriver is not installed");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profiles = std::env::temp_dir().join(format!("sessionkit-browser-{}", std::process::id()));
    let driver = Driver {
        child,
        port,
        profiles,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

/// A fresh browser: its own profile, so its own cookies.
async fn browser(driver: &Driver, name: &str) -> Client {
    let profile = driver.profiles.join(name);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1000,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// Saves what the browser shows now as `NN-step.png`.
async fn screenshot(client: &Client, step: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-walk");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{step}: not a PNG");
    std::fs::write(dir.join(format!("{step}.png")), png).unwrap();
}

async fn page(client: &Client) -> String {
    client.source().await.expect("the page source")
}

/// Clicks a form's button and waits for the page it leads to (the old
/// document going stale), so the next step never sees the old page.
async fn click(client: &Client, xpath: &str) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|err| panic!("{xpath}: {err}"))
        .click()
        .await
        .unwrap_or_else(|err| panic!("{xpath}: {err}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.prop("tagName").await.is_ok() {
        assert!(Instant::now() < deadline, "{xpath}: no new page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `cart` cookie's value, if the browser holds one.
async fn cart_cookie(client: &Client) -> Option<String> {
    client
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|cookie| cookie.name() == "cart")
        .map(|cookie| cookie.value().to_owned())
}

async fn log_in(client: &Client, base: &str, name: &str) {
    client.goto(base).await.unwrap();
    let input = client.find(Locator::Css("input[name=name]")).await.unwrap();
    input.send_keys(name).await.unwrap();
    click(client, "//button[text()='Log in']").await;
    assert!(
        page(client)
            .await
            .contains(&format!("Signed in as <b>{name}</b>"))
    );
}

async fn serve() -> SocketAddr {
    let key = key();
    let store = Tiered::new(
        MemoryStore::default(),
        SqliteStore::in_memory().await.unwrap(),
    );
    // plain HTTP on loopback: cookies without `Secure`, as over http://
    listen(sessionkit_examples::shop::app(key, false, store).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_walks_the_shop_in_headless_chromium() {
    let Some(driver) = driver() else {
        return;
    };
    let base = format!("http://{}/", serve().await);
    let shopper = browser(&driver, "shopper").await;

    shopper.goto(&base).await.unwrap();
    assert!(page(&shopper).await.contains("Log in"));
    assert_eq!(cart_cookie(&shopper).await, None, "a visit sets no cookie");
    screenshot(&shopper, "01-home").await;

    log_in(&shopper, &base, "ada").await;
    screenshot(&shopper, "02-logged-in").await;

    click(&shopper, "(//form[@action='/cart/add']//button)[1]").await;
    click(&shopper, "(//form[@action='/cart/add']//button)[3]").await;
    click(&shopper, "(//form[@action='/cart/add']//button)[3]").await;
    let cart = page(&shopper).await;
    assert!(cart.contains("2 × "), "two of the third product");
    assert!(cart.contains("1 × "), "one of the first");
    screenshot(&shopper, "03-cart").await;

    let theme = shopper
        .find(Locator::Css("select[name=theme]"))
        .await
        .unwrap();
    theme.select_by_value("dark").await.unwrap();
    let currency = shopper
        .find(Locator::Css("select[name=currency]"))
        .await
        .unwrap();
    currency.select_by_value("usd").await.unwrap();
    click(&shopper, "//form[@action='/prefs']//button").await;
    let styled = page(&shopper).await;
    assert!(styled.contains("#1d1f21"), "the dark theme");
    assert!(styled.contains('$'), "prices in dollars");
    screenshot(&shopper, "04-preferences").await;

    let in_cookie = cart_cookie(&shopper).await.expect("a cart cookie");
    assert_ne!(
        in_cookie.len(),
        SIGNED_ID_LEN,
        "a small cart lives in its cookie"
    );

    // a long gift note: the cart moves to the server, the cookie shrinks
    let long_note = "Happy birthday! ".repeat(60);
    let note = shopper
        .find(Locator::Css("textarea[name=note]"))
        .await
        .unwrap();
    note.send_keys(&long_note).await.unwrap();
    click(&shopper, "//form[@action='/cart/note']//button").await;
    let on_server = cart_cookie(&shopper).await.expect("a cart cookie");
    assert_eq!(
        on_server.len(),
        SIGNED_ID_LEN,
        "the cookie holds a signed ID"
    );
    assert!(on_server.len() < in_cookie.len() + long_note.len());
    screenshot(&shopper, "05-long-note").await;

    shopper.refresh().await.unwrap();
    let reloaded = page(&shopper).await;
    assert!(
        reloaded.contains("Happy birthday!"),
        "the note survives a reload"
    );
    assert!(reloaded.contains("2 × "), "and so does the cart");
    screenshot(&shopper, "06-reloaded").await;

    // a short note again: back into the cookie
    let note = shopper
        .find(Locator::Css("textarea[name=note]"))
        .await
        .unwrap();
    note.clear().await.unwrap();
    note.send_keys("With love").await.unwrap();
    click(&shopper, "//form[@action='/cart/note']//button").await;
    let back = cart_cookie(&shopper).await.expect("a cart cookie");
    assert_ne!(back.len(), SIGNED_ID_LEN, "the cart is back in its cookie");
    assert!(page(&shopper).await.contains("With love"));
    screenshot(&shopper, "07-short-note").await;

    // log out: the cart goes, the preferences stay
    click(&shopper, "//button[text()='Log out']").await;
    let out = page(&shopper).await;
    assert!(out.contains("Log in"), "logged out");
    assert!(out.contains("Empty."), "the cart is gone");
    assert!(out.contains("#1d1f21"), "the preferences stay");
    assert_eq!(
        cart_cookie(&shopper).await,
        None,
        "the cart cookie is cleared"
    );
    screenshot(&shopper, "08-logged-out").await;

    // log out everywhere, from a second browser
    log_in(&shopper, &base, "ada").await;
    click(&shopper, "(//form[@action='/cart/add']//button)[2]").await;
    let phone = browser(&driver, "phone").await;
    log_in(&phone, &base, "ada").await;
    click(&phone, "//button[text()='Log out other devices']").await;
    assert!(
        page(&phone).await.contains("Signed in as <b>ada</b>"),
        "the phone stays"
    );
    screenshot(&phone, "09-phone-logs-out-other-devices").await;
    shopper.refresh().await.unwrap();
    let revoked = page(&shopper).await;
    assert!(
        revoked.contains("Log in"),
        "the first browser is logged out"
    );
    assert!(!revoked.contains("Signed in as"));
    screenshot(&shopper, "10-first-browser-logged-out").await;

    sessionkit_tests::figure(
        "browser walk (headless Chromium via WebDriver): log in, cart, preferences, long note (cookie -> signed ID), reload, short note (back in the cookie), log out (preferences kept), log out other devices from a second browser: 10 screenshots in target/browser-walk/",
    );
    phone.close().await.unwrap();
    shopper.close().await.unwrap();
}
