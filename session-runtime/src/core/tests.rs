//! The request core end to end, through the Tower layer and a handler that
//! takes the session from the request's extensions: the README's lifecycle
//! rules on a fixed clock, for a cookie type and a server-side type. Kept
//! in the crate (not in the tests crate) so mutation testing of the core
//! rebuilds only this crate.

use crate::{KeyRing, MasterKey, MemoryStore, Session, SessionLayer};
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower::util::BoxCloneService;
use tower::{Layer as _, ServiceExt as _};

const DAY: u64 = 24 * 3600;
const WEEK: u64 = 7 * DAY;
const START: u64 = 1_800_000_000;

/// A clock the test moves by hand.
#[derive(Clone)]
struct TestClock(Arc<AtomicU64>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(START)))
    }

    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl crate::Clock for TestClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// Lives in a cookie.
#[derive(crate::Session, Default)]
#[session(crate = crate, cookie = "c")]
struct Small {
    #[session(user)]
    user: Option<u64>,
    n: u32,
}

/// Lives in a store.
#[derive(crate::Session, Default)]
#[session(crate = crate, cookie = "s", storage = "server")]
struct Stored {
    #[session(user)]
    user: Option<u64>,
    n: u32,
}

/// What the handler does with either type.
trait Counter: crate::SessionData + Send
where
    Self::Access: Send,
{
    fn n(access: &Self::Access) -> u32;
    fn set_n(access: &mut Self::Access, n: u32);
    fn user(access: &Self::Access) -> Option<u64>;
    fn set_user(access: &mut Self::Access, user: Option<u64>);
    fn set_text(_access: &mut Self::Access, _len: usize) {
        unreachable!("only Note has text");
    }
    fn text_len(_access: &Self::Access) -> usize {
        0
    }
}

macro_rules! counter {
    ($type:ty) => {
        impl Counter for $type {
            fn n(access: &Self::Access) -> u32 {
                *access.n()
            }
            fn set_n(access: &mut Self::Access, n: u32) {
                access.set_n(n);
            }
            fn user(access: &Self::Access) -> Option<u64> {
                *access.user()
            }
            fn set_user(access: &mut Self::Access, user: Option<u64>) {
                access.set_user(user);
            }
        }
    };
}
counter!(Small);
counter!(Stored);
counter!(Quick);

/// Lives in a store; `n` is a quick field (kept in the cache tier only).
#[derive(crate::Session, Default)]
#[session(crate = crate, cookie = "q", storage = "server")]
struct Quick {
    #[session(user)]
    user: Option<u64>,
    #[session(quick)]
    n: u32,
}

/// Lives in the cookie while small, in the store when large.
#[derive(crate::Session, Default)]
#[session(crate = crate, cookie = "a")]
struct Note {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    text: String,
}

impl Counter for Note {
    fn n(access: &Self::Access) -> u32 {
        *access.n()
    }
    fn set_n(access: &mut Self::Access, n: u32) {
        access.set_n(n);
    }
    fn user(access: &Self::Access) -> Option<u64> {
        *access.user()
    }
    fn set_user(access: &mut Self::Access, user: Option<u64>) {
        access.set_user(user);
    }
    fn set_text(access: &mut Self::Access, len: usize) {
        access.set_text("x".repeat(len));
    }
    fn text_len(access: &Self::Access) -> usize {
        access.text().len()
    }
}

/// Holds a handler after its action, with the session still taken, until
/// the test lets it go: two requests on one session, interleaved.
#[derive(Clone, Default)]
struct Gate(Arc<tokio::sync::Notify>);

/// `/action/arg`: what the handler does with the session.
async fn handle<S: Counter>(req: Request<String>) -> Result<Response<String>, Infallible>
where
    S::Access: Send,
{
    let path = req.uri().path().to_owned();
    let mut parts = path.trim_start_matches('/').split('/');
    let action = parts.next().unwrap_or_default();
    let arg: u64 = parts.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    if action == "plain" {
        let mut response = Response::new("plain".to_owned());
        if arg > 0 {
            *response.status_mut() = http::StatusCode::from_u16(arg as u16).unwrap();
        }
        return Ok(response);
    }
    if action == "sync" {
        // the extractor without I/O: a cookie layer's, or a server layer's
        // request without a token
        let body = match Session::<S>::from_request(&req) {
            Ok(mut session) => {
                let n = S::n(&session);
                S::set_n(&mut session, n + 1);
                format!("n={}", n + 1)
            }
            Err(rejection) => format!("rejected={rejection:?}"),
        };
        return Ok(Response::new(body));
    }
    let mut session = match Session::<S>::load(&req).await {
        Ok(session) => session,
        Err(rejection) => {
            return Ok(Response::builder()
                .status(rejection.status())
                .body(rejection.public_message().to_owned())
                .unwrap());
        }
    };
    let mut status = 200;
    let mut note = String::new();
    let gate = req.extensions().get::<Gate>();
    let hold_first = req.uri().query().is_some_and(|q| q.contains("hold_first"));
    if let Some(gate) = gate.filter(|_| hold_first) {
        gate.0.notified().await;
    }
    match action {
        "get" => {}
        "set" => S::set_n(&mut session, arg as u32),
        "inc" => {
            let n = S::n(&session);
            S::set_n(&mut session, n + 1);
        }
        "status" => {
            let n = S::n(&session);
            S::set_n(&mut session, n + 1);
            status = arg as u16;
        }
        "login" => S::set_user(&mut session, Some(arg)),
        "cycle" => session.cycle_id(),
        "terminate" => session.terminate(),
        "restart" => {
            let old = session.restart();
            note = format!(" old={}", S::n(&S::Access::from_data(old)));
        }
        "text" => S::set_text(&mut session, arg as usize),
        "devices" => {
            let devices = session.user_sessions().await.unwrap();
            let tags: Vec<String> = devices
                .iter()
                .map(|d| format!("{}:{}", d.tag, d.current))
                .collect();
            note = format!(" devices={}", tags.join(","));
        }
        "relogin" => {
            // `restart()` then a login: a new session of that user
            session.restart();
            S::set_user(&mut session, Some(arg));
        }
        "lifetime" => session.set_lifetime(Duration::from_secs(arg)),
        "browser" => session.browser_session(),
        "revoke" => {
            let revoked = session.revoke_user_sessions(arg == 1).await;
            note = format!(" revoked={revoked:?}");
        }
        other => panic!("no action {other}"),
    }
    if let Some(tag) = req.uri().query().and_then(|q| q.strip_prefix("revoke=")) {
        let revoked = session.revoke_device(tag).await;
        note = format!("{note} revoked_device={revoked:?}");
    }
    if let Some(gate) = gate.filter(|_| !hold_first) {
        gate.0.notified().await;
    }
    let secs = |t: Option<SystemTime>| t.map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
    let body = format!(
        "n={} user={:?} new={} issued={:?} expires={:?} text={}{note}",
        S::n(&session),
        S::user(&session),
        session.is_new(),
        secs(session.issued_at()),
        secs(session.expires_at()),
        S::text_len(&session),
    );
    drop(session);
    Ok(Response::builder().status(status).body(body).unwrap())
}

use crate::SessionAccess as _;
use crate::SessionStore as _;
use crate::store::{CacheStore as _, RevocationTimes as _, UserIndex as _};

type Service = BoxCloneService<Request<String>, Response<String>, Infallible>;

fn service<S: Counter>(layer: SessionLayer<S>) -> Service
where
    S::Access: Send,
{
    BoxCloneService::new(layer.layer(tower::service_fn(handle::<S>)))
}

fn key(byte: u8) -> MasterKey {
    MasterKey::from_secret(&[byte; 32]).unwrap()
}

/// A response as the tests look at it.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
    set_cookie: Vec<cookie::Cookie<'static>>,
    token: Option<String>,
    vary: Vec<String>,
    cache_control: Vec<String>,
}

impl Reply {
    /// The one `Set-Cookie`; panics unless there is exactly one.
    fn cookie(&self) -> &cookie::Cookie<'static> {
        assert_eq!(self.set_cookie.len(), 1, "one Set-Cookie: {self:?}");
        &self.set_cookie[0]
    }

    fn max_age(&self) -> Option<u64> {
        self.cookie()
            .max_age()
            .map(|age| u64::try_from(age.whole_seconds()).unwrap())
    }

    fn is_removal(&self) -> bool {
        let cookie = self.cookie();
        cookie.value().is_empty() && self.max_age() == Some(0)
    }

    fn field(&self, name: &str) -> String {
        self.body
            .split(' ')
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            .to_owned()
    }

    fn n(&self) -> u32 {
        self.field("n").parse().unwrap()
    }

    fn is_new(&self) -> bool {
        self.field("new") == "true"
    }

    fn issued(&self) -> String {
        self.field("issued")
    }
}

/// One client: its cookie (or token header), kept as a browser keeps it.
#[derive(Clone, Default)]
struct Browser {
    cookie: Option<String>,
    /// `Some` for a token-header client (empty: asking for a first token).
    header: Option<String>,
    https: bool,
}

