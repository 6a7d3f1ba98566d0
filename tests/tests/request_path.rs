//! The request path through the real layer with `tower::ServiceExt::oneshot`:
//! every lifecycle rule, the exact cookie attributes, and bad input.

use axum::Router;
use axum::body::Body;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use session_runtime::{Bincode, ConfigError, KeyRing, Meta, Mode, SameSite, Sealer, SessionLayer};
use sessionkit_tests::key_from;
use sessionkit_tests::{Prefs, TestClock, prefs_routes};
use std::time::Duration;
use tower::ServiceExt as _;

const DAY: u64 = 24 * 3600;

fn layer(clock: &TestClock) -> SessionLayer<Prefs> {
    SessionLayer::<Prefs>::new(key_from(1)).with_clock(clock.clone())
}

fn app(layer: SessionLayer<Prefs>) -> Router {
    prefs_routes().layer(layer)
}

/// [`http::request`] with each of `cookies` (`name=value`) in a `Cookie`
/// header of its own.
async fn send(app: &Router, method: &str, uri: &str, cookies: &[&str]) -> Response<Body> {
    let headers: Vec<_> = cookies.iter().map(|cookie| ("cookie", *cookie)).collect();
    sessionkit_tests::http::request(app, method, uri, &headers).await
}

async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn set_cookies(response: &Response<Body>) -> Vec<cookie::Cookie<'static>> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
        .collect()
}

/// The response expires the session cookie, and sets nothing else.
fn assert_is_removal(response: &Response<Body>) {
    let cookies = set_cookies(response);
    assert_eq!(cookies.len(), 1, "exactly one Set-Cookie");
    assert_eq!(cookies[0].value(), "");
    assert_eq!(cookies[0].max_age(), Some(cookie::time::Duration::ZERO));
}

/// The one `Set-Cookie` of a response, as a `Cookie` header line.
fn the_cookie(response: &Response<Body>) -> String {
    let cookies = set_cookies(response);
    assert_eq!(cookies.len(), 1, "exactly one Set-Cookie");
    format!("{}={}", cookies[0].name(), cookies[0].value())
}

