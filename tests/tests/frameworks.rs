//! The request-path and server-session scenarios, written once and run on
//! axum and on actix-web: the same core, the same answers.

use session_runtime::{MemoryStore, OutagePolicy, SessionLayer};
use sessionkit_tests::Prefs;
use sessionkit_tests::frameworks::{Account, Harness};
use sessionkit_tests::key;
use sessionkit_tests::probe::Probe;

/// The layers of one scenario: a cookie session and a server session over
/// `store` (the probe lets a scenario take it down).
struct Setup {
    prefs: SessionLayer<Prefs>,
    account: SessionLayer<Account>,
    store: Probe<MemoryStore>,
}

fn setup() -> Setup {
    let store = Probe::new(MemoryStore::default());
    Setup {
        prefs: SessionLayer::<Prefs>::new(key()),
        account: SessionLayer::<Account>::with_store(key(), store.clone()),
        store,
    }
}

fn max_age(reply: &sessionkit_tests::http::Reply, name: &str) -> Option<i64> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| cookie::Cookie::parse(v.to_str().ok()?.to_owned()).ok())
        .find(|c| c.name() == name)
        .and_then(|c| c.max_age())
        .map(|age| age.whole_seconds())
}

async fn untouched_routes_send_nothing<H: Harness>(app: H, _: Setup) {
    let reply = app.send("GET", "/plain", &[], "__Host-prefs").await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("set-cookie").is_none());
    assert!(reply.headers.get("vary").is_none());
    assert!(reply.headers.get("cache-control").is_none());
}