impl Browser {
    fn header_client() -> Self {
        Self {
            header: Some(String::new()),
            ..Self::default()
        }
    }

    async fn go(&mut self, app: &Service, path: &str) -> Reply {
        self.go_held(app, path, None).await
    }

    /// As [`go`](Self::go), the handler held at `gate` before it returns.
    async fn go_held(&mut self, app: &Service, path: &str, gate: Option<Gate>) -> Reply {
        let scheme = if self.https { "https" } else { "http" };
        let mut req = Request::builder().uri(format!("{scheme}://example.test{path}"));
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        if let Some(token) = &self.header {
            req = req.header("x-session", token);
        }
        if let Some(gate) = gate {
            req = req.extension(gate);
        }
        let response = app
            .clone()
            .oneshot(req.body(String::new()).unwrap())
            .await
            .unwrap();
        let all = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let reply = Reply {
            status: response.status().as_u16(),
            set_cookie: all(SET_COOKIE)
                .into_iter()
                .map(|line| cookie::Cookie::parse(line).unwrap())
                .collect(),
            token: response
                .headers()
                .get("x-session")
                .map(|v| v.to_str().unwrap().to_owned()),
            vary: all(VARY),
            cache_control: all(CACHE_CONTROL),
            body: response.into_body(),
        };
        for cookie in &reply.set_cookie {
            self.cookie = if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                None
            } else {
                Some(format!("{}={}", cookie.name(), cookie.value()))
            };
        }
        if let Some(token) = &reply.token {
            self.header = Some(token.clone());
        }
        reply
    }
}

fn cookie_app(clock: &TestClock) -> Service {
    service(SessionLayer::<Small>::new(key(1)).with_clock(clock.clone()))
}

fn server_app(clock: &TestClock, store: &Arc<MemoryStore>) -> Service {
    service(SessionLayer::<Stored>::with_store(key(1), Arc::clone(store)).with_clock(clock.clone()))
}

#[tokio::test]
async fn a_cookie_is_set_only_when_the_session_changes() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    // a route that never extracts the session gets nothing
    let reply = browser.go(&app, "/plain").await;
    assert!(reply.set_cookie.is_empty() && reply.vary.is_empty() && reply.cache_control.is_empty());
    // read, never set: no cookie, but the page is personal
    let reply = browser.go(&app, "/get").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    assert!(reply.is_new());
    assert_eq!(reply.vary, ["cookie"]);
    assert_eq!(reply.cache_control, ["private"]);
    // set to what a fresh session holds: still no session
    let reply = browser.go(&app, "/set/0").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    // changed: one cookie, for the lifetime, never cached
    let reply = browser.go(&app, "/inc").await;
    assert_eq!(reply.cookie().name(), "__Host-c");
    assert_eq!(reply.max_age(), Some(WEEK));
    assert_eq!(reply.cache_control, ["no-store"]);
    assert_eq!(reply.vary, ["cookie"]);
    // read back, not changed: nothing written
    let reply = browser.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (1, false));
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    assert_eq!(reply.cache_control, ["private"]);
    assert_eq!(
        reply.issued(),
        format!("Some({START})"),
        "issued when first written"
    );
    assert_eq!(reply.field("expires"), format!("Some({})", START + WEEK));
    // the same value again: the encoding did not change
    let reply = browser.go(&app, "/set/1").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    let reply = browser.go(&app, "/set/5").await;
    assert_eq!(reply.set_cookie.len(), 1);
    assert_eq!(browser.go(&app, "/get").await.n(), 5);
    // the session's route not taken: nothing
    let reply = browser.go(&app, "/plain").await;
    assert!(reply.set_cookie.is_empty() && reply.vary.is_empty());
}

#[tokio::test]
async fn a_failed_response_writes_nothing_and_a_client_error_does() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    for status in [500, 503, 599] {
        let reply = browser.go(&app, &format!("/status/{status}")).await;
        assert_eq!(reply.status, status);
        assert!(reply.set_cookie.is_empty(), "{status}: {reply:?}");
    }
    for status in [404, 499] {
        let mut fresh = Browser::default();
        let reply = fresh.go(&app, &format!("/status/{status}")).await;
        assert_eq!(reply.set_cookie.len(), 1, "{status}: {reply:?}");
        assert_eq!(fresh.go(&app, "/get").await.n(), 1);
    }
}

#[tokio::test]
async fn the_expiry_slides_after_a_quarter_of_the_lifetime_and_ends_after_it() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    clock.advance(WEEK / 4 - 1);
    let reply = browser.go(&app, "/get").await;
    assert!(reply.set_cookie.is_empty(), "not yet due: {reply:?}");
    clock.advance(1);
    let reply = browser.go(&app, "/get").await;
    assert_eq!(reply.max_age(), Some(WEEK), "refreshed: {reply:?}");
    assert_eq!(reply.n(), 1);
    let refreshed = clock.now();
    // a full lifetime without a request: gone, and the cookie cleared
    clock.advance(WEEK - 1);
    let reply = browser.clone().go(&app, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (1, false), "one second left");
    clock.advance(1);
    let reply = browser.go(&app, "/get").await;
    assert!(reply.is_new(), "expired at {}", refreshed + WEEK);
    assert!(reply.is_removal(), "{reply:?}");
}

#[tokio::test]
async fn the_absolute_timeout_caps_an_active_session() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_lifetime(Duration::from_secs(4 * DAY))
            .unwrap()
            .with_absolute_timeout(Duration::from_secs(10 * DAY))
            .unwrap(),
    );
    let mut browser = Browser::default();
    assert_eq!(browser.go(&app, "/login/7").await.max_age(), Some(4 * DAY));
    // active every day: refreshed, but never past issue time + 10 days
    for day in 1..=6 {
        clock.advance(DAY);
        let reply = browser.go(&app, "/get").await;
        assert_eq!(reply.field("user"), "Some(7)", "day {day}");
        let left = 10 * DAY - day * DAY;
        assert_eq!(reply.max_age(), Some(left.min(4 * DAY)), "day {day}");
    }
    // at the cap a refresh would not move the expiry: none is sent
    for day in 7..=9 {
        clock.advance(DAY);
        let reply = browser.go(&app, "/get").await;
        assert_eq!(reply.field("user"), "Some(7)", "day {day}");
        assert!(reply.set_cookie.is_empty(), "day {day}: {reply:?}");
        assert_eq!(
            reply.field("expires"),
            format!("Some({})", START + 10 * DAY)
        );
    }
    clock.advance(DAY - 1);
    assert!(!browser.clone().go(&app, "/get").await.is_new());
    clock.advance(1);
    let reply = browser.go(&app, "/get").await;
    assert!(reply.is_new(), "past the absolute timeout");
    assert!(reply.is_removal());
}

#[tokio::test]
async fn the_absolute_timeout_ends_a_copied_cookie_however_it_is_refreshed() {
    // a cookie whose sealed expiry is still ahead but whose issue time is
    // past the cap (the cap was lowered since): refused at load
    let clock = TestClock::new();
    let long = cookie_app(&clock);
    let mut browser = Browser::default();
    browser.go(&long, "/inc").await;
    clock.advance(2 * DAY);
    let short = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_absolute_timeout(Duration::from_secs(2 * DAY))
            .unwrap(),
    );
    let reply = browser.clone().go(&short, "/get").await;
    assert!(reply.is_new() && reply.is_removal(), "{reply:?}");
    clock.advance(DAY);
    let reply = browser.go(&long, "/get").await;
    assert!(!reply.is_new());
}

#[tokio::test]
async fn cycle_id_and_a_login_issue_the_session_anew() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let first = browser.cookie.clone().unwrap();
    clock.advance(100);
    // cycle_id: same data, new issue time, a new value
    let reply = browser.go(&app, "/cycle").await;
    assert_eq!(reply.set_cookie.len(), 1, "{reply:?}");
    assert_ne!(browser.cookie.as_ref(), Some(&first));
    let reply = browser.go(&app, "/get").await;
    assert_eq!(
        (reply.n(), reply.issued()),
        (1, format!("Some({})", START + 100))
    );
    // a login: a new issue time too, other fields kept
    clock.advance(100);
    let reply = browser.go(&app, "/login/7").await;
    assert_eq!(reply.set_cookie.len(), 1);
    let reply = browser.go(&app, "/get").await;
    assert_eq!(reply.issued(), format!("Some({})", START + 200));
    assert_eq!((reply.n(), reply.field("user")), (1, "Some(7)".to_owned()));
    // a change by the same user keeps the issue time
    clock.advance(100);
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/get").await;
    assert_eq!(
        (reply.n(), reply.issued()),
        (2, format!("Some({})", START + 200))
    );
    // the same user set again is no login
    browser.go(&app, "/login/7").await;
    assert_eq!(
        browser.go(&app, "/get").await.issued(),
        format!("Some({})", START + 200)
    );
    // another user is
    clock.advance(100);
    browser.go(&app, "/login/8").await;
    assert_eq!(
        browser.go(&app, "/get").await.issued(),
        format!("Some({})", START + 400)
    );
}