#[tokio::test]
async fn a_route_that_does_not_touch_the_session_sends_nothing() {
    let app = app(layer(&TestClock::new()));
    let response = send(&app, "GET", "/plain", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    assert!(response.headers().get(VARY).is_none());
    assert!(response.headers().get(CACHE_CONTROL).is_none());
}

#[tokio::test]
async fn a_page_built_from_the_session_is_private_to_its_user() {
    let app = app(layer(&TestClock::new()));
    let cookie = the_cookie(&send(&app, "POST", "/theme/dark", &[]).await);
    // with and without a session: the page depends on the Cookie header
    for cookies in [vec![cookie.as_str()], vec![]] {
        let read = send(&app, "GET", "/read", &cookies).await;
        assert!(set_cookies(&read).is_empty());
        assert_eq!(read.headers()[VARY], "cookie");
        assert_eq!(read.headers()[CACHE_CONTROL], "private");
    }
    // a handler's own caching headers are kept but made private
    let cacheable = send(&app, "GET", "/read-cacheable", &[&cookie]).await;
    let vary: Vec<_> = cacheable.headers().get_all(VARY).iter().collect();
    assert_eq!(
        vary,
        ["accept-encoding, cookie"],
        "merged into one line, not replaced"
    );
    assert_eq!(cacheable.headers()[CACHE_CONTROL], "private, max-age=60");
    // `no-store` is stricter than `private`: left alone
    let no_store = send(&app, "GET", "/read-no-store", &[&cookie]).await;
    assert_eq!(no_store.headers()[CACHE_CONTROL], "no-store");
    // a response that sets the cookie says `no-store`
    let write = send(&app, "POST", "/visit", &[&cookie]).await;
    assert_eq!(write.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(write.headers()[VARY], "cookie");
}

#[tokio::test]
async fn reading_a_session_never_set_sends_nothing() {
    let app = app(layer(&TestClock::new()));
    for (method, uri) in [("GET", "/read"), ("GET", "/optional"), ("POST", "/touch")] {
        let response = send(&app, method, uri, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert!(set_cookies(&response).is_empty(), "{uri}");
    }
    assert_eq!(
        text(send(&app, "GET", "/optional", &[]).await).await,
        "none"
    );
}

#[tokio::test]
async fn setting_a_value_sends_one_cookie_with_exact_attributes() {
    let app = app(layer(&TestClock::new()));
    let response = send(&app, "POST", "/theme/dark", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    let c = &cookies[0];
    assert_eq!(c.name(), "__Host-prefs");
    assert_eq!(c.path(), Some("/"));
    assert_eq!(c.domain(), None);
    assert_eq!(c.secure(), Some(true));
    assert_eq!(c.http_only(), Some(true));
    assert_eq!(c.same_site(), Some(SameSite::Lax));
    assert_eq!(
        c.max_age(),
        Some(cookie::time::Duration::seconds(7 * DAY as i64))
    );
    assert_eq!(response.headers()[VARY], "cookie");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    // encrypted: the theme is not visible in the value
    assert!(!c.value().contains("dark"));
    let raw = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(raw.starts_with("__Host-prefs="), "{raw}");
}

#[tokio::test]
async fn reading_back_sends_nothing_and_equal_values_are_no_change() {
    let app = app(layer(&TestClock::new()));
    let cookie = the_cookie(&send(&app, "POST", "/theme/dark", &[]).await);

    let response = send(&app, "GET", "/read", &[&cookie]).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(text(response).await, "theme=dark visits=0");

    // setting the same value, or borrowing mutably without a change
    for uri in ["/theme/dark", "/touch"] {
        let response = send(&app, "POST", uri, &[&cookie]).await;
        assert!(set_cookies(&response).is_empty(), "{uri}");
    }
    assert_eq!(
        text(send(&app, "GET", "/optional", &[&cookie]).await).await,
        "some:dark"
    );
}

#[tokio::test]
async fn changes_accumulate_one_write_per_request() {
    let app = app(layer(&TestClock::new()));
    let mut cookie = the_cookie(&send(&app, "POST", "/visit", &[]).await);
    for expected in 2..=4 {
        let response = send(&app, "POST", "/visit", &[&cookie]).await;
        cookie = the_cookie(&response);
        assert_eq!(text(response).await, expected.to_string());
    }
    let response = send(&app, "GET", "/read", &[&cookie]).await;
    assert_eq!(text(response).await, "theme= visits=4");
}

#[tokio::test]
async fn nothing_is_written_after_a_server_error() {
    let app = app(layer(&TestClock::new()));
    let response = send(&app, "POST", "/fail", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookies(&response).is_empty());

    let cookie = the_cookie(&send(&app, "POST", "/visit", &[]).await);
    let response = send(&app, "POST", "/fail", &[&cookie]).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=1"
    );
}

#[tokio::test]
async fn cycle_id_reissues_the_same_data_under_a_new_seal() {
    let clock = TestClock::new();
    let app = app(layer(&clock));
    let first = the_cookie(&send(&app, "POST", "/theme/dark", &[]).await);
    clock.advance(Duration::from_secs(10));
    let response = send(&app, "POST", "/cycle", &[&first]).await;
    let second = the_cookie(&response);
    assert_ne!(first, second);
    let response = send(&app, "GET", "/read", &[&second]).await;
    assert_eq!(text(response).await, "theme=dark visits=0");
}

#[tokio::test]
async fn terminate_expires_the_cookie_with_the_same_attributes() {
    let clock = TestClock::new();
    let layer = layer(&clock)
        .with_domain("example.test")
        .unwrap()
        .with_path("/app")
        .unwrap();
    let app = Router::new().nest("/app", prefs_routes()).layer(layer);
    let cookie = the_cookie(&send(&app, "POST", "/app/theme/dark", &[]).await);

    let response = send(&app, "POST", "/app/logout", &[&cookie]).await;
    let removal = &set_cookies(&response)[0];
    // a domain and a path rule the `__Host-` prefix out
    assert_eq!(removal.name(), "prefs");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    assert_eq!(removal.path(), Some("/app"));
    assert_eq!(removal.domain(), Some("example.test"));
    assert_eq!(removal.secure(), Some(true));
    assert_eq!(removal.http_only(), Some(true));

    // no cookie to expire: nothing to send
    let response = send(&app, "POST", "/app/logout", &[]).await;
    assert!(set_cookies(&response).is_empty());
}

#[tokio::test]
async fn values_set_after_terminate_start_a_new_session() {
    let clock = TestClock::new();
    let app = app(layer(&clock));
    let cookie = the_cookie(&send(&app, "POST", "/theme/dark", &[]).await);
    clock.advance(Duration::from_secs(5));
    let response = send(&app, "POST", "/logout-then-flash", &[&cookie]).await;
    let fresh = the_cookie(&response);
    assert_ne!(fresh, cookie);
    let response = send(&app, "GET", "/read", &[&fresh]).await;
    assert_eq!(text(response).await, "theme= visits=1");
}

#[tokio::test]
async fn per_session_lifetime_and_browser_sessions() {
    let clock = TestClock::new();
    let app = app(layer(&clock));
    let response = send(&app, "POST", "/short", &[]).await;
    assert_eq!(
        set_cookies(&response)[0].max_age(),
        Some(cookie::time::Duration::seconds(60))
    );
    let cookie = the_cookie(&response);
    // later writes keep the session's own lifetime
    let response = send(&app, "POST", "/visit", &[&cookie]).await;
    assert_eq!(
        set_cookies(&response)[0].max_age(),
        Some(cookie::time::Duration::seconds(60))
    );
    let cookie = the_cookie(&response);
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=0"
    );

    let response = send(&app, "POST", "/browser", &[]).await;
    let browser = &set_cookies(&response)[0];
    assert_eq!(
        browser.max_age(),
        None,
        "no Max-Age: dropped when the browser closes"
    );
    assert!(browser.expires().is_none());
    // the sealed expiry still applies
    let cookie = the_cookie(&response);
    clock.advance(Duration::from_secs(7 * DAY + 1));
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=0"
    );
}

#[tokio::test]
async fn idle_timeout_and_sliding_refresh() {
    let clock = TestClock::new();
    let app = app(layer(&clock)
        .with_lifetime(Duration::from_secs(4 * DAY))
        .unwrap());
    let cookie = the_cookie(&send(&app, "POST", "/visit", &[]).await);

    // within the first quarter: reading sends nothing
    clock.advance(Duration::from_secs(DAY - 10));
    assert!(set_cookies(&send(&app, "GET", "/read", &[&cookie]).await).is_empty());

    // after a quarter of the lifetime: one refresh with a full Max-Age
    clock.advance(Duration::from_secs(20));
    let response = send(&app, "GET", "/read", &[&cookie]).await;
    let refreshed = &set_cookies(&response)[0];
    assert_eq!(
        refreshed.max_age(),
        Some(cookie::time::Duration::seconds(4 * DAY as i64))
    );
    let cookie = the_cookie(&response);
    // and not again right away (throttled)
    assert!(set_cookies(&send(&app, "GET", "/read", &[&cookie]).await).is_empty());

    // idle past the lifetime: gone, and the stale cookie is cleared
    clock.advance(Duration::from_secs(4 * DAY));
    let response = send(&app, "GET", "/read", &[&cookie]).await;
    assert_is_removal(&response);
    assert_eq!(text(response).await, "theme= visits=0");
}

#[tokio::test]
async fn absolute_timeout_caps_an_active_session() {
    let clock = TestClock::new();
    let layer = layer(&clock)
        .with_lifetime(Duration::from_secs(DAY))
        .unwrap()
        .with_absolute_timeout(Duration::from_secs(3 * 3600))
        .unwrap();
    let app = app(layer);
    let response = send(&app, "POST", "/visit", &[]).await;
    // the first Max-Age is already capped by the absolute timeout
    assert_eq!(
        set_cookies(&response)[0].max_age(),
        Some(cookie::time::Duration::seconds(3 * 3600))
    );
    let mut cookie = the_cookie(&response);
    for _ in 0..2 {
        clock.advance(Duration::from_secs(3600));
        cookie = the_cookie(&send(&app, "POST", "/visit", &[&cookie]).await);
    }
    clock.advance(Duration::from_secs(3600));
    let response = send(&app, "GET", "/read", &[&cookie]).await;
    assert_eq!(
        text(response).await,
        "theme= visits=0",
        "active, but past the absolute limit"
    );

    // cycle_id restarts the absolute clock
    let cookie = the_cookie(&send(&app, "POST", "/visit", &[]).await);
    clock.advance(Duration::from_secs(2 * 3600));
    let cookie = the_cookie(&send(&app, "POST", "/cycle", &[&cookie]).await);
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=1"
    );
}