async fn one_write_sets_one_cookie_and_reads_are_private<H: Harness>(app: H, _: Setup) {
    let set = app.send("POST", "/theme/dark", &[], "__Host-prefs").await;
    assert_eq!(set.status, 200);
    assert_eq!(set.headers.get_all("set-cookie").iter().count(), 1);
    assert_eq!(set.headers["cache-control"], "no-store");
    let cookie = format!("__Host-prefs={}", set.set_cookie.unwrap());
    let read = app
        .send("GET", "/read", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(read.body, "theme=dark visits=0");
    assert!(
        read.headers.get("set-cookie").is_none(),
        "a read writes nothing"
    );
    assert_eq!(read.headers["cache-control"], "private");
    assert_eq!(read.headers["vary"], "cookie");
    let visit = app
        .send("POST", "/visit", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(visit.body, "1");
    assert!(visit.set_cookie.is_some());
}

async fn logout_expires_the_cookie_and_errors_write_nothing<H: Harness>(app: H, _: Setup) {
    let cookie = format!(
        "__Host-prefs={}",
        app.send("POST", "/theme/dark", &[], "__Host-prefs")
            .await
            .set_cookie
            .unwrap()
    );
    let failed = app
        .send("POST", "/fail", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(failed.status, 500);
    assert!(failed.set_cookie.is_none(), "nothing written after a 5xx");
    let out = app
        .send("POST", "/logout", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(out.set_cookie.as_deref(), Some(""));
    assert_eq!(max_age(&out, "__Host-prefs"), Some(0));
}

async fn browser_session_then_remember_me_brings_max_age_back<H: Harness>(app: H, _: Setup) {
    let first = app.send("POST", "/browser", &[], "__Host-prefs").await;
    assert!(first.set_cookie.is_some());
    assert_eq!(
        max_age(&first, "__Host-prefs"),
        None,
        "a browser-session cookie"
    );
    let cookie = format!("__Host-prefs={}", first.set_cookie.unwrap());
    let remembered = app
        .send("POST", "/remember", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(
        max_age(&remembered, "__Host-prefs"),
        Some(30 * 24 * 3600),
        "Max-Age is back"
    );
    let cookie = format!("__Host-prefs={}", remembered.set_cookie.unwrap());
    let again = app
        .send("POST", "/visit", &[("cookie", &cookie)], "__Host-prefs")
        .await;
    assert_eq!(
        max_age(&again, "__Host-prefs"),
        Some(30 * 24 * 3600),
        "and it stays"
    );
}

async fn a_cookie_that_does_not_open_is_cleared<H: Harness>(app: H, _: Setup) {
    let reply = app
        .send(
            "GET",
            "/read",
            &[("cookie", "__Host-prefs=tampered")],
            "__Host-prefs",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "theme= visits=0");
    assert_eq!(reply.set_cookie.as_deref(), Some(""));
    assert_eq!(max_age(&reply, "__Host-prefs"), Some(0));
}

async fn server_sessions_cycle_on_login_and_end_on_logout<H: Harness>(app: H, setup: Setup) {
    let first = app.send("POST", "/add/1", &[], "__Host-account").await;
    let anonymous = first.set_cookie.unwrap();
    let login = app
        .send(
            "POST",
            "/login/7",
            &[("cookie", &format!("__Host-account={anonymous}"))],
            "__Host-account",
        )
        .await;
    let id = login.set_cookie.unwrap();
    assert_ne!(id, anonymous, "a new ID on login");
    let old = app
        .send(
            "GET",
            "/whoami",
            &[("cookie", &format!("__Host-account={anonymous}"))],
            "__Host-account",
        )
        .await;
    assert_eq!(old.body, "None", "the pre-login ID is dead");
    let cookie = format!("__Host-account={id}");
    app.send("POST", "/add/2", &[("cookie", &cookie)], "__Host-account")
        .await;
    assert_eq!(
        app.send("GET", "/whoami", &[("cookie", &cookie)], "__Host-account")
            .await
            .body,
        "Some(7)"
    );
    assert_eq!(setup.store.inner().len(), 1, "one row");
    let out = app
        .send(
            "POST",
            "/account/logout",
            &[("cookie", &cookie)],
            "__Host-account",
        )
        .await;
    assert_eq!(out.set_cookie.as_deref(), Some(""));
    assert_eq!(
        app.send("GET", "/whoami", &[("cookie", &cookie)], "__Host-account")
            .await
            .body,
        "None"
    );
    assert!(setup.store.inner().is_empty(), "row deleted");
}

async fn a_store_outage_answers_503_and_keeps_the_session<H: Harness>(app: H, setup: Setup) {
    let id = app
        .send("POST", "/login/3", &[], "__Host-account")
        .await
        .set_cookie
        .unwrap();
    let cookie = format!("__Host-account={id}");
    setup.store.set_down(true);
    let read = app
        .send("GET", "/whoami", &[("cookie", &cookie)], "__Host-account")
        .await;
    assert_eq!(read.status, 503);
    assert!(read.body.contains("unavailable"), "{}", read.body);
    let write = app
        .send("POST", "/add/9", &[("cookie", &cookie)], "__Host-account")
        .await;
    assert_eq!(write.status, 503);
    assert!(write.set_cookie.is_none());
    setup.store.set_down(false);
    // the breaker may still be open for a moment
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        app.send("GET", "/whoami", &[("cookie", &cookie)], "__Host-account")
            .await
            .body,
        "Some(3)"
    );
}

async fn a_token_header_serves_clients_without_cookies<H: Harness>(app: H, _: Setup) {
    // a browser (no token, no header) is answered in the cookie alone: a
    // token in a response header is readable by the page's scripts
    let browser = app.send("POST", "/login/5", &[], "__Host-account").await;
    assert!(browser.set_cookie.is_some());
    assert!(
        browser.headers.get("x-session").is_none(),
        "no token header for a cookie client"
    );
    let cookie = format!("__Host-account={}", browser.set_cookie.as_deref().unwrap());
    // logging in again takes a new ID: a new token for a cookie client
    let again = app
        .send("POST", "/login/6", &[("cookie", &cookie)], "__Host-account")
        .await;
    assert!(again.set_cookie.is_some(), "a new ID for a cookie client");
    assert!(
        again.headers.get("x-session").is_none(),
        "a cookie request is answered in the cookie only"
    );
    // a header client asks for its first token by sending the header empty
    let first = app
        .send("POST", "/login/5", &[("x-session", "")], "__Host-account")
        .await;
    let token = first.headers["x-session"].to_str().unwrap().to_owned();
    assert!(!token.is_empty());
    assert!(first.set_cookie.is_none(), "no cookie for a header client");
    // the header alone carries the session, and answers in the header
    let whoami = app
        .send("GET", "/whoami", &[("x-session", &token)], "__Host-account")
        .await;
    assert_eq!(whoami.body, "Some(5)");
    // the page depends on the header as much as on the cookie: a shared
    // cache must key on both
    for reply in [&browser, &first, &whoami] {
        let vary: Vec<&str> = reply
            .headers
            .get_all("vary")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(vary, ["cookie, x-session"], "one merged line: {vary:?}");
    }
    let add = app
        .send(
            "POST",
            "/add/4",
            &[("authorization", "ignored"), ("x-session", &token)],
            "__Host-account",
        )
        .await;
    assert_eq!(add.status, 200);
    assert!(add.set_cookie.is_none(), "no cookie for a header client");
    let out = app
        .send(
            "POST",
            "/account/logout",
            &[("x-session", &token)],
            "__Host-account",
        )
        .await;
    assert_eq!(out.headers["x-session"], "", "an empty token ends it");
    let after = app
        .send("GET", "/whoami", &[("x-session", &token)], "__Host-account")
        .await;
    assert_eq!(after.body, "None");
    // a forged header token is refused like a forged cookie
    let forged = app
        .send(
            "GET",
            "/whoami",
            &[("x-session", "Session AAAA")],
            "__Host-account",
        )
        .await;
    assert_eq!(forged.body, "None");
}

fn with_token_header(setup: Setup) -> Setup {
    Setup {
        account: setup.account.with_token_header("x-session").unwrap(),
        ..setup
    }
}

fn with_continue(setup: Setup) -> Setup {
    Setup {
        account: setup
            .account
            .with_outage_policy(OutagePolicy::Continue)
            .unwrap(),
        ..setup
    }
}

macro_rules! on_both_frameworks {
    ($($scenario:ident $(with $adjust:ident)?),* $(,)?) => {
        mod on_axum {
            use super::*;
            use sessionkit_tests::frameworks::{Axum, axum_app};
            $(
                #[tokio::test]
                async fn $scenario() {
                    let setup = setup();
                    $(let setup = $adjust(setup);)?
                    let app = Axum(axum_app(setup.prefs.clone(), setup.account.clone()));
                    super::$scenario(app, setup).await;
                }
            )*
        }
        mod on_actix {
            use super::*;
            use sessionkit_tests::frameworks::actix_app;
            $(
                #[actix_rt::test]
                async fn $scenario() {
                    let setup = setup();
                    $(let setup = $adjust(setup);)?
                    let app = actix_app(setup.prefs.clone(), setup.account.clone()).await;
                    super::$scenario(app, setup).await;
                }
            )*
        }
    };
}

on_both_frameworks! {
    untouched_routes_send_nothing,
    one_write_sets_one_cookie_and_reads_are_private,
    logout_expires_the_cookie_and_errors_write_nothing,
    browser_session_then_remember_me_brings_max_age_back,
    a_cookie_that_does_not_open_is_cleared,
    server_sessions_cycle_on_login_and_end_on_logout,
    a_store_outage_answers_503_and_keeps_the_session,
    a_token_header_serves_clients_without_cookies with with_token_header,
}

#[tokio::test]
async fn the_continue_policy_lets_handlers_run() {
    use sessionkit_tests::frameworks::{Axum, axum_app};
    let setup = with_continue(setup());
    let app = Axum(axum_app(setup.prefs.clone(), setup.account.clone()));
    setup.store.set_down(true);
    let reply = app
        .send(
            "GET",
            "/whoami",
            &[("cookie", "__Host-account=x")],
            "__Host-account",
        )
        .await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, "None"));
}