#[tokio::test]
async fn terminate_expires_the_cookie_and_restart_begins_afresh() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    // without a cookie, terminate has nothing to expire
    let reply = Browser::default().go(&app, "/terminate").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/terminate").await;
    assert!(reply.is_removal(), "{reply:?}");
    let removal = reply.cookie();
    assert_eq!(
        (
            removal.name(),
            removal.path(),
            removal.secure(),
            removal.http_only()
        ),
        ("__Host-c", Some("/"), Some(true), Some(true))
    );
    assert_eq!(reply.cache_control, ["no-store"]);
    assert!(browser.go(&app, "/get").await.is_new());
    // restart: the old data is handed over, the new session is fresh
    browser.go(&app, "/set/4").await;
    clock.advance(50);
    let reply = browser.go(&app, "/restart").await;
    assert_eq!(reply.field("old"), "4");
    assert_eq!(reply.n(), 0);
    // a restarted session left at its defaults is ended
    assert!(reply.is_removal(), "{reply:?}");
    // given values again, it is a new session with a new issue time
    browser.go(&app, "/set/4").await;
    clock.advance(50);
    browser.go(&app, "/restart").await;
    browser.go(&app, "/set/9").await;
    let reply = browser.go(&app, "/get").await;
    assert_eq!(reply.n(), 9);
}

#[tokio::test]
async fn a_lifetime_of_its_own_and_browser_sessions() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    // a lifetime alone makes no session
    assert!(
        browser
            .go(&app, "/lifetime/3600")
            .await
            .set_cookie
            .is_empty()
    );
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/lifetime/3600").await;
    assert_eq!(reply.max_age(), Some(3600));
    // the session keeps its own lifetime: refreshed after a quarter of it
    clock.advance(900 - 1);
    assert!(browser.go(&app, "/get").await.set_cookie.is_empty());
    clock.advance(1);
    assert_eq!(browser.go(&app, "/get").await.max_age(), Some(3600));
    // and a change keeps it too
    clock.advance(10);
    assert_eq!(browser.go(&app, "/inc").await.max_age(), Some(3600));
    // clamped to 400 days
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/lifetime/999999999").await;
    assert_eq!(reply.max_age(), Some(crate::MAX_LIFETIME.as_secs()));
    // a browser session: no Max-Age, now and on later writes
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/browser").await;
    assert_eq!(reply.cookie().max_age(), None);
    assert!(!reply.cookie().value().is_empty());
    let reply = browser.go(&app, "/inc").await;
    assert_eq!(reply.cookie().max_age(), None, "{reply:?}");
    // remember me: the lifetime brings Max-Age back
    let reply = browser.go(&app, "/lifetime/7200").await;
    assert_eq!(reply.max_age(), Some(7200));
}

#[tokio::test]
async fn every_new_session_can_be_a_browser_session() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_browser_session(true),
    );
    let mut browser = Browser::default();
    assert_eq!(browser.go(&app, "/inc").await.cookie().max_age(), None);
    assert_eq!(browser.go(&app, "/inc").await.cookie().max_age(), None);
}

#[tokio::test]
async fn a_cookie_sealed_with_an_old_key_is_resealed_with_the_new_one() {
    let clock = TestClock::new();
    let old = cookie_app(&clock);
    let mut browser = Browser::default();
    browser.go(&old, "/set/3").await;
    let rotated = service(
        SessionLayer::<Small>::new(KeyRing::new(key(2)).with_previous(key(1)))
            .with_clock(clock.clone()),
    );
    let reply = browser.go(&rotated, "/get").await;
    assert_eq!(reply.n(), 3);
    assert_eq!(reply.set_cookie.len(), 1, "re-sealed on a read: {reply:?}");
    // the old key can go now
    let new_only = service(SessionLayer::<Small>::new(key(2)).with_clock(clock.clone()));
    let reply = browser.go(&new_only, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (3, false));
    assert!(reply.set_cookie.is_empty());
}

#[tokio::test]
async fn a_bad_cookie_is_a_fresh_session_and_is_cleared_where_the_session_was_read() {
    let clock = TestClock::new();
    let app = cookie_app(&clock);
    let mut good = Browser::default();
    good.go(&app, "/set/2").await;
    let value = good.cookie.clone().unwrap();
    for bad in [
        "__Host-c=garbage".to_owned(),
        format!("{}x", value),
        value.replacen('=', "=A", 1),
    ] {
        let mut browser = Browser {
            cookie: Some(bad.clone()),
            ..Browser::default()
        };
        let reply = browser.clone().go(&app, "/plain").await;
        assert!(reply.set_cookie.is_empty(), "not read, not cleared");
        let reply = browser.go(&app, "/get").await;
        assert!(reply.is_new(), "{bad}");
        assert!(reply.is_removal(), "{bad}: {reply:?}");
        // a new session set in its place replaces it instead
        let mut again = Browser {
            cookie: Some(bad.clone()),
            ..Browser::default()
        };
        let reply = again.go(&app, "/inc").await;
        assert_eq!(reply.max_age(), Some(WEEK));
        assert_eq!(again.go(&app, "/get").await.n(), 1);
    }
    // of two cookies with the name, the one that opens is the session
    let mut twice = Browser {
        cookie: Some(format!("__Host-c=garbage; {value}")),
        ..Browser::default()
    };
    let reply = twice.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (2, false));
    assert!(reply.set_cookie.is_empty());
}

#[tokio::test]
async fn ssl_only_ignores_plain_http() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_ssl_only(true),
    );
    let mut plain = Browser::default();
    assert!(plain.go(&app, "/inc").await.set_cookie.is_empty());
    let mut https = Browser {
        https: true,
        ..Browser::default()
    };
    assert_eq!(https.go(&app, "/inc").await.set_cookie.len(), 1);
    assert_eq!(https.go(&app, "/get").await.n(), 1);
    // the same cookie over plain HTTP is not even read
    let mut downgraded = Browser {
        https: false,
        ..https.clone()
    };
    assert!(downgraded.go(&app, "/get").await.is_new());
}

#[tokio::test]
async fn a_header_client_is_answered_in_the_header_alone() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_token_header("x-session")
            .unwrap(),
    );
    let mut client = Browser::header_client();
    let reply = client.go(&app, "/inc").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    let token = reply.token.clone().unwrap();
    assert!(!token.is_empty());
    assert_eq!(reply.vary, ["cookie, x-session"]);
    let reply = client.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.token), (1, None));
    let reply = client.go(&app, "/terminate").await;
    assert_eq!(reply.token.as_deref(), Some(""));
    assert!(reply.set_cookie.is_empty());
    // a cookie client of the same layer is answered in the cookie alone
    let mut browser = Browser::default();
    let reply = browser.go(&app, "/inc").await;
    assert_eq!((reply.set_cookie.len(), reply.token), (1, None));
}

#[tokio::test]
async fn always_save_reissues_on_every_request() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_always_save(true),
    );
    let mut browser = Browser::default();
    assert!(
        browser.go(&app, "/plain").await.set_cookie.is_empty(),
        "no session yet"
    );
    browser.go(&app, "/inc").await;
    clock.advance(60);
    let reply = browser.go(&app, "/plain").await;
    assert_eq!(reply.max_age(), Some(WEEK), "slid without an extraction");
    clock.advance(60);
    let reply = browser.go(&app, "/get").await;
    assert_eq!(reply.max_age(), Some(WEEK));
    assert_eq!(reply.n(), 1);
    assert_eq!(
        reply.field("expires"),
        format!("Some({})", START + 60 + WEEK)
    );
}

#[tokio::test]
async fn a_server_session_keeps_its_token_while_its_record_changes() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    let reply = browser.go(&app, "/inc").await;
    let token = reply.cookie().value().to_owned();
    assert!(crate::id::is_signed_id(token.as_bytes()), "{token}");
    assert_eq!(reply.max_age(), Some(WEEK));
    assert_eq!(store.len(), 1);
    // a change a minute later: the record is written, the token and the
    // expiry the client holds stay
    clock.advance(60);
    let reply = browser.go(&app, "/inc").await;
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    assert_eq!(reply.cache_control, ["private"]);
    assert_eq!(browser.go(&app, "/get").await.n(), 2);
    // a refresh is due after a quarter: record and cookie together
    clock.advance(WEEK / 4 - 60);
    let reply = browser.go(&app, "/get").await;
    assert_eq!(reply.max_age(), Some(WEEK), "{reply:?}");
    assert_eq!(reply.cookie().value(), token);
    // a record in the store is a session of another process too
    let other = server_app(&clock, &store);
    assert_eq!(browser.clone().go(&other, "/get").await.n(), 2);
    // cycle_id: a new ID; the old one opens nothing
    let stolen = browser.clone();
    let reply = browser.go(&app, "/cycle").await;
    assert_ne!(reply.cookie().value(), token);
    assert_eq!(browser.go(&app, "/get").await.n(), 2);
    assert!(stolen.clone().go(&app, "/get").await.is_new());
    assert_eq!(store.len(), 1, "the old record went");
    // terminate: the record goes and the cookie is expired
    let reply = browser.go(&app, "/terminate").await;
    assert!(reply.is_removal());
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn a_server_session_expires_with_its_record() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut first = Browser::default();
    first.go(&app, "/inc").await;
    clock.advance(1);
    let mut second = Browser::default();
    second.go(&app, "/inc").await;
    clock.advance(WEEK - 1);
    let reply = first.go(&app, "/get").await;
    assert!(reply.is_new() && reply.is_removal(), "{reply:?}");
    let reply = second.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (1, false), "one second left");
}