#[tokio::test]
async fn always_save_reissues_even_untouched_sessions() {
    let clock = TestClock::new();
    let app = app(layer(&clock).with_always_save(true));
    let cookie = the_cookie(&send(&app, "POST", "/visit", &[]).await);
    clock.advance(Duration::from_secs(60));
    let response = send(&app, "GET", "/plain", &[&cookie]).await;
    let reissued = the_cookie(&response);
    assert_ne!(reissued, cookie);
    assert_eq!(
        text(send(&app, "GET", "/read", &[&reissued]).await).await,
        "theme= visits=1"
    );
    // still nothing for a visitor without a session
    assert!(set_cookies(&send(&app, "GET", "/plain", &[]).await).is_empty());
}

#[tokio::test]
async fn ssl_only_sessions_live_on_https_only() {
    let app = app(layer(&TestClock::new()).with_ssl_only(true));
    let response = send(&app, "POST", "/visit", &[]).await;
    assert!(set_cookies(&response).is_empty(), "plain http: not set");

    let https = Request::post("https://shop.test/visit")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(https).await.unwrap();
    let cookie = the_cookie(&response);

    // a plain-http request ignores the cookie
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=0"
    );
    let proxied = Request::get("/read")
        .header("x-forwarded-proto", "https")
        .header(COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        text(app.clone().oneshot(proxied).await.unwrap()).await,
        "theme= visits=1"
    );
}