#[tokio::test]
async fn a_login_gives_a_server_session_a_new_id() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let before = browser.clone();
    let reply = browser.go(&app, "/login/7").await;
    assert_eq!(reply.set_cookie.len(), 1, "a new ID: {reply:?}");
    let reply = browser.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.field("user")), (1, "Some(7)".to_owned()));
    assert!(before.clone().go(&app, "/get").await.is_new(), "fixation");
}

#[tokio::test]
async fn revoking_a_user_ends_their_cookie_sessions_elsewhere() {
    let clock = TestClock::new();
    let revocations = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_user_revocation(revocations.clone()),
    );
    let mut phone = Browser::default();
    let mut laptop = Browser::default();
    let mut other_user = Browser::default();
    phone.go(&app, "/login/7").await;
    laptop.go(&app, "/login/7").await;
    other_user.go(&app, "/login/8").await;
    clock.advance(60);
    // log out everywhere, keeping this one (a password change)
    let reply = phone.go(&app, "/revoke/1").await;
    assert!(reply.body.contains("revoked=Ok(0)"), "{}", reply.body);
    assert_eq!(reply.set_cookie.len(), 1, "re-issued after the revocation");
    let reply = laptop.go(&app, "/get").await;
    assert!(reply.is_new() && reply.is_removal(), "{reply:?}");
    assert_eq!(phone.go(&app, "/get").await.field("user"), "Some(7)");
    assert_eq!(other_user.go(&app, "/get").await.field("user"), "Some(8)");
    // a login seconds after the revocation (which reaches 5 minutes ahead
    // of the clock) is issued after it: a new session, not refused
    let mut soon = Browser::default();
    clock.advance(10);
    soon.go(&app, "/login/7").await;
    assert_eq!(soon.go(&app, "/get").await.field("user"), "Some(7)");
    // the same through restart() from an anonymous session
    let mut restarted = Browser::default();
    restarted.go(&app, "/inc").await;
    restarted.go(&app, "/relogin/7").await;
    assert_eq!(restarted.go(&app, "/get").await.field("user"), "Some(7)");
    let mut later = Browser::default();
    clock.advance(3600);
    later.go(&app, "/login/7").await;
    assert_eq!(later.go(&app, "/get").await.field("user"), "Some(7)");
    // and without keeping: this session ends too
    clock.advance(3600);
    let reply = phone.go(&app, "/revoke/0").await;
    assert!(reply.is_removal(), "{reply:?}");
    assert!(later.go(&app, "/get").await.is_new());
    assert!(phone.go(&app, "/get").await.is_new());
}

/// A store that fails while `down` is set (a server that went away). Its
/// revocation times answer `Unsupported` while `no_times` is set (what a
/// Redis Cluster answers).
#[derive(Clone, Default)]
struct Failing {
    inner: Arc<MemoryStore>,
    down: Arc<std::sync::atomic::AtomicBool>,
    no_times: Arc<std::sync::atomic::AtomicBool>,
}

impl crate::RevocationTimes for Failing {
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, crate::StoreError> {
        self.check()?;
        if self.no_times.load(Ordering::SeqCst) {
            return Err(crate::StoreError::Unsupported {
                store: "failing",
                what: "revocation times",
            });
        }
        self.inner.revoked_before(user).await
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<crate::user::Revoked, crate::StoreError> {
        self.check()?;
        self.inner.revoke_before(user, at, keep_for).await
    }

    async fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<usize, crate::StoreError> {
        self.check()?;
        self.inner.delete_expired_revocations(now, limit).await
    }
}

#[tokio::test]
async fn a_revocation_store_that_cannot_answer_issues_no_session() {
    let clock = TestClock::new();
    let store = Failing::default();
    store.no_times.store(true, Ordering::SeqCst);
    // with user revocation, a login is checked against the user's time:
    // a store that cannot say refuses the login, it does not let it through
    let checked = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_user_revocation(store.clone()),
    );
    let reply = Browser::default().go(&checked, "/login/7").await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    // a Server layer's own fence over a store without revocation times
    // (the core trait alone) is skipped: the login is issued
    let fenced = service(
        SessionLayer::<Stored>::with_store(key(1), Failing::default()).with_clock(clock.clone()),
    );
    let mut browser = Browser::default();
    let reply = browser.go(&fenced, "/login/7").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(browser.go(&fenced, "/get").await.field("user"), "Some(7)");
}

impl Failing {
    fn check(&self) -> Result<(), crate::StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(crate::StoreError::backend("failing", "down"));
        }
        Ok(())
    }
}

impl crate::SessionStore for Failing {
    const NAME: &'static str = "failing";

    async fn create(
        &self,
        key: &crate::id::StoreKey,
        entry: crate::store::Entry<'_>,
    ) -> Result<bool, crate::StoreError> {
        self.check()?;
        self.inner.create(key, entry).await
    }

    async fn load(
        &self,
        key: &crate::id::StoreKey,
        now: u64,
    ) -> Result<Option<crate::Record>, crate::StoreError> {
        self.check()?;
        self.inner.load(key, now).await
    }

    async fn save(
        &self,
        key: &crate::id::StoreKey,
        entry: crate::store::Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<crate::Saved, crate::StoreError> {
        self.check()?;
        self.inner.save(key, entry, version, now).await
    }

    async fn delete(&self, key: &crate::id::StoreKey) -> Result<bool, crate::StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, crate::StoreError> {
        self.check()?;
        self.inner.delete_expired(now, dormant_for, limit).await
    }
}

#[tokio::test]
async fn a_store_outage_is_a_503_by_default_and_an_empty_session_when_let_through() {
    let clock = TestClock::new();
    let store = Failing::default();
    let strict = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone()).with_clock(clock.clone()),
    );
    let lenient = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone())
            .with_clock(clock.clone())
            .with_outage_policy(crate::OutagePolicy::Continue)
            .unwrap(),
    );
    let mut browser = Browser::default();
    browser.go(&strict, "/inc").await;
    store.down.store(true, Ordering::SeqCst);
    let reply = browser.clone().go(&strict, "/get").await;
    assert_eq!(reply.status, 503);
    assert!(reply.set_cookie.is_empty());
    // let through: an empty session, and the cookie kept for later
    let reply = browser.clone().go(&lenient, "/inc").await;
    assert_eq!((reply.status, reply.n()), (200, 1));
    assert!(reply.set_cookie.is_empty(), "{reply:?}");
    // a new session whose save fails: 503, or nothing written
    let reply = Browser::default().go(&strict, "/inc").await;
    assert_eq!(reply.status, 503);
    assert!(reply.set_cookie.is_empty());
    let reply = Browser::default().go(&lenient, "/inc").await;
    assert_eq!(reply.status, 200);
    assert!(reply.set_cookie.is_empty());
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        browser.go(&strict, "/get").await.n(),
        1,
        "kept for when it is back"
    );
}

#[tokio::test]
async fn a_failed_delete_at_terminate_is_reported() {
    let clock = TestClock::new();
    let store = Failing::default();
    let app = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone()).with_clock(clock.clone()),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    // the record loads, then the store goes away before the delete
    let gate = Gate::default();
    let held = browser.clone();
    let (reply, ()) = tokio::join!(
        async {
            let mut held = held;
            held.go_held(&app, "/terminate", Some(gate.clone())).await
        },
        async {
            store.down.store(true, Ordering::SeqCst);
            gate.0.notify_one();
        }
    );
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(reply.set_cookie.is_empty());
}

#[tokio::test]
async fn quick_fields_are_written_to_the_cache_alone() {
    let clock = TestClock::new();
    let cache = Arc::new(MemoryStore::default());
    let durable = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Quick>::with_store(
            key(1),
            crate::Tiered::new(Arc::clone(&cache), Arc::clone(&durable)),
        )
        .with_clock(clock.clone()),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/login/7").await;
    let first = record_of(&durable).await;
    assert_eq!(first.version, 1);
    // only the quick field changes: no durable write, no new cookie
    for n in 1..=3 {
        let reply = browser.go(&app, "/inc").await;
        assert!(reply.set_cookie.is_empty(), "{reply:?}");
        assert_eq!(browser.go(&app, "/get").await.n(), n);
    }
    assert_eq!(
        record_of(&durable).await,
        first,
        "the durable record is as it was"
    );
    let cached = cache
        .load(&cache_key(&durable).await, 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cached.version, 1);
    assert!(!cached.quick.is_empty());
    // a durable field changes: a full save, the quick field kept
    browser.go(&app, "/login/8").await;
    let reply = browser.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.field("user")), (3, "Some(8)".to_owned()));
    // the cache lost the entry: the quick field is lost, the rest is not
    cache
        .delete_expired(u64::from(u32::MAX), 0, 100)
        .await
        .unwrap();
    let fresh_cache = Arc::new(MemoryStore::default());
    let cold = service(
        SessionLayer::<Quick>::with_store(key(1), crate::Tiered::new(fresh_cache, durable))
            .with_clock(clock.clone()),
    );
    let reply = browser.go(&cold, "/get").await;
    assert_eq!((reply.n(), reply.field("user")), (0, "Some(8)".to_owned()));
}

/// The one record a store holds for user 7 or 8.
async fn record_of(store: &MemoryStore) -> crate::Record {
    let key = cache_key(store).await;
    store.load(&key, 0).await.unwrap().unwrap()
}

/// The key of the one record a store holds for user 7 or 8.
async fn cache_key(store: &MemoryStore) -> crate::id::StoreKey {
    for user in ["7", "8"] {
        if let Some(session) = store
            .user_sessions("__Host-q", user, 0)
            .await
            .unwrap()
            .first()
        {
            return session.key;
        }
    }
    panic!("no record")
}

#[tokio::test]
async fn a_login_elsewhere_retires_the_id_a_concurrent_request_holds() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    // A loads (version 1), B saves first; A's save conflicts and is rebased
    let gate = Gate::default();
    let (a, b) = (browser.clone(), browser.clone());
    let (first, second) = tokio::join!(
        async {
            let mut a = a;
            a.go_held(&app, "/set/5", Some(gate.clone())).await
        },
        async {
            let mut b = b;
            let reply = b.go(&app, "/login/9").await;
            gate.0.notify_one();
            reply
        }
    );
    assert_eq!((first.status, second.status), (200, 200));
    // the login gave the session a new ID and retired the old one: the
    // change made under the old ID ends with it, never recreating it
    assert!(first.is_removal(), "{first:?}");
    let reply = browser.clone().go(&app, "/get").await;
    assert!(reply.is_new());
    let mut b = Browser {
        cookie: Some(format!(
            "{}={}",
            second.cookie().name(),
            second.cookie().value()
        )),
        ..Browser::default()
    };
    let reply = b.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.field("user")), (1, "Some(9)".to_owned()));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_concurrent_change_of_another_field_is_kept() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_cookie_threshold(0)
            .unwrap(),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/text/3").await;
    let gate = Gate::default();
    let (a, b) = (browser.clone(), browser.clone());
    let (first, second) = tokio::join!(
        async {
            let mut a = a;
            a.go_held(&app, "/set/5", Some(gate.clone())).await
        },
        async {
            let mut b = b;
            let reply = b.go(&app, "/text/10").await;
            gate.0.notify_one();
            reply
        }
    );
    assert_eq!((first.status, second.status), (200, 200));
    assert!(first.set_cookie.is_empty() && second.set_cookie.is_empty());
    // both changes: the later save re-applied its field on the fresh record
    let reply = browser.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.field("text")), (5, "10".to_owned()));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn a_session_terminated_by_another_request_is_not_recreated() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let gate = Gate::default();
    let (a, b) = (browser.clone(), browser.clone());
    let (changed, ended) = tokio::join!(
        async {
            let mut a = a;
            a.go_held(&app, "/inc", Some(gate.clone())).await
        },
        async {
            let mut b = b;
            let reply = b.go(&app, "/terminate").await;
            gate.0.notify_one();
            reply
        }
    );
    assert!(ended.is_removal());
    assert!(changed.is_removal(), "ended meanwhile: {changed:?}");
    assert!(store.is_empty());
    // cycle_id on a session ended meanwhile: not carried to a new ID either
    browser = Browser::default();
    browser.go(&app, "/inc").await;
    let gate = Gate::default();
    let (a, b) = (browser.clone(), browser.clone());
    let (cycled, _) = tokio::join!(
        async {
            let mut a = a;
            a.go_held(&app, "/cycle", Some(gate.clone())).await
        },
        async {
            let mut b = b;
            let reply = b.go(&app, "/terminate").await;
            gate.0.notify_one();
            reply
        }
    );
    assert!(cycled.is_removal(), "{cycled:?}");
    assert!(store.is_empty());
}

#[tokio::test]
async fn an_adaptive_session_moves_between_cookie_and_store_with_its_size() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_cookie_threshold(64)
            .unwrap(),
    );
    let mut browser = Browser::default();
    let reply = browser.go(&app, "/text/10").await;
    let value = reply.cookie().value().to_owned();
    assert!(
        !crate::id::is_signed_id(value.as_bytes()),
        "small: in the cookie"
    );
    assert!(store.is_empty());
    let reply = browser.go(&app, "/text/100").await;
    let id = reply.cookie().value().to_owned();
    assert!(
        crate::id::is_signed_id(id.as_bytes()),
        "large: in the store"
    );
    assert_eq!(store.len(), 1);
    assert_eq!(browser.go(&app, "/get").await.field("n"), "0");
    // small again: back to the cookie, and the record goes
    let reply = browser.go(&app, "/text/5").await;
    assert!(!crate::id::is_signed_id(reply.cookie().value().as_bytes()));
    assert!(store.is_empty());
    assert!(!browser.go(&app, "/get").await.is_new());
    // over the size cap: not saved
    let capped = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_max_size(200)
            .unwrap(),
    );
    let reply = Browser::default().go(&capped, "/text/500").await;
    assert_eq!(reply.status, 500);
    assert!(reply.set_cookie.is_empty());
    assert_eq!(
        Browser::default().go(&capped, "/text/100").await.status,
        200
    );
}

/// The encoded length of a `Note` with `text_len` bytes of text.
fn note_len(text_len: usize) -> usize {
    let note = Note {
        text: "x".repeat(text_len),
        ..Note::default()
    };
    crate::encode_to_vec::<Note, crate::Bincode>(&note)
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_cookie_threshold_and_the_size_cap_are_inclusive() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_cookie_threshold(note_len(20))
            .unwrap()
            .with_max_size(note_len(40))
            .unwrap(),
    );
    let token = |reply: &Reply| reply.cookie().value().to_owned();
    let reply = Browser::default().go(&app, "/text/20").await;
    assert!(
        !crate::id::is_signed_id(token(&reply).as_bytes()),
        "at the threshold: cookie"
    );
    let reply = Browser::default().go(&app, "/text/21").await;
    assert!(
        crate::id::is_signed_id(token(&reply).as_bytes()),
        "over it: store"
    );
    let reply = Browser::default().go(&app, "/text/40").await;
    assert_eq!(reply.status, 200, "at the cap: saved");
    let reply = Browser::default().go(&app, "/text/41").await;
    assert_eq!(reply.status, 500, "over the cap");
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn an_adaptive_type_takes_old_ids_and_refuses_values_that_are_neither() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_cookie_threshold(0)
            .unwrap(),
    );
    let reply = Browser::default().go(&app, "/text/5").await;
    let current = reply.cookie().value().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&current).unwrap();
    let legacy = URL_SAFE_NO_PAD.encode(&raw[1..]);
    let mut old = Browser {
        cookie: Some(format!("__Host-a={legacy}")),
        ..Browser::default()
    };
    let reply = old.go(&app, "/get").await;
    assert_eq!(
        (reply.field("text"), reply.is_new()),
        ("5".to_owned(), false)
    );
    assert_eq!(reply.cookie().value(), current, "re-signed");
    // of the old ID's length, but neither an ID nor a sealed session
    for value in ["A".repeat(crate::id::LEGACY_SIGNED_ID_LEN), "B".repeat(40)] {
        let reply = Browser {
            cookie: Some(format!("__Host-a={value}")),
            ..Browser::default()
        }
        .go(&app, "/get")
        .await;
        assert!(reply.is_new() && reply.is_removal(), "{value}: {reply:?}");
    }
}

#[tokio::test]
async fn an_id_signed_before_the_format_byte_loads_and_is_re_signed() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    let reply = browser.go(&app, "/inc").await;
    let current = reply.cookie().value().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&current).unwrap();
    let legacy = URL_SAFE_NO_PAD.encode(&raw[1..]);
    let mut old = Browser {
        cookie: Some(format!("__Host-s={legacy}")),
        ..Browser::default()
    };
    let reply = old.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.is_new()), (1, false));
    assert_eq!(
        reply.cookie().value(),
        current,
        "re-signed in the current form"
    );
    // a sealed value sent to a server-only type is no session
    let sealed = crate::Sealer::new(key(1), crate::Mode::Encrypted).seal_body::<crate::Bincode>(
        "__Host-s",
        <Stored as crate::SessionData>::FINGERPRINT,
        &crate::Meta::default(),
        b"",
    );
    let reply = Browser {
        cookie: Some(format!("__Host-s={sealed}")),
        ..Browser::default()
    }
    .go(&app, "/get")
    .await;
    assert!(reply.is_new() && reply.is_removal());
    // an ID signed with another key, or unknown to the store: refused, cleared
    let foreign = crate::id::SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key(2)), "__Host-s");
    let unknown = crate::id::SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key(1)), "__Host-s");
    for value in [foreign, unknown] {
        let reply = Browser {
            cookie: Some(format!("__Host-s={value}")),
            ..Browser::default()
        }
        .go(&app, "/get")
        .await;
        assert!(reply.is_new() && reply.is_removal(), "{reply:?}");
    }
}