/// The `__Host-` prefix is the default whenever the settings allow it, so a
/// sibling subdomain cannot plant a cookie of the session's name; settings
/// that rule it out (a domain, a path, plain HTTP) drop it, and
/// `without_host_prefix` opts out.
#[tokio::test]
async fn the_host_prefix_is_the_default_wherever_it_is_allowed() {
    let name_with = |layer: SessionLayer<Prefs>| async move {
        let app = app(layer);
        let response = send(&app, "POST", "/visit", &[]).await;
        set_cookies(&response)[0].name().to_owned()
    };
    let base = || layer(&TestClock::new());
    assert_eq!(name_with(base()).await, "__Host-prefs");
    assert_eq!(name_with(base().with_secure(false).unwrap()).await, "prefs");
    assert_eq!(
        name_with(base().with_domain("a.test").unwrap()).await,
        "prefs"
    );
    assert_eq!(
        name_with(base().with_path("/").unwrap()).await,
        "__Host-prefs"
    );
    assert_eq!(name_with(base().without_host_prefix()).await, "prefs");
    // the unprefixed name is not the session: a planted `prefs` cookie is
    // ignored by a prefixed layer
    let app = app(base());
    let unprefixed = send(&app, "POST", "/visit", &[]).await;
    let value = set_cookies(&unprefixed)[0].value().to_owned();
    let planted = format!("prefs={value}");
    assert_eq!(
        text(send(&app, "GET", "/read", &[&planted]).await).await,
        "theme= visits=0"
    );
}

#[tokio::test]
async fn host_prefix_and_its_rules() {
    let layer = layer(&TestClock::new()).with_host_prefix().unwrap();
    let app = app(layer.clone());
    let response = send(&app, "POST", "/visit", &[]).await;
    let c = &set_cookies(&response)[0];
    assert_eq!(c.name(), "__Host-prefs");
    assert_eq!(
        (c.secure(), c.path(), c.domain()),
        (Some(true), Some("/"), None)
    );
    let cookie = the_cookie(&response);
    assert_eq!(
        text(send(&app, "GET", "/read", &[&cookie]).await).await,
        "theme= visits=1"
    );

    // every combination the prefix forbids is a configuration error
    assert!(matches!(
        layer.clone().with_domain("a.test"),
        Err(ConfigError::HostPrefix(_))
    ));
    assert!(matches!(
        layer.clone().with_path("/app"),
        Err(ConfigError::HostPrefix(_))
    ));
    assert!(matches!(
        layer.with_secure(false),
        Err(ConfigError::HostPrefix(_))
    ));
    let base = || SessionLayer::<Prefs>::new(key_from(1));
    assert!(
        base()
            .with_domain("a.test")
            .unwrap()
            .with_host_prefix()
            .is_err()
    );
    assert!(base().with_path("/x").unwrap().with_host_prefix().is_err());
    assert!(
        base()
            .with_secure(false)
            .unwrap()
            .with_host_prefix()
            .is_err()
    );
}