#[tokio::test]
async fn devices_are_listed_and_one_can_be_revoked() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut phone = Browser::default();
    let mut laptop = Browser::default();
    phone.go(&app, "/login/7").await;
    clock.advance(10);
    laptop.go(&app, "/login/7").await;
    Browser::default().go(&app, "/login/8").await;
    let reply = phone.go(&app, "/devices").await;
    let devices = reply.field("devices");
    let listed: Vec<&str> = devices.split(',').collect();
    assert_eq!(listed.len(), 2, "{devices}");
    // newest first: the laptop, then this phone
    assert!(
        listed[0].ends_with(":false") && listed[1].ends_with(":true"),
        "{devices}"
    );
    let laptop_tag = listed[0].split(':').next().unwrap().to_owned();
    let reply = phone.go(&app, &format!("/get?revoke={laptop_tag}")).await;
    assert!(
        reply.body.contains("revoked_device=Ok(true)"),
        "{}",
        reply.body
    );
    assert!(laptop.go(&app, "/get").await.is_new());
    let reply = phone.go(&app, "/get?revoke=nosuchtag").await;
    assert!(
        reply.body.contains("revoked_device=Ok(false)"),
        "{}",
        reply.body
    );
    // log out everywhere: this one too
    let mut tablet = Browser::default();
    tablet.go(&app, "/login/7").await;
    let reply = phone.go(&app, "/revoke/0").await;
    assert!(reply.body.contains("revoked=Ok(1)"), "{}", reply.body);
    assert!(reply.is_removal());
    assert!(tablet.go(&app, "/get").await.is_new());
    assert_eq!(store.len(), 1, "user 8's session");
}

#[test]
fn a_layers_debug_names_its_codec_and_store_and_hides_the_keys() {
    let layer = SessionLayer::<Stored>::with_store(key(1), MemoryStore::default());
    let shown = format!("{layer:?}");
    for part in [
        "bincode",
        "memory",
        "REDACTED",
        "max_size",
        "contention_timeout",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
}

#[tokio::test]
async fn a_record_opens_only_under_the_key_it_was_written_for() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = server_app(&clock, &store);
    let mut browser = Browser::default();
    browser.go(&app, "/login/7").await;
    let written = store.user_sessions("__Host-s", "7", 0).await.unwrap()[0].key;
    let record = store.load(&written, 0).await.unwrap().unwrap();
    // the record copied under another ID's key (a store an attacker can
    // write to, but whose key cannot be had): that ID opens nothing
    let other = crate::id::SessionId::generate().unwrap();
    store
        .put(&other.store_key(), record.entry(), record.version)
        .await
        .unwrap();
    let forged = other.sign(&KeyRing::new(key(1)), "__Host-s");
    let reply = Browser {
        cookie: Some(format!("__Host-s={forged}")),
        ..Browser::default()
    }
    .go(&app, "/get")
    .await;
    assert!(reply.is_new() && reply.is_removal(), "{reply:?}");
    assert_eq!(browser.go(&app, "/get").await.field("user"), "Some(7)");
    // a store without a cache tier keeps no quick blob
    assert!(record.quick.is_empty());
}

#[tokio::test]
async fn quick_fields_live_in_the_main_record_without_a_cache_tier() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Quick>::with_store(key(1), Arc::clone(&store)).with_clock(clock.clone()),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/login/7").await;
    browser.go(&app, "/inc").await;
    let record = record_of(&store).await;
    assert!(record.quick.is_empty(), "one blob");
    assert_eq!(record.version, 2, "a full save");
    assert_eq!(browser.go(&app, "/get").await.n(), 1);
}

#[tokio::test]
async fn a_quick_blob_opens_only_with_the_record_it_was_written_for() {
    let clock = TestClock::new();
    let cache = Arc::new(MemoryStore::default());
    let durable = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Quick>::with_store(
            key(1),
            crate::Tiered::new(Arc::clone(&cache), Arc::clone(&durable)),
        )
        .with_clock(clock.clone()),
    );
    let (mut seven, mut eight) = (Browser::default(), Browser::default());
    seven.go(&app, "/login/7").await;
    seven.go(&app, "/set/70").await;
    eight.go(&app, "/login/8").await;
    eight.go(&app, "/set/80").await;
    let key_of = |user: &'static str| {
        let durable = Arc::clone(&durable);
        async move { durable.user_sessions("__Host-q", user, 0).await.unwrap()[0].key }
    };
    let (k7, k8) = (key_of("7").await, key_of("8").await);
    let r7 = cache.load(&k7, 0).await.unwrap().unwrap();
    let r8 = cache.load(&k8, 0).await.unwrap().unwrap();
    assert!(!r7.quick.is_empty() && !r8.quick.is_empty());
    // 8's durable blob with 7's quick blob: the quick fields are dropped
    let spliced = crate::Record {
        quick: r7.quick.clone(),
        ..r8.clone()
    };
    cache
        .delete_expired(u64::from(u32::MAX), 0, 100)
        .await
        .unwrap();
    cache
        .put(&k8, spliced.entry(), spliced.version + 1)
        .await
        .unwrap();
    let reply = eight.go(&app, "/get").await;
    assert_eq!((reply.n(), reply.field("user")), (0, "Some(8)".to_owned()));
    // and a quick blob passed off as a durable one opens nothing
    let swapped = crate::Record {
        data: r7.quick.clone(),
        quick: Vec::new(),
        ..r7.clone()
    };
    durable.delete(&k7).await.unwrap();
    durable
        .put(&k7, swapped.entry(), swapped.version)
        .await
        .unwrap();
    cache
        .delete_expired(u64::from(u32::MAX), 0, 100)
        .await
        .unwrap();
    let cold = service(
        SessionLayer::<Quick>::with_store(
            key(1),
            crate::Tiered::new(Arc::new(MemoryStore::default()), Arc::clone(&durable)),
        )
        .with_clock(clock.clone()),
    );
    assert!(seven.go(&cold, "/get").await.is_new());
}

/// Records the `outcome` (and `sends_token`) of every span, by span name:
/// what `tests/tests/tracing_spans.rs` reads through tracing-subscriber.
#[derive(Default)]
struct SpanFields {
    next: AtomicU64,
    names: std::sync::Mutex<std::collections::HashMap<u64, &'static str>>,
    seen: std::sync::Mutex<Vec<String>>,
}

struct FieldVisitor<'a> {
    span: &'static str,
    seen: &'a std::sync::Mutex<Vec<String>>,
}

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "outcome" | "sends_token") {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} {}={value:?}", self.span, field.name()));
        }
    }
}

impl SpanFields {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// The subscriber side of [`SpanFields`].
struct Capture(Arc<SpanFields>);

impl tracing::Subscriber for Capture {
    // "sometimes": the interest of a callsite is shared by every thread's
    // subscriber, and tests on other threads have none; this one is asked
    // each time instead
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        self.0
            .names
            .lock()
            .unwrap()
            .insert(id, span.metadata().name());
        tracing::span::Id::from_u64(id)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let name = self
            .0
            .names
            .lock()
            .unwrap()
            .get(&span.into_u64())
            .copied()
            .unwrap_or("?");
        values.record(&mut FieldVisitor {
            span: name,
            seen: &self.0.seen,
        });
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn store_spans_say_how_each_load_and_save_went() {
    let fields = Arc::new(SpanFields::default());
    keep_tracing_callsites_open();
    let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&fields)));
    // another test's thread may have had these callsites cached as
    // uninteresting (no subscriber there): ask again, now that one listens
    tracing::callsite::rebuild_interest_cache();
    let clock = TestClock::new();
    let store = Failing::default();
    let strict = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone()).with_clock(clock.clone()),
    );
    let lenient = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone())
            .with_clock(clock.clone())
            .with_outage_policy(crate::OutagePolicy::Continue)
            .unwrap(),
    );
    let load = |outcome: &str| format!("session_load outcome=\"{outcome}\"");
    let mut browser = Browser::default();
    browser.go(&strict, "/inc").await;
    let seen = fields.take();
    assert!(seen.contains(&load("no_token")), "{seen:?}");
    assert!(
        seen.contains(&"session_save outcome=\"ok\"".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"session_save sends_token=true".to_owned()),
        "{seen:?}"
    );
    browser.go(&strict, "/inc").await;
    let seen = fields.take();
    assert!(seen.contains(&load("loaded")), "{seen:?}");
    assert!(
        seen.contains(&"session_save sends_token=false".to_owned()),
        "{seen:?}"
    );
    let mut forged = Browser {
        cookie: Some("__Host-s=Cxxxx".to_owned()),
        ..Browser::default()
    };
    forged.go(&strict, "/get").await;
    assert!(fields.take().contains(&load("refused")));
    // a valid ID of no record, and one whose record expired
    let unknown = crate::id::SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key(1)), "__Host-s");
    let reply = Browser {
        cookie: Some(format!("__Host-s={unknown}")),
        ..Browser::default()
    }
    .go(&strict, "/get")
    .await;
    assert!(reply.is_removal(), "cleared all the same");
    assert!(fields.take().contains(&load("unknown_or_expired")));
    clock.advance(WEEK);
    browser.clone().go(&strict, "/get").await;
    assert!(fields.take().contains(&load("unknown_or_expired")));
    let mut browser = Browser::default();
    browser.go(&strict, "/inc").await;
    fields.take();
    store.down.store(true, Ordering::SeqCst);
    browser.clone().go(&strict, "/get").await;
    assert!(fields.take().contains(&load("unavailable")));
    browser.clone().go(&lenient, "/get").await;
    assert!(fields.take().contains(&load("store_failed")));
    Browser::default().go(&strict, "/inc").await;
    let seen = fields.take();
    assert!(
        seen.contains(&"session_save outcome=\"unavailable\"".to_owned()),
        "{seen:?}"
    );
    store.down.store(false, Ordering::SeqCst);
    // a save refused by the store's size limit fails with 500
    let small = Failing {
        inner: Arc::new(
            MemoryStore::default().with_max_record(std::num::NonZeroUsize::new(10).unwrap()),
        ),
        ..Failing::default()
    };
    let tiny = service(SessionLayer::<Stored>::with_store(key(1), small).with_clock(clock.clone()));
    let reply = Browser::default().go(&tiny, "/inc").await;
    assert_eq!(reply.status, 500);
    let seen = fields.take();
    assert!(
        seen.contains(&"session_save outcome=\"failed\"".to_owned()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_failed_save_and_a_failed_delete_tell_the_client_what_happened() {
    let clock = TestClock::new();
    let store = Failing::default();
    let app = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone()).with_clock(clock.clone()),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    for (path, says) in [
        ("/inc", "nothing was changed"),
        ("/terminate", "may not be fully ended"),
    ] {
        let gate = Gate::default();
        let mut held = browser.clone();
        let (reply, ()) = tokio::join!(held.go_held(&app, path, Some(gate.clone())), async {
            store.down.store(true, Ordering::SeqCst);
            gate.0.notify_one();
        });
        store.down.store(false, Ordering::SeqCst);
        assert_eq!(reply.status, 503, "{path}: {reply:?}");
        assert!(reply.body.contains(says), "{path}: {}", reply.body);
    }
}

/// A store where another writer always saves first: every save conflicts.
#[derive(Clone, Default)]
struct Contended(Arc<MemoryStore>);

impl crate::SessionStore for Contended {
    const NAME: &'static str = "contended";

    async fn create(
        &self,
        key: &crate::id::StoreKey,
        entry: crate::store::Entry<'_>,
    ) -> Result<bool, crate::StoreError> {
        self.0.create(key, entry).await
    }

    async fn load(
        &self,
        key: &crate::id::StoreKey,
        now: u64,
    ) -> Result<Option<crate::Record>, crate::StoreError> {
        self.0.load(key, now).await
    }

    async fn save(
        &self,
        key: &crate::id::StoreKey,
        entry: crate::store::Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<crate::Saved, crate::StoreError> {
        // the other writer: the record as it is, saved again
        if let Some(current) = self.0.load(key, now).await? {
            self.0
                .save(key, current.entry(), current.version, now)
                .await?;
        }
        self.0.save(key, entry, version, now).await
    }

    async fn delete(&self, key: &crate::id::StoreKey) -> Result<bool, crate::StoreError> {
        self.0.delete(key).await
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, crate::StoreError> {
        self.0.delete_expired(now, dormant_for, limit).await
    }
}

#[tokio::test]
async fn a_save_that_keeps_losing_to_other_writers_gives_up_with_503() {
    let clock = TestClock::new();
    let app = service(
        SessionLayer::<Stored>::with_store(key(1), Contended::default())
            .with_clock(clock.clone())
            .with_contention_timeout(Duration::from_millis(1))
            .unwrap(),
    );
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    let reply = browser.go(&app, "/inc").await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply.body.contains("too many requests at once"),
        "{}",
        reply.body
    );
    assert!(reply.set_cookie.is_empty());
}

#[tokio::test]
async fn a_session_kept_by_a_revocation_that_another_one_covered_ends_too() {
    let clock = TestClock::new();
    let revocations = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_user_revocation(Arc::clone(&revocations)),
    );
    let (mut stolen, mut owner) = (Browser::default(), Browser::default());
    stolen.go(&app, "/login/7").await;
    owner.go(&app, "/login/7").await;
    clock.advance(600);
    // the thief's request has loaded its session when the owner logs out
    // everywhere; its "keep this one" then finds itself covered
    let gate = Gate::default();
    let (kept, ended) = tokio::join!(
        stolen.go_held(&app, "/revoke/1?hold_first", Some(gate.clone())),
        async {
            let reply = owner.go(&app, "/revoke/0").await;
            gate.0.notify_one();
            reply
        }
    );
    assert!(ended.is_removal());
    assert!(
        kept.is_removal(),
        "covered by the other revocation: {kept:?}"
    );
    assert!(stolen.go(&app, "/get").await.is_new());
    // a revocation long before the session's login covers nothing
    clock.advance(3600);
    let mut later = Browser::default();
    later.go(&app, "/login/7").await;
    clock.advance(60);
    let reply = later.go(&app, "/revoke/1").await;
    assert_eq!(reply.set_cookie.len(), 1);
    assert!(!reply.is_removal(), "kept: {reply:?}");
    assert_eq!(later.go(&app, "/get").await.field("user"), "Some(7)");
}

#[tokio::test]
async fn the_extractor_without_io_serves_cookie_layers_and_asks_server_layers_to_load() {
    let clock = TestClock::new();
    let cookie = cookie_app(&clock);
    let mut browser = Browser::default();
    assert_eq!(browser.go(&cookie, "/sync").await.body, "n=1");
    assert_eq!(browser.go(&cookie, "/sync").await.body, "n=2");
    let store = Arc::new(MemoryStore::default());
    let server = server_app(&clock, &store);
    let mut browser = Browser::default();
    // no token yet: nothing to load, a fresh session
    assert_eq!(browser.go(&server, "/sync").await.body, "n=1");
    assert_eq!(store.len(), 1);
    let reply = browser.go(&server, "/sync").await;
    assert!(
        reply.body.starts_with("rejected=NeedsAsyncLoad"),
        "{}",
        reply.body
    );
    assert!(
        reply.set_cookie.is_empty(),
        "the session is left alone: {reply:?}"
    );
    assert_eq!(browser.go(&server, "/get").await.n(), 1);
    // even when a refresh is due: the session was not used
    clock.advance(WEEK / 2);
    let reply = browser.go(&server, "/sync").await;
    assert!(reply.set_cookie.is_empty(), "not refreshed: {reply:?}");
}

/// Counts what the layer counts, by `name{label=value,...}`: what a
/// Prometheus exporter would show.
#[derive(Default)]
struct Counted(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

struct CountedCounter {
    key: String,
    counted: Arc<Counted>,
}

impl metrics::CounterFn for CountedCounter {
    fn increment(&self, value: u64) {
        *self
            .counted
            .0
            .lock()
            .unwrap()
            .entry(self.key.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.counted
            .0
            .lock()
            .unwrap()
            .insert(self.key.clone(), value);
    }
}

/// The recorder side of [`Counted`].
struct Counting(Arc<Counted>);

impl metrics::Recorder for Counting {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let labels: Vec<String> = key
            .labels()
            .filter(|label| label.key() != "session")
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        metrics::Counter::from_arc(Arc::new(CountedCounter {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            counted: Arc::clone(&self.0),
        }))
    }

    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

impl Counted {
    /// The counts since the last call.
    fn take(&self) -> std::collections::BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn refused_tokens_and_store_outages_are_counted_by_reason() {
    let counted = Arc::new(Counted::default());
    let recorder = Counting(Arc::clone(&counted));
    let _guard = metrics::set_default_local_recorder(&recorder);
    let refused = |reason: &str| format!("sessionkit_refused_total{{reason={reason}}}");
    let clock = TestClock::new();
    // a cookie layer: a tampered cookie
    let app = cookie_app(&clock);
    let mut browser = Browser::default();
    browser.go(&app, "/inc").await;
    assert_eq!(
        counted
            .take()
            .get("sessionkit_sessions_saved_total{tier=cookie}"),
        Some(&1)
    );
    Browser {
        cookie: Some(
            "__Host-c=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        ..Browser::default()
    }
    .go(&app, "/get")
    .await;
    let counts = counted.take();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(
        counts
            .keys()
            .all(|key| key.starts_with("sessionkit_refused_total")),
        "{counts:?}"
    );
    browser.go(&app, "/get").await;
    let counts = counted.take();
    assert_eq!(
        counts.get("sessionkit_sessions_loaded_total{}"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("sessionkit_sessions_unchanged_total{}"),
        Some(&1),
        "{counts:?}"
    );
    // a change, and a read of no session, are not "unchanged"
    browser.go(&app, "/inc").await;
    Browser::default().go(&app, "/get").await;
    let counts = counted.take();
    assert_eq!(
        counts.get("sessionkit_sessions_unchanged_total{}"),
        None,
        "{counts:?}"
    );
    assert_eq!(
        counts.get("sessionkit_sessions_saved_total{tier=cookie}"),
        Some(&1)
    );
    // an Adaptive layer: a sealed value that does not open is refused as such
    let store = Failing::default();
    let adaptive =
        service(SessionLayer::<Note>::with_store(key(1), store.clone()).with_clock(clock.clone()));
    let mut small = Browser::default();
    // (a value of the old ID form's length would be tried as an ID too)
    small.go(&adaptive, "/text/10").await;
    let sealed_len = small.cookie.as_ref().unwrap().len() - "__Host-a=".len();
    assert_ne!(sealed_len, crate::id::LEGACY_SIGNED_ID_LEN);
    counted.take();
    // the sealed value with its last byte (the AEAD tag's) changed
    let line = small.cookie.clone().unwrap();
    let (name, value) = line.split_once('=').unwrap();
    let mut raw = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .unwrap()
    };
    *raw.last_mut().unwrap() ^= 1;
    let value = {
        use base64::Engine as _;
        format!(
            "{name}={}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    };
    let reply = Browser {
        cookie: Some(value),
        ..Browser::default()
    }
    .go(&adaptive, "/get")
    .await;
    assert!(reply.is_new());
    let counts = counted.take();
    assert_eq!(counts.get(&refused("tampered")), Some(&1), "{counts:?}");
    // a server layer: an unknown ID, then the store failing
    let server = service(
        SessionLayer::<Stored>::with_store(key(1), store.clone()).with_clock(clock.clone()),
    );
    let unknown = crate::id::SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key(1)), "__Host-s");
    Browser {
        cookie: Some(format!("__Host-s={unknown}")),
        ..Browser::default()
    }
    .go(&server, "/get")
    .await;
    assert_eq!(counted.take().get(&refused("unknown_id")), Some(&1));
    let mut browser = Browser::default();
    browser.go(&server, "/inc").await;
    let counts = counted.take();
    assert_eq!(
        counts.get("sessionkit_sessions_created_total{}"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("sessionkit_sessions_saved_total{tier=store}"),
        Some(&1),
        "{counts:?}"
    );
    store.down.store(true, Ordering::SeqCst);
    browser.clone().go(&server, "/get").await;
    assert_eq!(
        counted
            .take()
            .get("sessionkit_store_outages_total{store=failing,operation=load}"),
        Some(&1)
    );
    store.down.store(false, Ordering::SeqCst);
}

#[tokio::test]
async fn always_save_loads_server_sessions_and_checks_revocations_on_routes_that_never_extract() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Stored>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_always_save(true),
    );
    let mut browser = Browser::default();
    let token = browser.go(&app, "/inc").await.cookie().value().to_owned();
    clock.advance(60);
    let reply = browser.go(&app, "/plain").await;
    assert_eq!(
        reply.cookie().value(),
        token,
        "the same ID, its expiry slid"
    );
    assert_eq!(reply.max_age(), Some(WEEK));
    assert_eq!(browser.go(&app, "/get").await.n(), 1);
    // with user revocation: a revoked session is not re-issued
    let revocations = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_always_save(true)
            .with_user_revocation(Arc::clone(&revocations)),
    );
    let (mut phone, mut laptop) = (Browser::default(), Browser::default());
    phone.go(&app, "/login/7").await;
    laptop.go(&app, "/login/7").await;
    clock.advance(60);
    assert_eq!(laptop.go(&app, "/plain").await.max_age(), Some(WEEK));
    phone.go(&app, "/revoke/0").await;
    let reply = laptop.go(&app, "/plain").await;
    assert!(reply.is_removal(), "cleared, not re-issued: {reply:?}");
    assert!(laptop.go(&app, "/get").await.is_new());
}

#[tokio::test]
async fn a_session_revoked_while_its_request_runs_is_not_issued_anew() {
    let clock = TestClock::new();
    let revocations = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_user_revocation(Arc::clone(&revocations)),
    );
    for (path, ends) in [("/cycle", true), ("/login/8", false)] {
        let (mut racing, mut owner) = (Browser::default(), Browser::default());
        racing.go(&app, "/login/7").await;
        owner.go(&app, "/login/7").await;
        clock.advance(600);
        // loaded before the owner's log out everywhere, issued anew after it
        let gate = Gate::default();
        let held = format!("{path}?hold_first");
        let (reply, _) = tokio::join!(racing.go_held(&app, &held, Some(gate.clone())), async {
            let reply = owner.go(&app, "/revoke/0").await;
            gate.0.notify_one();
            reply
        });
        if ends {
            // the same user's session, covered by the revocation: ended
            assert!(reply.is_removal(), "{path}: {reply:?}");
            assert!(racing.go(&app, "/get").await.is_new());
        } else {
            // a login as another user: a new session, after the revocation
            assert_eq!(reply.set_cookie.len(), 1, "{path}: {reply:?}");
            assert_eq!(racing.go(&app, "/get").await.field("user"), "Some(8)");
        }
        clock.advance(3600);
    }
}

#[tokio::test]
async fn a_kept_session_ends_when_another_revocation_comes_before_its_response() {
    let clock = TestClock::new();
    let revocations = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Small>::new(key(1))
            .with_clock(clock.clone())
            .with_user_revocation(Arc::clone(&revocations)),
    );
    let mut keeper = Browser::default();
    keeper.go(&app, "/login/7").await;
    clock.advance(600);
    // keeper revokes keeping itself; before its response, an operator
    // (`sessionkit revoke`) revokes the user again, later
    let gate = Gate::default();
    let (kept, ()) = tokio::join!(
        keeper.go_held(&app, "/revoke/1", Some(gate.clone())),
        async {
            let later = clock.now() + 3600;
            revocations.revoke_before("7", later, 3600).await.unwrap();
            gate.0.notify_one();
        }
    );
    assert!(kept.is_removal(), "a later revocation came first: {kept:?}");
    assert!(keeper.go(&app, "/get").await.is_new());
}

#[tokio::test]
async fn an_adaptive_session_stays_in_its_cookie_up_to_4096_bytes_of_name_and_value() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let app = service(
        SessionLayer::<Note>::with_store(key(1), Arc::clone(&store))
            .with_clock(clock.clone())
            .with_cookie_threshold(10_000)
            .unwrap(),
    );
    // grow the text a byte at a time until the session leaves the cookie
    let mut longest = 0;
    for len in 2_900..3_200 {
        let reply = Browser::default().go(&app, &format!("/text/{len}")).await;
        let cookie = reply.cookie();
        if crate::id::is_signed_id(cookie.value().as_bytes()) {
            break;
        }
        longest = cookie.name().len() + 1 + cookie.value().len();
    }
    assert_eq!(
        longest, 4096,
        "the last cookie-held session fills the limit exactly"
    );
    assert_eq!(store.len(), 1, "the first one over it went to the store");
}