#[test]
fn other_configuration_errors() {
    let base = || SessionLayer::<Prefs>::new(key_from(1));
    assert!(matches!(
        base().with_cookie_name("bad name"),
        Err(ConfigError::CookieName(_))
    ));
    assert!(matches!(
        base().with_cookie_name("__Host-x"),
        Err(ConfigError::CookieName(_))
    ));
    // the size budget was computed for "__Host-prefs": a longer name could overflow
    assert!(matches!(
        base().with_cookie_name("preferences"),
        Err(ConfigError::CookieNameTooLong { .. })
    ));
    assert!(base().with_cookie_name("p").is_ok());
    assert!(matches!(
        base()
            .with_secure(false)
            .unwrap()
            .with_same_site(SameSite::None),
        Err(ConfigError::SameSiteNoneInsecure)
    ));
    assert!(matches!(
        base()
            .with_same_site(SameSite::None)
            .unwrap()
            .with_secure(false),
        Err(ConfigError::SameSiteNoneInsecure)
    ));
    assert!(matches!(
        base().with_lifetime(Duration::ZERO),
        Err(ConfigError::Duration { .. })
    ));
    assert!(
        base()
            .with_lifetime(Duration::from_secs(401 * DAY))
            .is_err()
    );
    assert!(matches!(
        base().with_path("no-slash"),
        Err(ConfigError::Path(_))
    ));
    assert!(matches!(
        base().with_domain("a;b"),
        Err(ConfigError::Domain(_))
    ));
    let debug = format!("{:?}", base());
    assert!(
        debug.contains("REDACTED") && debug.contains("__Host-prefs"),
        "{debug}"
    );
}

#[tokio::test]
async fn renamed_cookie_and_non_default_attributes() {
    let layer = layer(&TestClock::new())
        .with_cookie_name("p")
        .unwrap()
        .with_http_only(false)
        .with_same_site(SameSite::Strict)
        .unwrap()
        .with_secure(false)
        .unwrap();
    let app = app(layer);
    let response = send(&app, "POST", "/visit", &[]).await;
    let c = &set_cookies(&response)[0];
    assert_eq!(c.name(), "p");
    assert_eq!(
        (c.http_only(), c.secure(), c.same_site()),
        (None, None, Some(SameSite::Strict))
    );
}

#[tokio::test]
async fn signed_mode_is_readable_but_not_forgeable() {
    let clock = TestClock::new();
    let app = app(layer(&clock).with_mode(Mode::Signed));
    let response = send(&app, "POST", "/theme/plainly", &[]).await;
    let cookie = the_cookie(&response);
    let value = cookie.trim_start_matches("__Host-prefs=");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .unwrap();
    assert!(
        bytes.windows(7).any(|w| w == b"plainly"),
        "signed data is visible"
    );
    let mut forged = bytes.clone();
    let at = forged.windows(7).position(|w| w == b"plainly").unwrap();
    forged[at] = b'P';
    let forged = format!(
        "__Host-prefs={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged)
    );
    assert_eq!(
        text(send(&app, "GET", "/read", &[&forged]).await).await,
        "theme= visits=0"
    );
}

#[tokio::test]
async fn rotation_through_the_layer() {
    let clock = TestClock::new();
    let old = app(SessionLayer::<Prefs>::new(key_from(1)).with_clock(clock.clone()));
    let cookie = the_cookie(&send(&old, "POST", "/theme/dark", &[]).await);

    let rotated = app(SessionLayer::<Prefs>::new(
        KeyRing::new(key_from(2)).with_previous(key_from(1)),
    )
    .with_clock(clock.clone()));
    let response = send(&rotated, "GET", "/read", &[&cookie]).await;
    // opened with the previous key, re-sealed with the new one right away
    let resealed = the_cookie(&response);
    assert_eq!(text(response).await, "theme=dark visits=0");
    let new_only = app(SessionLayer::<Prefs>::new(key_from(2)).with_clock(clock.clone()));
    assert_eq!(
        text(send(&new_only, "GET", "/read", &[&resealed]).await).await,
        "theme=dark visits=0"
    );
    assert!(set_cookies(&send(&rotated, "GET", "/read", &[&resealed]).await).is_empty());
}

#[tokio::test]
async fn vary_is_merged_not_replaced() {
    let app = app(layer(&TestClock::new()));
    let response = send(&app, "POST", "/vary", &[]).await;
    let vary: Vec<_> = response
        .headers()
        .get_all(VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(vary, ["accept-encoding, cookie"]);
}

#[tokio::test]
async fn extractor_errors_name_the_fix_in_the_log_not_to_the_client() {
    let no_layer = prefs_routes();
    let response = send(&no_layer, "GET", "/read", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text(response).await, "internal server error");
    // the rejection itself (what the log shows) names the fix
    let rejection = session_runtime::Session::<Prefs>::from_request(&Request::new(())).unwrap_err();
    let detail = rejection.to_string();
    assert!(
        detail.contains("is `SessionLayer<") && detail.contains("Prefs"),
        "{detail}"
    );
    assert_eq!(rejection.public_message(), "internal server error");

    let app = app(layer(&TestClock::new()));
    let response = send(&app, "GET", "/twice", &[]).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text(response).await, "internal server error");
}