use crate::telemetry::keep_tracing_callsites_open;

#[test]
fn builder_errors_name_the_rule_broken() {
    use crate::ConfigError;
    // a server-tier setting on a cookie layer: no store, whatever the value
    for bytes in [0, 1024, 2 << 20] {
        let err = SessionLayer::<Small>::new(key(1))
            .with_max_size(bytes)
            .unwrap_err();
        assert!(matches!(err, ConfigError::NoStore(_)), "{bytes}: {err}");
    }
    let server = || SessionLayer::<Stored>::with_store(key(1), MemoryStore::default());
    assert!(matches!(
        server().with_max_size(0),
        Err(ConfigError::MaxSize(0))
    ));
    assert!(server().with_max_size(1 << 20).is_ok());
    // the refresh interval against the lifetime and the absolute timeout:
    // its own error, not a range error
    let err = SessionLayer::<Small>::new(key(1))
        .with_refresh_after(Duration::from_secs(4 * DAY))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::RefreshInterval { limit, .. } if limit == "half the lifetime"),
        "{err}"
    );
    assert!(
        err.to_string().contains("4 days") || err.to_string().contains("345600s"),
        "{err}"
    );
    let err = SessionLayer::<Small>::new(key(1))
        .with_refresh_after(Duration::from_secs(2 * DAY))
        .unwrap()
        .with_absolute_timeout(Duration::from_secs(DAY))
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::RefreshInterval { limit, .. } if limit == "the absolute timeout"),
        "{err}"
    );
    assert!(matches!(
        SessionLayer::<Small>::new(key(1)).with_refresh_after(Duration::ZERO),
        Err(ConfigError::Duration { .. })
    ));
}