/// `send`, after asking every log callsite again whether it is wanted:
/// another test's thread, with no subscriber, may have had one cached as
/// unwanted meanwhile, and this test reads the log lines.
async fn send_logged(app: &Router, method: &str, uri: &str, cookies: &[&str]) -> Response<Body> {
    tracing::callsite::rebuild_interest_cache();
    send(app, method, uri, cookies).await
}

/// Every kind of bad cookie: a fresh session, no 5xx, a debug log line.
#[tokio::test]
async fn bad_cookies_mean_a_fresh_session() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // other tests of this binary may have registered the log callsites
    // while no subscriber wanted them: ask again, now that one does
    tracing::callsite::rebuild_interest_cache();

    let clock = TestClock::new();
    let app = app(layer(&clock));
    let good = the_cookie(&send_logged(&app, "POST", "/theme/dark", &[]).await);
    let value = good.trim_start_matches("__Host-prefs=").to_owned();

    let mut tampered = value.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let wrong_key = {
        let sealer = Sealer::new(key_from(9), Mode::Encrypted);
        let meta = Meta {
            issued_at: clock.secs(),
            expires_at: clock.secs() + 3600,
            ..Meta::default()
        };
        sealer
            .seal::<Prefs, Bincode>("__Host-prefs", &meta, &Prefs::default())
            .unwrap()
    };
    let huge = "A".repeat(5000);
    let sixty_four_k = format!("junk={}", "x".repeat(64 * 1024));
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("tampered", vec![format!("__Host-prefs={tampered}")]),
        (
            "truncated",
            vec![format!("__Host-prefs={}", &value[..value.len() / 2])],
        ),
        (
            "not base64",
            vec!["__Host-prefs=%%%not*base64%%%".to_owned()],
        ),
        ("wrong key", vec![format!("__Host-prefs={wrong_key}")]),
        ("over 4096 bytes", vec![format!("__Host-prefs={huge}")]),
        (
            "duplicates that all fail to open",
            vec![format!("__Host-prefs={tampered}; __Host-prefs={wrong_key}")],
        ),
        (
            "more duplicates than a browser holds",
            vec![[good.as_str(); 5].join("; ")],
        ),
        (
            "64 KiB header",
            vec![format!("{sixty_four_k}; __Host-prefs={tampered}")],
        ),
        ("empty", vec!["__Host-prefs=".to_owned()]),
    ];
    for (what, lines) in &cases {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let response = send_logged(&app, "GET", "/read", &lines).await;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        // nothing to write: the cookie that could not be opened is cleared,
        // so the browser stops sending it
        assert_is_removal(&response);
        assert_eq!(text(response).await, "theme= visits=0", "{what}");
        // and a write on top of a bad cookie starts a clean session
        let response = send_logged(&app, "POST", "/visit", &lines).await;
        assert_eq!(text(response).await, "1", "{what}");
    }

    // the cookie split across several header lines is still found
    let split = send_logged(&app, "GET", "/read", &["a=1", &good, "b=2"]).await;
    assert_eq!(text(split).await, "theme=dark visits=0");

    // among duplicates (one planted by a sibling subdomain, or left on
    // another path) the one that opens is the session, wherever it is
    let planted = format!("__Host-prefs={tampered}");
    for lines in [
        vec![format!("{planted}; {good}")],
        vec![format!("{good}; {planted}")],
        vec![planted.clone(), good.clone()],
        vec![format!("{good}; {good}")],
    ] {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let response = send_logged(&app, "GET", "/read", &lines).await;
        assert!(
            set_cookies(&response).is_empty(),
            "{lines:?}: nothing to clear"
        );
        assert_eq!(text(response).await, "theme=dark visits=0", "{lines:?}");
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for reason in [
        "failed authentication",
        "truncated",
        "not base64url",
        "more session cookies than any browser holds",
        "longer than 4096",
    ] {
        assert!(
            logs.contains(reason),
            "missing debug log for {reason}:\n{logs}"
        );
    }
    assert!(logs.contains("DEBUG"), "{logs}");
    assert!(!logs.contains(&value), "cookie values are never logged");
}
