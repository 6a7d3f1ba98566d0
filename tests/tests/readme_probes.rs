//! Lifecycle probes written from outside: by a reviewer who had read the
//! README and the public docs, not the code, and not the generated
//! sequences of `lifecycle.rs`. Each asserts a README promise, quoted in
//! its message. Three failed when written and were fixed: one session
//! type's log out everywhere ended another type's sessions on their next
//! `cycle_id` (p48), a session's own lifetime shorter than the refresh
//! interval expired while in use (p42), and a refresh interval equal to the
//! lifetime was accepted and did the same (p49).
#![allow(clippy::too_many_lines, clippy::unwrap_used, missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::routing::{get, post};
use session_runtime::{KeyRing, MemoryStore, Session, SessionLayer};
use sessionkit_tests::{TestClock, stores};
use sessionkit_tests::{key, key_from};
use std::time::Duration;
use tower::ServiceExt as _;

const M: u64 = 60;
const H: u64 = 3600;
const D: u64 = 86_400;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------- types

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "ck")]
struct Ck {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
}

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "sv", storage = "server")]
struct Sv {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
}

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "ad")]
struct Ad {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
    text: String,
}

// a deploy: V1 as the last release had it, V2 names it
#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "dep")]
struct DepV1 {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
}

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "dep", previous = DepV1)]
struct DepV2 {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
    extra: u32,
}

impl From<DepV1> for DepV2 {
    fn from(old: DepV1) -> Self {
        Self {
            user: old.user,
            n: old.n,
            m: old.m,
            extra: 0,
        }
    }
}

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "deps", storage = "server")]
struct DepSV1 {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
}

#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "deps", storage = "server", previous = DepSV1)]
struct DepSV2 {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
    extra: u32,
}

impl From<DepSV1> for DepSV2 {
    fn from(old: DepSV1) -> Self {
        Self {
            user: old.user,
            n: old.n,
            m: old.m,
            extra: 0,
        }
    }
}

// ---------------------------------------------------------------- routes

macro_rules! app_for {
    ($T:ty) => {{
        fn desc(s: &Session<$T>) -> String {
            format!("|user={:?}|n={}|m={}|new={}|", s.user(), s.n(), s.m(), s.is_new())
        }
        Router::new()
            .route("/plain", get(|| async { "plain" }))
            .route(
                "/plain500",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route("/read", get(|s: Session<$T>| async move { desc(&s) }))
            .route(
                "/read_public",
                get(|s: Session<$T>| async move {
                    (
                        [
                            (header::CACHE_CONTROL, "public, max-age=60"),
                            (header::VARY, "accept-encoding"),
                        ],
                        desc(&s),
                    )
                }),
            )
            .route(
                "/read_nostore",
                get(|s: Session<$T>| async move { ([(header::CACHE_CONTROL, "no-store")], desc(&s)) }),
            )
            .route(
                "/opt",
                get(|s: Option<Session<$T>>| async move {
                    match s {
                        Some(s) => desc(&s),
                        None => "none".to_owned(),
                    }
                }),
            )
            .route(
                "/n",
                post(|mut s: Session<$T>| async move {
                    *s.n_mut() += 1;
                    desc(&s)
                }),
            )
            .route(
                "/m",
                post(|mut s: Session<$T>| async move {
                    *s.m_mut() += 1;
                    desc(&s)
                }),
            )
            .route(
                "/login/{u}",
                post(|mut s: Session<$T>, Path(u): Path<u64>| async move {
                    s.set_user(Some(u));
                    desc(&s)
                }),
            )
            .route(
                "/restart/{u}",
                post(|mut s: Session<$T>, Path(u): Path<u64>| async move {
                    let old = s.restart();
                    s.set_user(Some(u));
                    if old.user.is_none() {
                        s.set_n(old.n);
                    }
                    desc(&s)
                }),
            )
            .route(
                "/cycle",
                post(|mut s: Session<$T>| async move {
                    s.cycle_id();
                    desc(&s)
                }),
            )
            .route(
                "/logout",
                post(|mut s: Session<$T>| async move {
                    s.terminate();
                    "bye"
                }),
            )
            .route(
                "/remember/{secs}",
                post(|mut s: Session<$T>, Path(x): Path<u64>| async move {
                    s.browser_session();
                    s.set_lifetime(Duration::from_secs(x));
                    desc(&s)
                }),
            )
            .route(
                "/remember_rev/{secs}",
                post(|mut s: Session<$T>, Path(x): Path<u64>| async move {
                    s.set_lifetime(Duration::from_secs(x));
                    s.browser_session();
                    desc(&s)
                }),
            )
            .route(
                "/lifetime/{secs}",
                post(|mut s: Session<$T>, Path(x): Path<u64>| async move {
                    s.set_lifetime(Duration::from_secs(x));
                    desc(&s)
                }),
            )
            .route(
                "/logout_then_set",
                post(|mut s: Session<$T>| async move {
                    s.terminate();
                    s.set_n(5);
                    desc(&s)
                }),
            )
            .route(
                "/restart_only",
                post(|mut s: Session<$T>| async move {
                    let _ = s.restart();
                    desc(&s)
                }),
            )
            .route(
                "/anon",
                post(|mut s: Session<$T>| async move {
                    s.set_user(None);
                    desc(&s)
                }),
            )
            .route(
                "/browser",
                post(|mut s: Session<$T>| async move {
                    s.browser_session();
                    desc(&s)
                }),
            )
            .route(
                "/revoke/{keep}",
                post(|mut s: Session<$T>, Path(keep): Path<bool>| async move {
                    match s.revoke_user_sessions(keep).await {
                        Ok(n) => (StatusCode::OK, format!("ended={n}")),
                        Err(e) => (StatusCode::CONFLICT, format!("err={e:?}")),
                    }
                }),
            )
            .route(
                "/revoke_dbg/{keep}",
                post(|mut s: Session<$T>, Path(keep): Path<bool>| async move {
                    let before = desc(&s);
                    match s.revoke_user_sessions(keep).await {
                        Ok(n) => (StatusCode::OK, format!("before={before} ended={n}")),
                        Err(e) => (StatusCode::CONFLICT, format!("before={before} err={e:?}")),
                    }
                }),
            )
            .route(
                "/devices",
                get(|s: Session<$T>| async move {
                    match s.user_sessions().await {
                        Ok(v) => v
                            .iter()
                            .map(|d| format!("{}:{}", d.tag, d.current))
                            .collect::<Vec<_>>()
                            .join(","),
                        Err(e) => format!("err={e:?}"),
                    }
                }),
            )
            .route(
                "/revoke_device/{tag}",
                post(|s: Session<$T>, Path(tag): Path<String>| async move {
                    format!("{:?}", s.revoke_device(&tag).await)
                }),
            )
            .route(
                "/fail",
                post(|mut s: Session<$T>| async move {
                    *s.n_mut() += 1;
                    (StatusCode::INTERNAL_SERVER_ERROR, desc(&s))
                }),
            )
            .route(
                "/fail_logout",
                post(|mut s: Session<$T>| async move {
                    s.terminate();
                    (StatusCode::INTERNAL_SERVER_ERROR, "x")
                }),
            )
            .route(
                "/fail_login/{u}",
                post(|mut s: Session<$T>, Path(u): Path<u64>| async move {
                    s.set_user(Some(u));
                    (StatusCode::INTERNAL_SERVER_ERROR, "x")
                }),
            )
            .route(
                "/fail_cycle",
                post(|mut s: Session<$T>| async move {
                    s.cycle_id();
                    (StatusCode::INTERNAL_SERVER_ERROR, "x")
                }),
            )
    }};
}

fn ad_app() -> Router<()> {
    app_for!(Ad)
        .route(
            "/text/{len}",
            post(|mut s: Session<Ad>, Path(len): Path<usize>| async move {
                s.set_text("x".repeat(len));
                format!("|len={}|", s.text().len())
            }),
        )
        .route(
            "/textlen",
            get(|s: Session<Ad>| async move { format!("|len={}|new={}|", s.text().len(), s.is_new()) }),
        )
}

/// A cookie app, a server app (MemoryStore) and an Adaptive app (small:
/// in its cookie), each configured by the same expression.
macro_rules! apps {
    ($clock:expr, |$l:ident| $cfg:expr) => {{
        let c: TestClock = $clock.clone();
        vec![
            ("cookie", "__Host-ck", {
                let $l = SessionLayer::<Ck>::new(key()).with_clock(c.clone());
                app_for!(Ck).layer($cfg)
            }),
            ("server", "__Host-sv", {
                let $l = SessionLayer::<Sv>::with_store(key(), MemoryStore::default())
                    .with_clock(c.clone());
                app_for!(Sv).layer($cfg)
            }),
            ("adaptive", "__Host-ad", {
                let $l = SessionLayer::<Ad>::with_store(key(), MemoryStore::default())
                    .with_clock(c.clone());
                ad_app().layer($cfg)
            }),
        ]
    }};
}

// ---------------------------------------------------------------- a browser

#[derive(Debug, Clone)]
struct SetCookie {
    raw: String,
    value: String,
    max_age: Option<i64>,
}

#[derive(Debug, Clone)]
struct Resp {
    status: StatusCode,
    body: String,
    headers: HeaderMap,
    cookie: Option<SetCookie>,
    set_cookie_count: usize,
}

impl Resp {
    fn cc(&self) -> String {
        self.headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn vary(&self) -> Vec<String> {
        self.headers
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect()
    }
    fn max_age(&self) -> Option<i64> {
        self.cookie.as_ref().and_then(|c| c.max_age)
    }
    fn sets(&self) -> bool {
        self.cookie
            .as_ref()
            .is_some_and(|c| c.max_age != Some(0) && !c.value.is_empty())
    }
    fn clears(&self) -> bool {
        self.cookie.as_ref().is_some_and(|c| c.max_age == Some(0))
    }
    fn hdr(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

fn parse_set_cookie(raw: &str) -> (String, SetCookie) {
    let mut parts = raw.split(';');
    let nv = parts.next().unwrap().trim();
    let (name, value) = nv.split_once('=').unwrap();
    let mut max_age = None;
    for a in parts {
        let a = a.trim();
        if let Some(v) = a.strip_prefix("Max-Age=") {
            max_age = Some(v.parse().unwrap());
        }
    }
    (
        name.to_owned(),
        SetCookie {
            raw: raw.to_owned(),
            value: value.to_owned(),
            max_age,
        },
    )
}

#[derive(Debug, Clone)]
struct Browser {
    name: String,
    jar: Option<String>,
    /// A header client: the header's name and its token ("" before the first).
    header: Option<(String, String)>,
    /// A header client that also keeps cookies (for the mixed probes).
    extra_cookie: bool,
}

impl Browser {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            jar: None,
            header: None,
            extra_cookie: false,
        }
    }
    fn header_client(name: &str, hname: &str) -> Self {
        Self {
            name: name.to_owned(),
            jar: None,
            header: Some((hname.to_owned(), String::new())),
            extra_cookie: false,
        }
    }
    async fn send(&mut self, app: &Router, method: &str, uri: &str) -> Resp {
        let mut headers = Vec::new();
        if let Some((h, t)) = &self.header {
            headers.push((h.as_str(), t.as_str()));
        }
        let cookie = self.jar.as_ref().map(|v| format!("{}={v}", self.name));
        if (self.header.is_none() || self.extra_cookie)
            && let Some(cookie) = &cookie
        {
            headers.push(("cookie", cookie.as_str()));
        }
        let resp = sessionkit_tests::http::request(app, method, uri, &headers).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        let mut cookie = None;
        let mut count = 0;
        for v in headers.get_all(header::SET_COOKIE) {
            count += 1;
            let (n, c) = parse_set_cookie(v.to_str().unwrap());
            if n == self.name {
                cookie = Some(c);
            }
        }
        if let Some(c) = &cookie {
            if c.max_age == Some(0) {
                self.jar = None;
            } else {
                self.jar = Some(c.value.clone());
            }
        }
        if let Some((h, t)) = &mut self.header
            && let Some(v) = headers.get(h.as_str())
        {
            *t = v.to_str().unwrap().to_owned();
        }
        Resp {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            headers,
            cookie,
            set_cookie_count: count,
        }
    }
}

fn alive(r: &Resp) -> bool {
    r.status == StatusCode::OK && r.body.contains("|new=false|")
}

// ================================================================ probes

/// Idle lifetime, refreshed at most every quarter of it.
#[tokio::test]
async fn p01_idle_lifetime_and_quarter_refresh() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_lifetime(secs(4 * H)).unwrap()) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", "/n").await;
        assert!(
            r.sets(),
            "{kind}: changed: one Set-Cookie after the handler"
        );
        assert_eq!(
            r.max_age(),
            Some(4 * H as i64),
            "{kind}: Max-Age is the lifetime"
        );
        clock.advance(secs(59 * M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(alive(&r), "{kind}");
        assert!(
            r.cookie.is_none(),
            "{kind}: 'refreshed at most every quarter of it': a read before a quarter writes nothing, got {:?}",
            r.cookie
        );
        clock.advance(secs(2 * M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(alive(&r), "{kind}");
        assert!(
            r.sets(),
            "{kind}: 'lifetime: idle timeout, refreshed at most every quarter of it': a read past a quarter re-issues"
        );
        assert_eq!(
            r.max_age(),
            Some(4 * H as i64),
            "{kind}: refreshed Max-Age is the lifetime"
        );
        assert!(
            r.cc().contains("no-store"),
            "{kind}: a response that sets the token gets no-store, got {}",
            r.cc()
        );
        // now 61 min; original expiry was at 4h; refreshed expiry at 5h01
        clock.advance(secs(3 * H + 50 * M)); // 4h51
        let r = b.send(&app, "GET", "/read").await;
        assert!(alive(&r), "{kind}: the refresh slid the idle expiry");
        clock.advance(secs(4 * H + M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: idle for more than the lifetime: 'bad cookie (expired) -> a fresh session', got {}",
            r.body
        );
        assert!(
            r.clears(),
            "{kind}: 'a response that extracted the session clears it (Max-Age=0)', got {:?}",
            r.cookie
        );
    }
}

/// Default absolute timeout: 30 days from the login, however active.
#[tokio::test]
async fn p02_default_absolute_timeout() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        let start = clock.secs();
        while clock.secs() - start < 29 * D {
            clock.advance(secs(D));
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r),
                "{kind}: active session before its 30 days, day {}",
                (clock.secs() - start) / D
            );
        }
        clock.advance(secs(D + H));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: 'absolute timeout (default 30 days) ... a hard cap from the login, however active the session', got {}",
            r.body
        );
    }
}

/// with_absolute_timeout, and cycle_id / a login restart it.
#[tokio::test]
async fn p03_with_absolute_timeout_and_restarts() {
    for op in ["none", "/cycle", "/login/2", "/restart/3"] {
        let clock = TestClock::new();
        for (kind, name, app) in apps!(clock, |l| l
            .with_lifetime(secs(D))
            .unwrap()
            .with_absolute_timeout(secs(2 * D))
            .unwrap())
        {
            let mut b = Browser::new(name);
            b.send(&app, "POST", "/login/1").await;
            let start = clock.secs();
            let mut done = false;
            let mut restarted_at = start;
            loop {
                clock.advance(secs(6 * H));
                let t = clock.secs() - start;
                if !done && op != "none" && t >= 36 * H {
                    let r = b.send(&app, "POST", op).await;
                    assert!(r.sets(), "{kind} {op}: a new identity is a new token");
                    restarted_at = clock.secs();
                    done = true;
                    continue;
                }
                let r = b.send(&app, "GET", "/read").await;
                let age = clock.secs() - restarted_at;
                if age < 2 * D {
                    assert!(
                        alive(&r),
                        "{kind} {op}: {age}s after the login, within the 2-day absolute timeout, got {}",
                        r.body
                    );
                } else {
                    assert!(
                        r.body.contains("|new=true|"),
                        "{kind} {op}: 'a hard cap from the login (creation, cycle_id, a change of user)': {age}s after it, got {}",
                        r.body
                    );
                    break;
                }
            }
        }
    }
}

/// without_absolute_timeout: lives while active, up to the 400-day cap.
#[tokio::test]
async fn p04_without_absolute_timeout() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.without_absolute_timeout()) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        let start = clock.secs();
        while clock.secs() - start < 399 * D {
            clock.advance(secs(3 * D));
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r),
                "{kind}: 'without_absolute_timeout() lifts it (up to the 400-day cap)': day {}",
                (clock.secs() - start) / D
            );
        }
        clock.advance(secs(3 * D));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: past the 400-day cap, day {}: {}",
            (clock.secs() - start) / D,
            r.body
        );
    }
}

/// Remember me: set_lifetime after browser_session brings Max-Age back; the later call wins.
#[tokio::test]
async fn p05_remember_me_max_age_and_order() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_browser_session(true)) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", "/login/1").await;
        assert!(
            r.sets() && r.max_age().is_none(),
            "{kind}: 'with_browser_session(true): every new session's cookie is a browser-session cookie', got {:?}",
            r.cookie
        );
        let r = b.send(&app, "POST", &format!("/remember/{}", 30 * D)).await;
        assert_eq!(
            r.max_age(),
            Some(30 * D as i64),
            "{kind}: 'set_lifetime(d) after browser_session(): Max-Age comes back', got {:?}",
            r.cookie
        );
        let r = b
            .send(&app, "POST", &format!("/remember_rev/{}", 30 * D))
            .await;
        assert!(
            r.sets() && r.max_age().is_none(),
            "{kind}: 'the later call in a request wins' (browser_session last), got {:?}",
            r.cookie
        );
        let r = b
            .send(&app, "POST", &format!("/remember/{}", 1000 * D))
            .await;
        assert_eq!(
            r.max_age(),
            Some(400 * D as i64),
            "{kind}: 'clamped to 400 days', got {:?}",
            r.cookie
        );
    }
}

/// A remembered session keeps its own lifetime and Max-Age through writes and refreshes;
/// it outlives the layer's lifetime, and its absolute timeout follows its own lifetime when longer.
#[tokio::test]
async fn p06_remember_me_survives_refresh_and_writes() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_browser_session(true)) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        let r = b.send(&app, "POST", &format!("/remember/{}", 60 * D)).await;
        assert_eq!(r.max_age(), Some(60 * D as i64), "{kind}");
        let start = clock.secs();
        // idle for 10 days: more than the layer's 7
        clock.advance(secs(10 * D));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: 'set_lifetime(d): per-session lifetime': 10 days idle on a 60-day remembered session, got {}",
            r.body
        );
        if let Some(c) = &r.cookie {
            assert_eq!(
                c.max_age,
                Some(50 * D as i64),
                "{kind}: a refresh of a remembered session keeps its Max-Age: {}",
                c.raw
            );
        }
        let r = b.send(&app, "POST", "/n").await;
        let cap = (start + 60 * D - clock.secs()) as i64;
        assert!(
            r.cookie.is_none() || r.max_age() == Some(cap.min(60 * D as i64)),
            "{kind}: a write keeps the remembered Max-Age (own lifetime, capped by what the absolute timeout leaves), got {:?}",
            r.cookie
        );
        // keep active to day 55: past the default 30-day absolute timeout
        while clock.secs() - start < 55 * D {
            clock.advance(secs(5 * D));
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r),
                "{kind}: 'absolute timeout (default 30 days, or the session's own lifetime when longer)': day {}, got {}",
                (clock.secs() - start) / D,
                r.body
            );
            if let Some(c) = &r.cookie {
                let cap = (start + 60 * D - clock.secs()) as i64;
                assert_eq!(
                    c.max_age,
                    Some(cap.min(60 * D as i64)),
                    "{kind}: refreshed remembered cookie keeps Max-Age (capped by the absolute timeout): {}",
                    c.raw
                );
            }
        }
        clock.advance(secs(6 * D));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: past its own 60-day lifetime from the login: {}",
            r.body
        );
    }
}

/// A browser-session cookie stays one through refreshes, writes, cycle_id and a login.
#[tokio::test]
async fn p07_browser_session_stays_without_max_age() {
    for layer_default in [true, false] {
        let clock = TestClock::new();
        for (kind, name, app) in apps!(clock, |l| l.with_browser_session(layer_default)) {
            let mut b = Browser::new(name);
            b.send(&app, "POST", "/n").await;
            if !layer_default {
                let r = b.send(&app, "POST", "/browser").await;
                assert!(
                    r.sets() && r.max_age().is_none(),
                    "{kind}: 'browser_session(): no Max-Age', got {:?}",
                    r.cookie
                );
            }
            clock.advance(secs(2 * D)); // past a quarter of 7 days
            let r = b.send(&app, "GET", "/read").await;
            assert!(r.sets(), "{kind}/{layer_default}: refresh due");
            assert_eq!(
                r.max_age(),
                None,
                "{kind}/{layer_default}: a refreshed browser-session cookie must stay a browser-session cookie: {:?}",
                r.cookie
            );
            let r = b.send(&app, "POST", "/n").await;
            assert_eq!(
                r.max_age(),
                None,
                "{kind}/{layer_default}: a write keeps it a browser-session cookie: {:?}",
                r.cookie
            );
            let r = b.send(&app, "POST", "/cycle").await;
            assert!(r.sets(), "{kind}");
            assert_eq!(
                r.max_age(),
                None,
                "{kind}/{layer_default}: cycle_id keeps it a browser-session cookie: {:?}",
                r.cookie
            );
            let r = b.send(&app, "POST", "/login/5").await;
            assert!(r.sets(), "{kind}");
            assert_eq!(
                r.max_age(),
                None,
                "{kind}/{layer_default}: a login keeps it a browser-session cookie: {:?}",
                r.cookie
            );
        }
    }
}

/// cycle_id, login and restart() on every type: new identity, data kept (or not), old copies.
#[tokio::test]
async fn p08_cycle_login_restart_identity() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        for op in ["/cycle", "/login/7", "/restart/7"] {
            let mut b = Browser::new(name);
            b.send(&app, "POST", "/n").await;
            b.send(&app, "POST", "/n").await;
            let before = b.clone();
            clock.advance(secs(1));
            let r = b.send(&app, "POST", op).await;
            assert!(r.sets(), "{kind} {op}: a new identity");
            assert_ne!(b.jar, before.jar, "{kind} {op}: new token");
            assert!(
                r.cc().contains("no-store"),
                "{kind} {op}: token set -> no-store"
            );
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r) && r.body.contains("|n=2|"),
                "{kind} {op}: same data (an anonymous cart carries over), got {}",
                r.body
            );
            let mut old = before.clone();
            let r = old.send(&app, "GET", "/read").await;
            if kind == "server" {
                assert!(
                    r.body.contains("|new=true|"),
                    "{kind} {op}: 'a new ID server-side' / 'cycle_id: the old row is deleted': a copy of the old cookie is dead, got {}",
                    r.body
                );
            }
        }
        // restart from one user to another: nothing of the previous user's survives
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        b.send(&app, "POST", "/n").await;
        let r = b.send(&app, "POST", "/restart/2").await;
        assert!(
            r.body.contains("|n=0|") && r.body.contains("Some(2)"),
            "{kind}: restart to another user: {}",
            r.body
        );
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=0|") && r.body.contains("Some(2)"),
            "{kind}: {}",
            r.body
        );
    }
}

/// terminate(): expired with the same name, path, domain and flags; server copies die.
#[tokio::test]
async fn p09_terminate() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", "/login/1").await;
        let set = r.cookie.unwrap().raw;
        let copy = b.clone();
        let r = b.send(&app, "POST", "/logout").await;
        assert!(r.clears(), "{kind}: terminate expires the cookie");
        let raw = r.cookie.as_ref().unwrap().raw.clone();
        for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert_eq!(
                set.contains(attr),
                raw.contains(attr),
                "{kind}: 'cookie expired with the same name, path, domain and flags': {attr} in {set} vs {raw}"
            );
        }
        assert!(
            r.cc().contains("no-store"),
            "{kind}: clearing -> no-store, got {}",
            r.cc()
        );
        let r = b.send(&app, "GET", "/read").await;
        assert!(r.body.contains("|new=true|"), "{kind}");
        let mut copy = copy;
        let r = copy.send(&app, "GET", "/read").await;
        if kind == "server" {
            assert!(
                r.body.contains("|new=true|"),
                "{kind}: 'the record is deleted: every copy of its ID stops working at once': {}",
                r.body
            );
        } else {
            assert!(
                alive(&r),
                "{kind}: README: 'a copy of it stays valid' (documented limit): {}",
                r.body
            );
        }
    }
}

/// with_always_save(true): routes that do not extract still re-issue and slide; nothing new created;
/// the absolute timeout still holds.
#[tokio::test]
async fn p10_always_save_on_plain_routes() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l
        .with_always_save(true)
        .with_lifetime(secs(4 * H))
        .unwrap()
        .with_absolute_timeout(secs(2 * D))
        .unwrap())
    {
        let mut nobody = Browser::new(name);
        let r = nobody.send(&app, "GET", "/plain").await;
        assert!(
            r.cookie.is_none(),
            "{kind}: 'never set: no cookie, no write' even with always_save"
        );
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        let start = clock.secs();
        for i in 0..14 {
            clock.advance(secs(3 * H));
            let r = b.send(&app, "GET", "/plain").await;
            assert!(
                r.sets(),
                "{kind}: 'with_always_save(true): re-issue on every request ... even on routes that never extract the session' (step {i})"
            );
            assert!(
                r.cc().contains("no-store"),
                "{kind}: token set -> no-store, got {}",
                r.cc()
            );
        }
        // 42 hours of /plain only
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: 'sliding the expiry on every tier': 42h on /plain with a 4h lifetime, got {}",
            r.body
        );
        let r = b.send(&app, "GET", "/plain500").await;
        assert!(
            r.cookie.is_none(),
            "{kind}: '5xx response: nothing written'"
        );
        while clock.secs() - start < 2 * D + 3 * H {
            clock.advance(secs(3 * H));
            b.send(&app, "GET", "/plain").await;
        }
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: absolute timeout holds under always_save: {}",
            r.body
        );
    }
}

/// always_save must not resurrect a terminated server session from a copy on /plain.
#[tokio::test]
async fn p11_always_save_no_resurrection() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_always_save(true)) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        let mut copy = b.clone();
        b.send(&app, "POST", "/logout").await;
        let r = copy.send(&app, "GET", "/plain").await;
        if kind == "server" {
            assert!(
                !r.sets(),
                "{kind}: 'no resurrection': a copy of a terminated session must not be re-issued on /plain: {:?}",
                r.cookie
            );
            let r = copy.send(&app, "GET", "/read").await;
            assert!(r.body.contains("|new=true|"), "{kind}: {}", r.body);
        }
    }
}

/// Key rotation: KeyRing::new(new).with_previous(old), then retire old.
#[tokio::test]
async fn p12_key_rotation() {
    let dir = std::env::temp_dir();
    for kind in ["cookie", "server"] {
        let clock = TestClock::new();
        let path = dir.join(format!("outsider-rot-{}-{kind}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mk = |keys: KeyRing| -> (Router, &'static str) {
            match kind {
                "cookie" => (
                    app_for!(Ck).layer(SessionLayer::<Ck>::new(keys).with_clock(clock.clone())),
                    "__Host-ck",
                ),
                _ => unreachable!(),
            }
        };
        let (a_old, a_ring, a_new, name) = if kind == "cookie" {
            let (a, n) = mk(KeyRing::new(key()));
            let (b, _) = mk(KeyRing::new(key_from(8)).with_previous(key()));
            let (c, _) = mk(KeyRing::new(key_from(8)));
            (a, b, c, n)
        } else {
            let s1 = stores::sqlite_at(&path).await;
            let s2 = stores::sqlite_at(&path).await;
            let s3 = stores::sqlite_at(&path).await;
            (
                app_for!(Sv)
                    .layer(SessionLayer::<Sv>::with_store(key(), s1).with_clock(clock.clone())),
                app_for!(Sv).layer(
                    SessionLayer::<Sv>::with_store(
                        KeyRing::new(key_from(8)).with_previous(key()),
                        s2,
                    )
                    .with_clock(clock.clone()),
                ),
                app_for!(Sv).layer(
                    SessionLayer::<Sv>::with_store(key_from(8), s3).with_clock(clock.clone()),
                ),
                "__Host-sv",
            )
        };
        // a session written under the old key, then written under the ring
        let mut b = Browser::new(name);
        b.send(&a_old, "POST", "/login/1").await;
        b.send(&a_old, "POST", "/n").await;
        let r = b.send(&a_ring, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=1|"),
            "{kind}: 'A KeyRing verifies with old keys': {}",
            r.body
        );
        let r = b.send(&a_ring, "POST", "/n").await;
        assert!(r.status == StatusCode::OK, "{kind}");
        if kind == "cookie" {
            assert!(r.sets(), "{kind}: a write re-seals");
        }
        let r = b.send(&a_new, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=2|"),
            "{kind}: 'A cookie sealed with an old key ... is re-sealed with the newest one the next time it is written' / 'a server-side write sends no Set-Cookie unless the token changes (..., a key rotation)': after a write under the ring, retiring the old key must keep the session, got {}",
            r.body
        );

        // a session only refreshed (refresh due) under the ring, then old key retired
        let mut b = Browser::new(name);
        b.send(&a_old, "POST", "/login/2").await;
        clock.advance(secs(2 * D));
        let r = b.send(&a_ring, "GET", "/read").await;
        assert!(
            alive(&r) && r.sets(),
            "{kind}: refresh due under the ring: {:?}",
            r.cookie
        );
        let r = b.send(&a_new, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: a refresh re-seals with the newest key ('re-sealed ... the next time it is written'), so retiring the old key keeps it: {}",
            r.body
        );
        // a session never touched after rotation is gone once the old key retires (documented)
        let mut c = Browser::new(name);
        c.send(&a_old, "POST", "/n").await;
        let r = c.send(&a_new, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: wrong key -> a fresh session"
        );
        assert!(r.clears(), "{kind}: and the bad cookie is cleared");
    }
}

async fn revoke_everywhere(
    kind: &str,
    name: &str,
    a: Router,
    bapp: Router,
    clock: &TestClock,
    base: u64,
) {
    // b1, b2 on process A; b3 on process B; all user 1; b4 user 2 on B
    let mut b1 = Browser::new(name);
    let mut b2 = Browser::new(name);
    let mut b3 = Browser::new(name);
    let mut b4 = Browser::new(name);
    b1.send(&a, "POST", &format!("/login/{}", base + 1)).await;
    b2.send(&a, "POST", &format!("/login/{}", base + 1)).await;
    b3.send(&bapp, "POST", &format!("/login/{}", base + 1))
        .await;
    b4.send(&bapp, "POST", &format!("/login/{}", base + 2))
        .await;
    clock.advance(secs(10));
    let copy1 = b1.clone();
    let r = b1.send(&a, "POST", "/revoke/false").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{kind}: revoke_user_sessions(false): {}",
        r.body
    );
    assert!(
        r.clears(),
        "{kind}: 'otherwise it is terminated too (the response expires its cookie)': {:?}",
        r.cookie
    );
    for (who, mut br, app) in [
        ("b1 copy", copy1, &a),
        ("b2", b2.clone(), &a),
        ("b3 (other process)", b3.clone(), &bapp),
    ] {
        let r = br.send(app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: 'log out everywhere: every session of the user ... in every browser': {who}: {}",
            r.body
        );
    }
    let r = b4.send(&bapp, "GET", "/read").await;
    assert!(
        alive(&r),
        "{kind}: another user's session survives: {}",
        r.body
    );
    // log in again right after: 'no legitimate session is refused'
    clock.advance(secs(30));
    let r = b1.send(&a, "POST", &format!("/login/{}", base + 1)).await;
    assert!(r.sets(), "{kind}");
    for step in [1, 60, 10 * M, H] {
        clock.advance(secs(step));
        let r = b1.send(&bapp, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: 'logins after it are issued after it, so no legitimate session is refused': +{step}s: {}",
            r.body
        );
    }

    // keep this one
    clock.advance(secs(H));
    let mut c1 = Browser::new(name);
    let mut c2 = Browser::new(name);
    c1.send(&a, "POST", &format!("/login/{}", base + 9)).await;
    c2.send(&bapp, "POST", &format!("/login/{}", base + 9))
        .await;
    clock.advance(secs(5));
    let copy = c1.clone();
    let r = c1.send(&a, "POST", "/revoke/true").await;
    assert_eq!(r.status, StatusCode::OK, "{kind}: {}", r.body);
    assert!(
        r.sets(),
        "{kind}: 'The session that asks to be kept takes a new ID': {:?}",
        r.cookie
    );
    let mut copy = copy;
    let r = copy.send(&a, "GET", "/read").await;
    assert!(
        r.body.contains("|new=true|"),
        "{kind}: 'so a copy of its cookie is one of the devices that end': {}",
        r.body
    );
    let r = c2.send(&bapp, "GET", "/read").await;
    assert!(
        r.body.contains("|new=true|"),
        "{kind}: other device ends: {}",
        r.body
    );
    for step in [1, 60, 10 * M] {
        clock.advance(secs(step));
        let r = c1.send(&bapp, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: the kept session survives (+{step}s): {}",
            r.body
        );
    }
}

#[tokio::test]
async fn p13_revoke_everywhere_two_processes() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    // server type, two layers over one SQLite file
    {
        let clock = TestClock::new();
        let path = dir.join(format!("outsider-rev-sv-{pid}.db"));
        let _ = std::fs::remove_file(&path);
        let a = app_for!(Sv).layer(
            SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                .with_clock(clock.clone()),
        );
        let b = app_for!(Sv).layer(
            SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                .with_clock(clock.clone()),
        );
        revoke_everywhere("server/sqlite", "__Host-sv", a, b, &clock, 0).await;
    }
    // cookie type, revocation store shared
    {
        let clock = TestClock::new();
        let path = dir.join(format!("outsider-rev-ck-{pid}.db"));
        let _ = std::fs::remove_file(&path);
        let a = app_for!(Ck).layer(
            SessionLayer::<Ck>::new(key())
                .with_user_revocation(stores::sqlite_at(&path).await)
                .with_clock(clock.clone()),
        );
        let b = app_for!(Ck).layer(
            SessionLayer::<Ck>::new(key())
                .with_user_revocation(stores::sqlite_at(&path).await)
                .with_clock(clock.clone()),
        );
        revoke_everywhere("cookie/revocation", "__Host-ck", a, b, &clock, 0).await;
    }
    // adaptive (small, in cookies), the layer's own store as the revocation store
    {
        let clock = TestClock::new();
        let path = dir.join(format!("outsider-rev-ad-{pid}.db"));
        let _ = std::fs::remove_file(&path);
        let s1 = stores::sqlite_at(&path).await;
        let s2 = stores::sqlite_at(&path).await;
        let a = ad_app().layer(
            SessionLayer::<Ad>::with_store(key(), s1.clone())
                .with_user_revocation(s1)
                .with_clock(clock.clone()),
        );
        let b = ad_app().layer(
            SessionLayer::<Ad>::with_store(key(), s2.clone())
                .with_user_revocation(s2)
                .with_clock(clock.clone()),
        );
        revoke_everywhere("adaptive/revocation", "__Host-ad", a, b, &clock, 0).await;
    }
    // server type over Redis + Postgres (two processes), when configured
    if let (Some(c1), Some(d1)) = (
        stores::redis().await,
        stores::postgres("outsider_rev").await,
    ) {
        let (c2, d2) = (
            stores::redis().await.unwrap(),
            stores::postgres("outsider_rev").await.unwrap(),
        );
        let clock = TestClock::new();
        let a = app_for!(Sv).layer(
            SessionLayer::<Sv>::with_store(key(), session_runtime::Tiered::new(c1, d1))
                .with_clock(clock.clone()),
        );
        let b = app_for!(Sv).layer(
            SessionLayer::<Sv>::with_store(key(), session_runtime::Tiered::new(c2, d2))
                .with_clock(clock.clone()),
        );
        revoke_everywhere(
            "server/redis+pg",
            "__Host-sv",
            a,
            b,
            &clock,
            u64::from(std::process::id()) * 1000 + 1_000_000,
        )
        .await;
    }
}

/// Cookie layer without a revocation store: Unsupported, nothing changed.
#[tokio::test]
async fn p14_revoke_unsupported_changes_nothing() {
    let clock = TestClock::new();
    let apps = apps!(clock, |l| l);
    for (kind, name, app) in apps.into_iter().filter(|a| a.0 != "server") {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        for keep in [false, true] {
            let r = b.send(&app, "POST", &format!("/revoke/{keep}")).await;
            assert!(
                r.body.contains("Unsupported"),
                "{kind}: 'without it, a layer whose sessions may live in cookies answers Unsupported': {}",
                r.body
            );
            assert!(
                r.cookie.is_none(),
                "{kind}: '... and changes nothing': {:?}",
                r.cookie
            );
            let r = b.send(&app, "GET", "/read").await;
            assert!(alive(&r), "{kind}: {}", r.body);
        }
    }
}

/// revoke_device(tag) across two processes.
#[tokio::test]
async fn p15_revoke_device() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-dev-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let a = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
            .with_clock(clock.clone()),
    );
    let bapp = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
            .with_clock(clock.clone()),
    );
    let name = "__Host-sv";
    let mut b1 = Browser::new(name);
    let mut b2 = Browser::new(name);
    let mut b3 = Browser::new(name);
    let mut other = Browser::new(name);
    b1.send(&a, "POST", "/login/1").await;
    b2.send(&a, "POST", "/login/1").await;
    b3.send(&bapp, "POST", "/login/1").await;
    other.send(&bapp, "POST", "/login/2").await;
    let list = b1.send(&a, "GET", "/devices").await.body;
    assert_eq!(
        list.split(',').count(),
        3,
        "user_sessions lists the user's 3 sessions: {list}"
    );
    assert_eq!(
        list.matches(":true").count(),
        1,
        "exactly one current: {list}"
    );
    let mine = |l: &str| {
        l.split(',')
            .find(|d| d.ends_with(":true"))
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };
    let tag3 = mine(&b3.send(&bapp, "GET", "/devices").await.body);
    let tag_other = mine(&other.send(&bapp, "GET", "/devices").await.body);
    let r = b1
        .send(&a, "POST", &format!("/revoke_device/{tag_other}"))
        .await;
    assert!(
        r.body.contains("false"),
        "another user's tag: 'false when no session of the user has that tag': {}",
        r.body
    );
    assert!(
        alive(&other.send(&bapp, "GET", "/read").await),
        "another user's session survives"
    );
    let r = b1.send(&a, "POST", &format!("/revoke_device/{tag3}")).await;
    assert!(
        r.body.contains("true"),
        "revoke_device(tag) ends one session: {}",
        r.body
    );
    let r = b3.send(&bapp, "GET", "/read").await;
    assert!(
        r.body.contains("|new=true|"),
        "the revoked device (other process) has no session: {}",
        r.body
    );
    assert!(alive(&b1.send(&a, "GET", "/read").await), "b1 survives");
    assert!(alive(&b2.send(&bapp, "GET", "/read").await), "b2 survives");
    let list = b1.send(&a, "GET", "/devices").await.body;
    assert_eq!(list.split(',').count(), 2, "{list}");
    let r = b1.send(&a, "POST", "/revoke_device/nosuchtg").await;
    assert!(r.body.contains("false"), "{}", r.body);
}

/// Concurrent pairs on one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p16_concurrent_pairs() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-cc-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut apps = apps!(clock, |l| l);
    let s = stores::sqlite_at(&path).await;
    apps.push((
        "server/sqlite",
        "__Host-sv",
        app_for!(Sv).layer(SessionLayer::<Sv>::with_store(key(), s).with_clock(clock.clone())),
    ));
    for (kind, name, app) in &apps {
        let server = kind.starts_with("server");
        for round in 0..10 {
            // different fields both survive
            let mut b = Browser::new(name);
            b.send(app, "POST", "/login/1").await;
            let (mut x, mut y) = (b.clone(), b.clone());
            let (_rx, _ry) = tokio::join!(x.send(app, "POST", "/n"), y.send(app, "POST", "/m"));
            if server {
                let r = b.send(app, "GET", "/read").await;
                assert!(
                    r.body.contains("|n=1|") && r.body.contains("|m=1|"),
                    "{kind} round {round}: 'changes to different fields both survive': {}",
                    r.body
                );
            }
            // terminate racing a write: the old ID never comes back
            let (mut x, mut y) = (b.clone(), b.clone());
            let (_rx, ry) = tokio::join!(x.send(app, "POST", "/logout"), y.send(app, "POST", "/n"));
            if server {
                let mut copy = b.clone();
                let r = copy.send(app, "GET", "/read").await;
                assert!(
                    r.body.contains("|new=true|"),
                    "{kind} round {round}: 'no resurrection: a save ... never brings back a session another request terminated': {} (write answered {:?})",
                    r.body,
                    ry.cookie
                );
                let r = y.send(app, "GET", "/read").await;
                assert!(
                    !alive(&r) || r.body.contains("|user=None|"),
                    "{kind} round {round}: the racing writer's jar does not hold the old user's session: {}",
                    r.body
                );
            }
            // cycle_id racing a write: the old ID must not stay valid
            let mut b = Browser::new(name);
            b.send(app, "POST", "/login/1").await;
            let (mut x, mut y) = (b.clone(), b.clone());
            let (rx, _ry) = tokio::join!(x.send(app, "POST", "/cycle"), y.send(app, "POST", "/n"));
            assert!(rx.sets(), "{kind}");
            if server {
                let mut copy = b.clone();
                let r = copy.send(app, "GET", "/read").await;
                assert!(
                    r.body.contains("|new=true|"),
                    "{kind} round {round}: 'cycle_id: new ID ... the old row is deleted first': the old ID after a racing write: {}",
                    r.body
                );
                let r = x.send(app, "GET", "/read").await;
                assert!(
                    alive(&r),
                    "{kind} round {round}: the cycled session lives: {}",
                    r.body
                );
            }
        }
    }
}

/// Two "log out other devices" (or one and a "log out everywhere") race: both end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p17_racing_revocations() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let mut failures = Vec::new();
    let mut raced = 0;
    for variant in ["server", "cookie"] {
        for (ka, kb) in [(true, true), (true, false)] {
            for round in 0..16 {
                let clock = TestClock::new();
                let path = dir.join(format!("outsider-race-{variant}-{ka}{kb}-{round}-{pid}.db"));
                let _ = std::fs::remove_file(&path);
                let (a, b, name) = if variant == "server" {
                    (
                        app_for!(Sv).layer(
                            SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                                .with_clock(clock.clone()),
                        ),
                        app_for!(Sv).layer(
                            SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                                .with_clock(clock.clone()),
                        ),
                        "__Host-sv",
                    )
                } else {
                    (
                        app_for!(Ck).layer(
                            SessionLayer::<Ck>::new(key())
                                .with_user_revocation(stores::sqlite_at(&path).await)
                                .with_clock(clock.clone()),
                        ),
                        app_for!(Ck).layer(
                            SessionLayer::<Ck>::new(key())
                                .with_user_revocation(stores::sqlite_at(&path).await)
                                .with_clock(clock.clone()),
                        ),
                        "__Host-ck",
                    )
                };
                let mut x = Browser::new(name);
                let mut y = Browser::new(name);
                x.send(&a, "POST", "/login/1").await;
                y.send(&b, "POST", "/login/1").await;
                clock.advance(secs(3));
                let ua = format!("/revoke_dbg/{ka}");
                let ub = format!("/revoke_dbg/{kb}");
                let (rx, ry) = tokio::join!(x.send(&a, "POST", &ua), y.send(&b, "POST", &ub));
                clock.advance(secs(1));
                let r1 = x.send(&a, "GET", "/read").await;
                let r2 = y.send(&b, "GET", "/read").await;
                let x_alive = alive(&r1) && !r1.body.contains("|user=None|");
                let y_alive = alive(&r2) && !r2.body.contains("|user=None|");
                // legit when the ended one was already refused at its load (no user in the handler)
                let x_loaded = rx.body.contains("before=|user=Some");
                let y_loaded = ry.body.contains("before=|user=Some");
                if x_loaded && y_loaded {
                    raced += 1;
                }
                if (x_alive && y_loaded) || (y_alive && x_loaded) {
                    failures.push(format!(
                        "{variant} keep={ka}/{kb} round {round}: x: {} {} set={} -> alive={x_alive}; y: {} {} set={} -> alive={y_alive}",
                        rx.status, rx.body, rx.sets(), ry.status, ry.body, ry.sets()
                    ));
                }
            }
        }
    }
    eprintln!("p17: {raced} of 64 races had both requests load the session");
    assert!(raced > 0, "the race never happened");
    assert!(
        failures.is_empty(),
        "'unless another revocation of the user (another device's log out everywhere ...) already covered it or comes before the response: then it ends too, so a stolen session cannot keep itself alive': {} of 64 races left a session alive:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A deploy from V1 to V2 with `previous`: reads write nothing, a change re-seals,
/// the absolute timeout still counts from the V1 login, revocation still reaches it.
#[tokio::test]
async fn p18_deploy_previous() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    for kind in ["cookie", "server"] {
        let clock = TestClock::new();
        let path = dir.join(format!("outsider-dep-{kind}-{pid}.db"));
        let _ = std::fs::remove_file(&path);
        let (v1, v2, name) = if kind == "cookie" {
            let rs = stores::sqlite_at(&path).await;
            (
                app_for!(DepV1).layer(
                    SessionLayer::<DepV1>::new(key())
                        .with_absolute_timeout(secs(2 * D))
                        .unwrap()
                        .with_lifetime(secs(D))
                        .unwrap()
                        .with_user_revocation(rs.clone())
                        .with_clock(clock.clone()),
                ),
                app_for!(DepV2).layer(
                    SessionLayer::<DepV2>::new(key())
                        .with_absolute_timeout(secs(2 * D))
                        .unwrap()
                        .with_lifetime(secs(D))
                        .unwrap()
                        .with_user_revocation(rs)
                        .with_clock(clock.clone()),
                ),
                "__Host-dep",
            )
        } else {
            (
                app_for!(DepSV1).layer(
                    SessionLayer::<DepSV1>::with_store(key(), stores::sqlite_at(&path).await)
                        .with_absolute_timeout(secs(2 * D))
                        .unwrap()
                        .with_lifetime(secs(D))
                        .unwrap()
                        .with_clock(clock.clone()),
                ),
                app_for!(DepSV2).layer(
                    SessionLayer::<DepSV2>::with_store(key(), stores::sqlite_at(&path).await)
                        .with_absolute_timeout(secs(2 * D))
                        .unwrap()
                        .with_lifetime(secs(D))
                        .unwrap()
                        .with_clock(clock.clone()),
                ),
                "__Host-deps",
            )
        };
        let mut b = Browser::new(name);
        b.send(&v1, "POST", "/login/1").await;
        b.send(&v1, "POST", "/n").await;
        let mut other = Browser::new(name);
        other.send(&v1, "POST", "/login/1").await;
        let start = clock.secs();
        clock.advance(secs(M));
        let r = b.send(&v2, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=1|"),
            "{kind}: 'A deploy logs nobody out when the old struct is kept and named': {}",
            r.body
        );
        assert!(
            r.cookie.is_none(),
            "{kind}: 'reads write nothing': {:?}",
            r.cookie
        );
        let r = b.send(&v2, "POST", "/m").await;
        assert!(r.status == StatusCode::OK, "{kind}");
        let r = b.send(&v2, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=1|") && r.body.contains("|m=1|"),
            "{kind}: re-sealed in the new shape: {}",
            r.body
        );
        // the absolute timeout still counts from the V1 login
        loop {
            clock.advance(secs(6 * H));
            let r = b.send(&v2, "GET", "/read").await;
            let age = clock.secs() - start;
            if age < 2 * D {
                assert!(alive(&r), "{kind}: {age}: {}", r.body);
            } else {
                assert!(
                    r.body.contains("|new=true|"),
                    "{kind}: 'a hard cap from the login' survives the migration: {age}s after the V1 login: {}",
                    r.body
                );
                break;
            }
        }
        // revocation reaches a migrated session
        let mut c = Browser::new(name);
        c.send(&v1, "POST", "/login/3").await;
        let mut d = Browser::new(name);
        d.send(&v1, "POST", "/login/3").await;
        clock.advance(secs(M));
        assert!(alive(&c.send(&v2, "GET", "/read").await), "{kind}");
        clock.advance(secs(M));
        let r = d.send(&v2, "POST", "/revoke/false").await;
        assert_eq!(r.status, StatusCode::OK, "{kind}: {}", r.body);
        let r = c.send(&v2, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: log out everywhere reaches a V1 session under V2: {}",
            r.body
        );
        let _ = other;
    }
}

/// The token header: answered on the channel it came on, empty when ended.
#[tokio::test]
async fn p19_token_header_channels() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_token_header("x-session").unwrap()) {
        let mut h = Browser::header_client(name, "x-session");
        let r = h.send(&app, "POST", "/n").await;
        assert_eq!(
            r.set_cookie_count, 0,
            "{kind}: 'a header request is answered in the header alone'"
        );
        let tok = r.hdr("x-session");
        assert!(
            tok.as_deref().is_some_and(|t| !t.is_empty()),
            "{kind}: 'a header client asks for its first token by sending the header empty': {tok:?}"
        );
        assert!(
            r.cc().contains("no-store"),
            "{kind}: token set -> no-store: {}",
            r.cc()
        );
        let vary = r.vary().join(",");
        assert!(
            vary.contains("cookie") && vary.contains("x-session"),
            "{kind}: 'Vary: cookie, x-session': {vary}"
        );
        let r = h.send(&app, "POST", "/n").await;
        assert!(r.body.contains("|n=2|"), "{kind}: {}", r.body);
        assert_eq!(r.set_cookie_count, 0, "{kind}");
        let r = h.send(&app, "GET", "/read").await;
        assert!(alive(&r) && r.set_cookie_count == 0, "{kind}");
        assert!(
            r.cc().contains("private"),
            "{kind}: read -> private: {}",
            r.cc()
        );
        // refresh due
        clock.advance(secs(2 * D));
        let before = h.header.clone().unwrap().1;
        let r = h.send(&app, "GET", "/read").await;
        assert!(
            alive(&r) && r.set_cookie_count == 0,
            "{kind}: refresh answered in the header alone, got {} set-cookies",
            r.set_cookie_count
        );
        assert!(
            r.hdr("x-session").is_some_and(|t| !t.is_empty()),
            "{kind}: refresh due: a new token in the header"
        );
        let _ = before;
        let r = h.send(&app, "POST", "/cycle").await;
        assert!(
            r.set_cookie_count == 0 && r.hdr("x-session").is_some_and(|t| !t.is_empty()),
            "{kind}: cycle_id answered in the header"
        );
        let r = h.send(&app, "POST", "/logout").await;
        assert_eq!(
            r.set_cookie_count, 0,
            "{kind}: logout of a header session: no Set-Cookie"
        );
        assert_eq!(
            r.hdr("x-session").as_deref(),
            Some(""),
            "{kind}: '(empty when the session ends)'"
        );
        // a garbage token
        let mut g = Browser::header_client(name, "x-session");
        g.header.as_mut().unwrap().1 = "garbage".into();
        let r = g.send(&app, "GET", "/read").await;
        assert!(r.body.contains("|new=true|"), "{kind}");
        assert_eq!(
            r.set_cookie_count, 0,
            "{kind}: bad header token: never a cookie"
        );
        assert_eq!(
            r.hdr("x-session").as_deref(),
            Some(""),
            "{kind}: 'a header client gets an empty token'"
        );
        // a cookie client is answered in the cookie alone
        let mut c = Browser::new(name);
        let r = c.send(&app, "POST", "/n").await;
        assert!(
            r.sets() && r.hdr("x-session").is_none(),
            "{kind}: 'a cookie request or one with no token in the cookie alone'"
        );
        // an expired header token
        let mut e = Browser::header_client(name, "x-session");
        e.send(&app, "POST", "/n").await;
        clock.advance(secs(8 * D));
        let r = e.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|")
                && r.set_cookie_count == 0
                && r.hdr("x-session").as_deref() == Some(""),
            "{kind}: expired header token -> empty header, no cookie: {:?} {:?}",
            r.hdr("x-session"),
            r.set_cookie_count
        );
    }
}

/// Token header with always_save on a plain route, and a revoked header session.
#[tokio::test]
async fn p20_token_header_always_save_and_revocation() {
    let clock = TestClock::new();
    let mut apps = apps!(clock, |l| l
        .with_token_header("x-session")
        .unwrap()
        .with_always_save(true));
    let rs = MemoryStore::default();
    apps[0].2 = app_for!(Ck).layer(
        SessionLayer::<Ck>::new(key())
            .with_token_header("x-session")
            .unwrap()
            .with_always_save(true)
            .with_user_revocation(rs)
            .with_clock(clock.clone()),
    );
    for (kind, name, app) in apps.into_iter().filter(|a| a.0 != "adaptive") {
        let mut h = Browser::header_client(name, "x-session");
        h.send(&app, "POST", "/login/1").await;
        clock.advance(secs(M));
        let r = h.send(&app, "GET", "/plain").await;
        assert_eq!(
            r.set_cookie_count, 0,
            "{kind}: always_save on a header session: never a cookie"
        );
        assert!(
            r.hdr("x-session").is_some_and(|t| !t.is_empty()),
            "{kind}: 're-issue on every request' in the header: {:?}",
            r.hdr("x-session")
        );
        // revoke from a cookie browser of the same user
        let mut c = Browser::new(name);
        c.send(&app, "POST", "/login/1").await;
        clock.advance(secs(M));
        let r = c.send(&app, "POST", "/revoke/false").await;
        assert_eq!(r.status, StatusCode::OK, "{kind}: {}", r.body);
        clock.advance(secs(M));
        let r = h.send(&app, "GET", "/plain").await;
        assert_eq!(
            r.set_cookie_count, 0,
            "{kind}: revoked header session on /plain: never a cookie"
        );
        assert!(
            r.hdr("x-session").is_none_or(|t| t.is_empty()),
            "{kind}: 'the session is loaded as an extraction would, revocation check included': no new token for a revoked session: {:?}",
            r.hdr("x-session")
        );
        let r = h.send(&app, "GET", "/read").await;
        assert!(r.body.contains("|new=true|"), "{kind}: {}", r.body);
    }
}

/// Copies revoked under always_save are not re-issued on plain routes (cookie + revocation store).
#[tokio::test]
async fn p21_always_save_revoked_copy() {
    let clock = TestClock::new();
    let app = app_for!(Ck).layer(
        SessionLayer::<Ck>::new(key())
            .with_always_save(true)
            .with_user_revocation(MemoryStore::default())
            .with_clock(clock.clone()),
    );
    let mut b = Browser::new("__Host-ck");
    b.send(&app, "POST", "/login/1").await;
    let mut thief = b.clone();
    clock.advance(secs(M));
    b.send(&app, "POST", "/revoke/false").await;
    clock.advance(secs(M));
    let r = thief.send(&app, "GET", "/plain").await;
    assert!(
        !r.sets(),
        "'revocation check included': a revoked copy must not be re-issued by always_save: {:?}",
        r.cookie
    );
    clock.advance(secs(M));
    let r = thief.send(&app, "GET", "/read").await;
    assert!(r.body.contains("|new=true|"), "{}", r.body);
}

fn ad_layer(clock: &TestClock, threshold: Option<usize>) -> Router {
    let mut l =
        SessionLayer::<Ad>::with_store(key(), MemoryStore::default()).with_clock(clock.clone());
    if let Some(t) = threshold {
        l = l.with_cookie_threshold(t).unwrap();
    }
    ad_app().layer(l)
}

/// Adaptive sessions across the cookie/store threshold, every size near it, both ways.
#[tokio::test]
async fn p22_adaptive_threshold_every_size() {
    let clock = TestClock::new();
    let app = ad_layer(&clock, Some(200));
    let name = "__Host-ad";
    let mut lens = Vec::new();
    for len in 150..=260 {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", &format!("/text/{len}")).await;
        assert!(r.sets(), "{len}");
        lens.push((len, r.cookie.unwrap().value.len()));
        let r = b.send(&app, "GET", "/textlen").await;
        assert!(
            r.body.contains(&format!("|len={len}|")) && r.body.contains("|new=false|"),
            "{len}: {}",
            r.body
        );
    }
    // the cookie value grows with the data while in the cookie, then is a fixed-size ID
    let id_len = lens.last().unwrap().1;
    let switch = lens.iter().position(|&(_, l)| l == id_len).unwrap();
    assert!(
        lens[switch..].iter().all(|&(_, l)| l == id_len),
        "one switch from cookie to store as the size grows: {lens:?}"
    );
    assert!(
        lens[..switch].windows(2).all(|w| w[0].1 <= w[1].1),
        "{lens:?}"
    );
    let boundary = lens[switch].0;
    // one browser walking up and down across the boundary, checking copies
    let mut b = Browser::new(name);
    b.send(&app, "POST", "/login/1").await;
    let mut seq: Vec<usize> = (boundary - 6..boundary + 6).collect();
    seq.extend((boundary - 6..boundary + 6).rev());
    seq.extend([
        boundary - 1,
        boundary,
        boundary - 1,
        boundary,
        boundary + 30,
        10,
        boundary + 1,
        boundary - 1,
    ]);
    let mut prev_server: Option<Browser> = None;
    for &len in &seq {
        let before = b.clone();
        let r = b.send(&app, "POST", &format!("/text/{len}")).await;
        assert_eq!(r.status, StatusCode::OK, "{len}");
        let r = b.send(&app, "GET", "/textlen").await;
        assert!(
            r.body.contains(&format!("|len={len}|")) && r.body.contains("|new=false|"),
            "walk {len}: {}",
            r.body
        );
        let in_server = b.jar.as_ref().unwrap().len() == id_len;
        let was_server = before.jar.as_ref().is_some_and(|j| j.len() == id_len);
        if was_server && !in_server {
            // moved back into the cookie: 'it moves back, deleting the row'
            let mut copy = before.clone();
            let r = copy.send(&app, "GET", "/textlen").await;
            assert!(
                r.body.contains("|new=true|"),
                "walk {len}: 'it moves back, deleting the row': the old ID copy must be dead: {}",
                r.body
            );
        }
        if in_server {
            prev_server = Some(b.clone());
        }
    }
    let _ = prev_server;
    // logout from server-side: the ID dies
    let r = b
        .send(&app, "POST", &format!("/text/{}", boundary + 10))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let copy = b.clone();
    b.send(&app, "POST", "/logout").await;
    let mut copy = copy;
    assert!(
        copy.send(&app, "GET", "/textlen")
            .await
            .body
            .contains("|new=true|"),
        "server-side adaptive terminate deletes the record"
    );
}

/// The default threshold keeps every cookie within what browsers keep (4096 bytes).
#[tokio::test]
async fn p23_adaptive_default_threshold_fits_browser() {
    let clock = TestClock::new();
    let app = ad_layer(&clock, None);
    let name = "__Host-ad";
    let mut largest = 0;
    let mut prev_server = false;
    let mut switches = 0;
    let mut over = Vec::new();
    for len in (2000..4200).step_by(1) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/123456789").await;
        let r = b.send(&app, "POST", &format!("/text/{len}")).await;
        assert_eq!(r.status, StatusCode::OK, "{len}");
        let c = r.cookie.clone().unwrap();
        let nv = name.len() + 1 + c.value.len();
        largest = largest.max(c.raw.len());
        assert!(
            nv <= 4096,
            "len {len}: 'default: what fits the cookie': name=value is {nv} bytes"
        );
        if c.raw.len() > 4096 {
            over.push((len, nv, c.raw.len()));
        }
        let server = c.value.len() < 200;
        if server != prev_server {
            switches += 1;
        }
        prev_server = server;
        let r = b.send(&app, "GET", "/textlen").await;
        assert!(
            r.body.contains(&format!("|len={len}|")),
            "{len}: {}",
            r.body
        );
    }
    assert_eq!(switches, 1, "one switch to the store");
    eprintln!(
        "largest Set-Cookie line {largest}; lines over 4096 bytes (len, name=value, line): {over:?}"
    );
}

/// Cache headers for set, clear, read, plain.
#[tokio::test]
async fn p24_cache_headers() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "GET", "/plain").await;
        assert!(
            r.cc().is_empty() && r.vary().is_empty(),
            "{kind}: 'routes that do not extract the session get nothing': {} {:?}",
            r.cc(),
            r.vary()
        );
        let r = b.send(&app, "GET", "/read").await;
        assert!(r.cookie.is_none(), "{kind}: never set: no cookie");
        let r = b.send(&app, "POST", "/n").await;
        assert!(
            r.cc().contains("no-store"),
            "{kind}: set -> no-store: {}",
            r.cc()
        );
        assert_eq!(r.vary().len(), 1, "{kind}: one Vary line: {:?}", r.vary());
        assert!(r.vary()[0].contains("cookie"), "{kind}");
        let r = b.send(&app, "GET", "/read").await;
        assert!(r.cookie.is_none(), "{kind}");
        assert!(
            r.cc().contains("private") && !r.cc().contains("no-store"),
            "{kind}: read -> private: {}",
            r.cc()
        );
        let r = b.send(&app, "GET", "/read_public").await;
        assert!(
            r.cc().contains("private") && !r.cc().contains("public"),
            "{kind}: 'a handler's public is dropped': {}",
            r.cc()
        );
        assert_eq!(
            r.vary().len(),
            1,
            "{kind}: 'one line, merged with the response's own': {:?}",
            r.vary()
        );
        assert!(
            r.vary()[0].contains("cookie") && r.vary()[0].contains("accept-encoding"),
            "{kind}: {:?}",
            r.vary()
        );
        let r = b.send(&app, "GET", "/read_nostore").await;
        assert!(
            r.cc().contains("no-store"),
            "{kind}: 'its no-store kept': {}",
            r.cc()
        );
        if kind == "server" {
            let r = b.send(&app, "POST", "/n").await;
            assert!(
                r.cookie.is_none(),
                "{kind}: 'a server-side write that keeps its token sends no Set-Cookie'"
            );
            assert!(
                r.cc().contains("private") && !r.cc().contains("no-store"),
                "{kind}: '... and is answered as a read': {}",
                r.cc()
            );
        }
        let r = b.send(&app, "POST", "/logout").await;
        assert!(
            r.clears() && r.cc().contains("no-store"),
            "{kind}: clear -> no-store: {}",
            r.cc()
        );
        // a bad cookie: cleared when extracted, untouched otherwise
        let mut g = Browser::new(name);
        g.jar = Some("AAAAgarbage".into());
        let r = g.send(&app, "GET", "/plain").await;
        assert!(r.cookie.is_none(), "{kind}: plain route: nothing");
        let mut g = Browser::new(name);
        g.jar = Some("AAAAgarbage".into());
        let r = g.send(&app, "GET", "/read").await;
        assert!(
            r.clears() && r.cc().contains("no-store"),
            "{kind}: 'a response that extracted the session clears it (Max-Age=0)': {:?} {}",
            r.cookie,
            r.cc()
        );
        let mut g = Browser::new(name);
        g.jar = Some("AAAAgarbage".into());
        let r = g.send(&app, "GET", "/opt").await;
        assert!(r.body == "none", "{kind}");
        assert!(
            r.clears(),
            "{kind}: Option<Session> extraction of a bad cookie clears it too: {:?}",
            r.cookie
        );
    }
}

/// 5xx: nothing written.
#[tokio::test]
async fn p25_5xx_writes_nothing() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        for op in ["/fail", "/fail_logout", "/fail_login/2", "/fail_cycle"] {
            let copy = b.clone();
            let r = b.send(&app, "POST", op).await;
            assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                r.cookie.is_none(),
                "{kind} {op}: '5xx response: nothing written': {:?}",
                r.cookie
            );
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r) && r.body.contains("|n=0|") && r.body.contains("Some(1)"),
                "{kind} {op}: '5xx: nothing written': the session is as before: {}",
                r.body
            );
            let mut copy = copy;
            assert!(alive(&copy.send(&app, "GET", "/read").await), "{kind} {op}");
        }
    }
}

/// Max-Age values through the lifecycle.
#[tokio::test]
async fn p26_max_age_values() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_lifetime(secs(2 * H)).unwrap()) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", "/n").await;
        assert_eq!(r.max_age(), Some(7200), "{kind}: new");
        let r = b.send(&app, "POST", "/login/1").await;
        assert_eq!(r.max_age(), Some(7200), "{kind}: login");
        let r = b.send(&app, "POST", "/cycle").await;
        assert_eq!(r.max_age(), Some(7200), "{kind}: cycle");
        let r = b.send(&app, "POST", "/restart/2").await;
        assert_eq!(r.max_age(), Some(7200), "{kind}: restart");
        let r = b.send(&app, "POST", &format!("/lifetime/{}", 3 * H)).await;
        let _ = r;
        let r = b.send(&app, "POST", &format!("/remember/{}", 10 * D)).await;
        assert_eq!(r.max_age(), Some(10 * D as i64), "{kind}: remember");
        let r = b.send(&app, "POST", "/cycle").await;
        assert!(r.sets(), "{kind}");
        eprintln!(
            "{kind}: Max-Age after cycle_id of a remembered session: {:?}",
            r.max_age()
        );
        let r = b.send(&app, "POST", "/logout").await;
        assert_eq!(r.max_age(), Some(0), "{kind}: logout");
    }
}

/// The Max-Age a refresh sends in the last days before the absolute
/// timeout: never past it (the cookie does not outlive the login's cap).
#[tokio::test]
async fn p30_max_age_near_absolute_timeout() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut c = Browser::new(name);
        c.send(&app, "POST", "/login/3").await;
        let mut last = None;
        for day in 1..30 {
            clock.advance(secs(D));
            let r = c.send(&app, "GET", "/read").await;
            if r.sets() {
                last = r.max_age().map(|age| (day, age));
            }
        }
        let (day, age) = last.expect("refreshed in 29 days of daily use");
        assert!(
            u64::try_from(age).unwrap() <= (30 - day) * D,
            "{kind}: 'a hard cap from the login': a refresh on day {day} sent Max-Age {age}, past the 30-day absolute timeout"
        );
    }
}

/// with_refresh_after validation in any order; the default follows the lifetime.
#[tokio::test]
async fn p27_refresh_after_config() {
    let clock = TestClock::new();
    let l = SessionLayer::<Ck>::new(key())
        .with_refresh_after(secs(2 * H))
        .unwrap()
        .with_lifetime(secs(H));
    assert!(
        l.is_err(),
        "'longer than the lifetime is a ConfigError, in any order of the calls'"
    );
    let l = SessionLayer::<Ck>::new(key())
        .with_lifetime(secs(H))
        .unwrap()
        .with_refresh_after(secs(2 * H));
    assert!(l.is_err(), "'longer than the lifetime is a ConfigError'");
    // default refresh is a quarter of the configured lifetime
    for (kind, name, app) in apps!(clock, |l| l.with_lifetime(secs(H)).unwrap()) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/n").await;
        clock.advance(secs(16 * M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.sets(),
            "{kind}: 'refreshed at most every quarter of it': 16 min into a 1-hour lifetime"
        );
    }
    for (kind, name, app) in apps!(clock, |l| l
        .with_refresh_after(secs(30 * M))
        .unwrap()
        .with_lifetime(secs(2 * H))
        .unwrap())
    {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/n").await;
        clock.advance(secs(20 * M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.cookie.is_none(),
            "{kind}: with_refresh_after(30 min) then with_lifetime(2h): no refresh at 20 min: {:?}",
            r.cookie
        );
        clock.advance(secs(11 * M));
        let r = b.send(&app, "GET", "/read").await;
        assert!(r.sets(), "{kind}: refresh at 31 min");
    }
}

/// Server sessions: an expired ID is never adopted; the next write mints a new ID.
#[tokio::test]
async fn p28_server_strict_ids_after_expiry() {
    let clock = TestClock::new();
    let apps = apps!(clock, |l| l.with_lifetime(secs(H)).unwrap());
    let (_, name, app) = &apps[1];
    let mut b = Browser::new(name);
    b.send(app, "POST", "/n").await;
    let old = b.jar.clone();
    clock.advance(secs(2 * H));
    let r = b.send(app, "POST", "/n").await;
    assert!(
        r.body.contains("|n=1|") && r.body.contains("|new=true|"),
        "{}",
        r.body
    );
    assert!(
        r.sets() && b.jar != old,
        "'an unknown or expired ID is never adopted ... a new ID is minted on the first write'"
    );
}

/// The cookie twice: the first that opens is the session.
#[tokio::test]
async fn p29_cookie_twice() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/4").await;
        let v = b.jar.clone().unwrap();
        let req = Request::get("/read")
            .header(header::COOKIE, format!("{name}=junk; {name}={v}"))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("Some(4)"),
            "{kind}: 'the first that opens is the session': {body}"
        );
    }
}

fn two_server_apps(
    path: &std::path::Path,
    clock_a: &TestClock,
    clock_b: &TestClock,
) -> impl std::future::Future<Output = (Router, Router)> {
    let path = path.to_owned();
    let (ca, cb) = (clock_a.clone(), clock_b.clone());
    async move {
        let _ = std::fs::remove_file(&path);
        (
            app_for!(Sv).layer(
                SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(ca),
            ),
            app_for!(Sv).layer(
                SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(cb),
            ),
        )
    }
}

fn two_cookie_apps(
    path: &std::path::Path,
    clock_a: &TestClock,
    clock_b: &TestClock,
) -> impl std::future::Future<Output = (Router, Router)> {
    let path = path.to_owned();
    let (ca, cb) = (clock_a.clone(), clock_b.clone());
    async move {
        let _ = std::fs::remove_file(&path);
        (
            app_for!(Ck).layer(
                SessionLayer::<Ck>::new(key())
                    .with_user_revocation(stores::sqlite_at(&path).await)
                    .with_clock(ca),
            ),
            app_for!(Ck).layer(
                SessionLayer::<Ck>::new(key())
                    .with_user_revocation(stores::sqlite_at(&path).await)
                    .with_clock(cb),
            ),
        )
    }
}

/// The same race, one after the other within one second: "log out other devices" on x,
/// then another device's "log out everywhere" (or "other devices"): x ends too.
#[tokio::test]
async fn p31_sequential_revocations_same_second() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let mut failures = Vec::new();
    for variant in ["server", "cookie"] {
        for second_keep in [false, true] {
            for gap in [0, 1, 2, 10, 400] {
                let clock = TestClock::new();
                let path = dir.join(format!(
                    "outsider-seq-{variant}-{second_keep}-{gap}-{pid}.db"
                ));
                let (a, b) = if variant == "server" {
                    two_server_apps(&path, &clock, &clock).await
                } else {
                    two_cookie_apps(&path, &clock, &clock).await
                };
                let name = if variant == "server" {
                    "__Host-sv"
                } else {
                    "__Host-ck"
                };
                let mut x = Browser::new(name);
                let mut y = Browser::new(name);
                x.send(&a, "POST", "/login/1").await;
                y.send(&b, "POST", "/login/1").await;
                clock.advance(secs(3));
                let rx = x.send(&a, "POST", "/revoke/true").await;
                clock.advance(secs(gap));
                // a device that logs in after x's call, then logs out everywhere (or other devices)
                let mut z = Browser::new(name);
                z.send(&b, "POST", "/login/1").await;
                let ry = z.send(&b, "POST", &format!("/revoke/{second_keep}")).await;
                let _ = &mut y;
                clock.advance(secs(1));
                let r1 = x.send(&a, "GET", "/read").await;
                if alive(&r1) && !r1.body.contains("|user=None|") {
                    failures.push(format!("{variant}: x 'log out other devices' ({}, set={}); {gap}s later z logs in and calls revoke({second_keep}) ({}, {}): x still alive", rx.body, rx.sets(), ry.status, ry.body));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "'every session of the user issued up to now is refused on its next request': {}",
        failures.join("\n")
    );
}

/// Real clock: the racing "log out other devices" pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p32_racing_revocations_system_clock() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let mut failures = Vec::new();
    let mut total = 0;
    let mut raced = 0;
    for round in 0..12 {
        let path = dir.join(format!("outsider-race-sys-{round}-{pid}.db"));
        let _ = std::fs::remove_file(&path);
        let a = app_for!(Sv).layer(SessionLayer::<Sv>::with_store(
            key(),
            stores::sqlite_at(&path).await,
        ));
        let b = app_for!(Sv).layer(SessionLayer::<Sv>::with_store(
            key(),
            stores::sqlite_at(&path).await,
        ));
        let name = "__Host-sv";
        let mut x = Browser::new(name);
        let mut y = Browser::new(name);
        x.send(&a, "POST", "/login/1").await;
        y.send(&b, "POST", "/login/1").await;
        let (rx, ry) = tokio::join!(
            x.send(&a, "POST", "/revoke_dbg/true"),
            y.send(&b, "POST", "/revoke_dbg/true")
        );
        total += 1;
        let r1 = x.send(&a, "GET", "/read").await;
        let r2 = y.send(&b, "GET", "/read").await;
        let both_loaded =
            rx.body.contains("before=|user=Some") && ry.body.contains("before=|user=Some");
        if both_loaded {
            raced += 1;
        }
        if both_loaded && (alive(&r1) || alive(&r2)) {
            failures.push(format!(
                "round {round}: x {} alive={} / y {} alive={}",
                rx.body,
                alive(&r1),
                ry.body,
                alive(&r2)
            ));
        }
    }
    eprintln!("p32: {raced} of {total} raced");
    assert!(
        failures.is_empty(),
        "system clock, server type, two 'log out other devices' racing: {} of {total} left one alive: {}",
        failures.len(),
        failures.join("\n")
    );
}

/// Adaptive sessions on both tiers, one user: log out everywhere reaches both.
#[tokio::test]
async fn p33_adaptive_mixed_tiers_revocation() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-admix-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let s1 = stores::sqlite_at(&path).await;
    let s2 = stores::sqlite_at(&path).await;
    let a = ad_app().layer(
        SessionLayer::<Ad>::with_store(key(), s1.clone())
            .with_cookie_threshold(200)
            .unwrap()
            .with_user_revocation(s1)
            .with_clock(clock.clone()),
    );
    let b = ad_app().layer(
        SessionLayer::<Ad>::with_store(key(), s2.clone())
            .with_cookie_threshold(200)
            .unwrap()
            .with_user_revocation(s2)
            .with_clock(clock.clone()),
    );
    let name = "__Host-ad";
    for keep in [false, true] {
        let u = if keep { 21 } else { 20 };
        let mut small = Browser::new(name);
        let mut large = Browser::new(name);
        let mut large_b = Browser::new(name);
        small.send(&a, "POST", &format!("/login/{u}")).await;
        large.send(&a, "POST", &format!("/login/{u}")).await;
        large.send(&a, "POST", "/text/500").await;
        large_b.send(&b, "POST", &format!("/login/{u}")).await;
        large_b.send(&b, "POST", "/text/500").await;
        clock.advance(secs(5));
        let (mut asker, others): (Browser, Vec<Browser>) = if keep {
            (large.clone(), vec![small.clone(), large_b.clone()])
        } else {
            (small.clone(), vec![large.clone(), large_b.clone()])
        };
        let copy = asker.clone();
        let r = asker.send(&a, "POST", &format!("/revoke/{keep}")).await;
        assert_eq!(r.status, StatusCode::OK, "keep={keep}: {}", r.body);
        for (i, mut o) in others.into_iter().enumerate() {
            let r = o.send(&b, "GET", "/textlen").await;
            assert!(
                r.body.contains("|new=true|"),
                "keep={keep}: other device {i} (both tiers): 'every session of the user issued up to now is refused': {}",
                r.body
            );
        }
        let mut copy = copy;
        let r = copy.send(&b, "GET", "/textlen").await;
        assert!(
            r.body.contains("|new=true|"),
            "keep={keep}: a copy of the asking session ends: {}",
            r.body
        );
        clock.advance(secs(2));
        let r = asker.send(&b, "GET", "/textlen").await;
        assert_eq!(
            alive(&r) || r.body.contains("|new=false|"),
            keep,
            "keep={keep}: the asking session lives iff kept: {}",
            r.body
        );
    }
}

/// Moving between the cookie and the store keeps the login time: the absolute timeout holds.
#[tokio::test]
async fn p34_adaptive_tier_moves_keep_absolute_timeout() {
    let clock = TestClock::new();
    let app = ad_app().layer(
        SessionLayer::<Ad>::with_store(key(), MemoryStore::default())
            .with_cookie_threshold(200)
            .unwrap()
            .with_lifetime(secs(D))
            .unwrap()
            .with_absolute_timeout(secs(2 * D))
            .unwrap()
            .with_clock(clock.clone()),
    );
    for start_large in [false, true] {
        let mut b = Browser::new("__Host-ad");
        b.send(&app, "POST", "/login/1").await;
        let start = clock.secs();
        let mut large = start_large;
        if large {
            b.send(&app, "POST", "/text/300").await;
        }
        loop {
            clock.advance(secs(5 * H));
            large = !large;
            let r = b
                .send(
                    &app,
                    "POST",
                    &format!("/text/{}", if large { 300 } else { 20 }),
                )
                .await;
            let age = clock.secs() - start;
            let r2 = b.send(&app, "GET", "/read").await;
            if age < 2 * D {
                assert!(
                    r.body.contains("|len=") && alive(&r2) && r2.body.contains("Some(1)"),
                    "start_large={start_large}: {age}s: {}",
                    r2.body
                );
            } else {
                assert!(
                    !r2.body.contains("Some(1)"),
                    "start_large={start_large}: 'a hard cap from the login ... however active the session': moving between cookie and store must not restart it: {age}s after login: {}",
                    r2.body
                );
                break;
            }
        }
    }
}

fn alive_text(r: &Resp) -> bool {
    r.status == StatusCode::OK && r.body.contains("|new=false|")
}

/// Browser-session and remember-me flags survive moves between the tiers.
#[tokio::test]
async fn p35_adaptive_tier_moves_keep_cookie_kind() {
    let clock = TestClock::new();
    let app = ad_app().layer(
        SessionLayer::<Ad>::with_store(key(), MemoryStore::default())
            .with_cookie_threshold(200)
            .unwrap()
            .with_clock(clock.clone()),
    );
    let mut b = Browser::new("__Host-ad");
    b.send(&app, "POST", "/login/1").await;
    let r = b.send(&app, "POST", "/browser").await;
    assert_eq!(r.max_age(), None);
    let r = b.send(&app, "POST", "/text/300").await;
    assert!(r.sets(), "moved to the store: a new token");
    assert_eq!(
        r.max_age(),
        None,
        "a browser-session cookie stays one when the session moves to the store: {:?}",
        r.cookie
    );
    let r = b.send(&app, "POST", "/text/20").await;
    assert!(r.sets());
    assert_eq!(
        r.max_age(),
        None,
        "... and when it moves back: {:?}",
        r.cookie
    );
    let r = b.send(&app, "POST", &format!("/remember/{}", 20 * D)).await;
    assert_eq!(r.max_age(), Some(20 * D as i64));
    let r = b.send(&app, "POST", "/text/300").await;
    assert_eq!(
        r.max_age(),
        Some(20 * D as i64),
        "remember me survives a move to the store: {:?}",
        r.cookie
    );
    clock.advance(secs(10 * D));
    let r = b.send(&app, "GET", "/textlen").await;
    assert!(
        alive_text(&r),
        "remembered 20-day lifetime survives a move to the store: 10 days idle: {}",
        r.body
    );
    let r = b.send(&app, "POST", "/text/20").await;
    assert!(r.sets());
    assert!(
        r.max_age().is_some_and(|m| m > 7 * D as i64),
        "remember me survives the move back: {:?}",
        r.cookie
    );
}

/// revoke_device on one's own tag, and a user change leaves the old user's index.
#[tokio::test]
async fn p36_revoke_own_device_and_user_change() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-own-{}.db", std::process::id()));
    let (a, b) = two_server_apps(&path, &clock, &clock).await;
    let name = "__Host-sv";
    let mut me = Browser::new(name);
    me.send(&a, "POST", "/login/1").await;
    let list = me.send(&a, "GET", "/devices").await.body;
    let tag = list.split(':').next().unwrap().to_owned();
    let r = me.send(&a, "POST", &format!("/revoke_device/{tag}")).await;
    assert!(r.body.contains("true"), "{}", r.body);
    let r = me.send(&b, "GET", "/read").await;
    assert!(
        r.body.contains("|new=true|"),
        "'Ending this request's own session this way deletes it from the store': {}",
        r.body
    );
    // user change: 1 -> 2 by setting the field
    let mut sw = Browser::new(name);
    sw.send(&a, "POST", "/login/1").await;
    sw.send(&a, "POST", "/login/2").await;
    let mut one = Browser::new(name);
    one.send(&b, "POST", "/login/1").await;
    let list = one.send(&b, "GET", "/devices").await.body;
    assert_eq!(
        list.split(',').count(),
        1,
        "user 1's devices list only their session, not one that became user 2's: {list}"
    );
    clock.advance(secs(5));
    let r = one.send(&b, "POST", "/revoke/true").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = sw.send(&a, "GET", "/read").await;
    assert!(
        alive(&r) && r.body.contains("Some(2)"),
        "user 1's log out everywhere must not end user 2's session: {}",
        r.body
    );
}

/// Cookie type: a session that changed user is not ended by the old user's revocation,
/// and is by the new user's.
#[tokio::test]
async fn p37_cookie_user_change_and_revocation() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-ckuser-{}.db", std::process::id()));
    let (a, b) = two_cookie_apps(&path, &clock, &clock).await;
    let name = "__Host-ck";
    let mut sw = Browser::new(name);
    sw.send(&a, "POST", "/login/31").await;
    clock.advance(secs(2));
    sw.send(&a, "POST", "/login/32").await;
    let mut one = Browser::new(name);
    one.send(&b, "POST", "/login/31").await;
    clock.advance(secs(2));
    one.send(&b, "POST", "/revoke/false").await;
    clock.advance(secs(2));
    let r = sw.send(&a, "GET", "/read").await;
    assert!(
        alive(&r) && r.body.contains("Some(32)"),
        "user 31's revocation does not end user 32's session: {}",
        r.body
    );
    let mut two = Browser::new(name);
    two.send(&b, "POST", "/login/32").await;
    clock.advance(secs(2));
    two.send(&b, "POST", "/revoke/false").await;
    clock.advance(secs(2));
    let r = sw.send(&a, "GET", "/read").await;
    assert!(
        r.body.contains("|new=true|"),
        "user 32's revocation ends it: {}",
        r.body
    );
}

/// Two processes whose clocks differ by 3 minutes.
#[tokio::test]
async fn p38_revocation_clock_skew() {
    for variant in ["server", "cookie"] {
        let ca = TestClock::new();
        let cb = TestClock::new();
        cb.advance(secs(3 * M)); // B runs ahead
        let path =
            std::env::temp_dir().join(format!("outsider-skew-{variant}-{}.db", std::process::id()));
        let (a, b) = if variant == "server" {
            two_server_apps(&path, &ca, &cb).await
        } else {
            two_cookie_apps(&path, &ca, &cb).await
        };
        let name = if variant == "server" {
            "__Host-sv"
        } else {
            "__Host-ck"
        };
        let mut on_b = Browser::new(name);
        on_b.send(&b, "POST", "/login/1").await;
        let mut on_a = Browser::new(name);
        on_a.send(&a, "POST", "/login/1").await;
        ca.advance(secs(1));
        cb.advance(secs(1));
        let r = on_a.send(&a, "POST", "/revoke/false").await;
        assert_eq!(r.status, StatusCode::OK);
        let r = on_b.send(&b, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{variant}: 'a process whose clock runs ahead ... cannot issue a session that escapes it': {}",
            r.body
        );
        // legitimate logins right after, on both processes
        ca.advance(secs(1));
        cb.advance(secs(1));
        let mut n_b = Browser::new(name);
        let mut n_a = Browser::new(name);
        n_b.send(&b, "POST", "/login/1").await;
        n_a.send(&a, "POST", "/login/1").await;
        for step in [1, 60, 600] {
            ca.advance(secs(step));
            cb.advance(secs(step));
            let r = n_b.send(&a, "GET", "/read").await;
            assert!(
                alive(&r),
                "{variant}: 'logins after it are issued after it, so no legitimate session is refused' (B's login read on A, +{step}): {}",
                r.body
            );
            let r = n_a.send(&b, "GET", "/read").await;
            assert!(
                alive(&r),
                "{variant}: A's login read on B, +{step}: {}",
                r.body
            );
        }
    }
}

/// Per-process caches: a logout on A is refused by B within a second, and a write on B
/// meanwhile never brings it back.
#[tokio::test]
async fn p39_per_process_cache_logout() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-tier-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let a = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(
            key(),
            session_runtime::Tiered::new(MemoryStore::default(), stores::sqlite_at(&path).await),
        )
        .with_clock(clock.clone()),
    );
    let b = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(
            key(),
            session_runtime::Tiered::new(MemoryStore::default(), stores::sqlite_at(&path).await),
        )
        .with_clock(clock.clone()),
    );
    let name = "__Host-sv";
    for op in ["/logout", "/revoke/false", "/cycle"] {
        let mut x = Browser::new(name);
        x.send(&a, "POST", "/login/1").await;
        let mut on_b = x.clone();
        assert!(alive(&on_b.send(&b, "GET", "/read").await)); // B caches it
        let mut on_a = x.clone();
        on_a.send(&a, "POST", op).await;
        let mut w = x.clone();
        let _ = w.send(&b, "POST", "/n").await; // a write on B within the staleness bound
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let mut stale = x.clone();
        let r = stale.send(&b, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{op}: 'another process trusts its cached copy for at most 1 second ... a write there never brings a logged-out session back': {}",
            r.body
        );
        let r = stale.send(&a, "GET", "/read").await;
        assert!(r.body.contains("|new=true|"), "{op}: and on A: {}", r.body);
    }
}

/// A script's header request that also carries the HttpOnly cookie must not get the
/// cookie's session back in a header it can read.
#[tokio::test]
async fn p40_header_request_with_cookie_never_leaks_cookie_session() {
    let clock = TestClock::new();
    for hname in ["x-session", "authorization"] {
        for (kind, name, app) in apps!(clock, |l| l.with_token_header(hname).unwrap()) {
            for (route, header_value) in [
                ("/n", ""),
                ("/cycle", ""),
                ("/login/2", ""),
                ("/read", ""),
                ("/n", "garbage"),
                ("/read", "garbage"),
            ] {
                let mut victim = Browser::new(name);
                victim.send(&app, "POST", "/login/1").await;
                victim.send(&app, "POST", "/n").await;
                clock.advance(secs(2 * D)); // a refresh is due too
                let hv = if hname == "authorization" {
                    format!("Session {header_value}").trim_end().to_owned()
                } else {
                    header_value.to_owned()
                };
                let req = Request::builder()
                    .method(if route == "/read" { "GET" } else { "POST" })
                    .uri(route)
                    .header(hname, hv.as_str())
                    .header(
                        header::COOKIE,
                        format!("{name}={}", victim.jar.clone().unwrap()),
                    )
                    .body(Body::empty())
                    .unwrap();
                let resp = app.clone().oneshot(req).await.unwrap();
                let token = resp
                    .headers()
                    .get(hname)
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                let body = String::from_utf8_lossy(&body).into_owned();
                if let Some(t) =
                    token.filter(|t| !t.is_empty() && t != "Session" && t != "Session ")
                {
                    let t = t.strip_prefix("Session ").unwrap_or(&t).to_owned();
                    let mut script = Browser::header_client(name, hname);
                    script.header.as_mut().unwrap().1 = if hname == "authorization" {
                        format!("Session {t}")
                    } else {
                        t.clone()
                    };
                    let r = script.send(&app, "GET", "/read").await;
                    assert!(
                        !r.body.contains("Some(1)"),
                        "{kind} {hname} {route} header={header_value:?}: 'a cookie request is answered in Set-Cookie alone, so HttpOnly keeps it from scripts': the header token answered to a request carrying the cookie opens the cookie's session ({}; handler saw {body})",
                        r.body
                    );
                }
                clock.advance(secs(1));
            }
        }
    }
}

/// Authorization: only the Session scheme, in any case.
#[tokio::test]
async fn p41_authorization_scheme() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_token_header("authorization").unwrap()) {
        let mut h = Browser::header_client(name, "authorization");
        h.header.as_mut().unwrap().1 = "Session".into();
        let r = h.send(&app, "POST", "/login/1").await;
        assert_eq!(r.set_cookie_count, 0, "{kind}");
        let tok = r.hdr("authorization").unwrap_or_default();
        assert!(
            tok.len() > 10,
            "{kind}: 'Authorization: Session' asks for a first token: {tok:?}"
        );
        let raw = tok.trim_start_matches("Session ").to_owned();
        for scheme in ["Session", "session", "SESSION", "sEsSiOn"] {
            let mut c = Browser::header_client(name, "authorization");
            c.header.as_mut().unwrap().1 = format!("{scheme} {raw}");
            let r = c.send(&app, "GET", "/read").await;
            assert!(
                alive(&r) && r.body.contains("Some(1)"),
                "{kind}: 'the Session scheme, in any case': {scheme}: {}",
                r.body
            );
        }
        for scheme in ["Bearer", "Basic", ""] {
            let mut c = Browser::header_client(name, "authorization");
            c.header.as_mut().unwrap().1 = format!("{scheme} {raw}").trim().to_owned();
            let r = c.send(&app, "GET", "/read").await;
            assert!(
                !r.body.contains("Some(1)"),
                "{kind}: 'a browser's Basic credentials or a gateway's Bearer token are not taken for a session token': {scheme:?}: {}",
                r.body
            );
            assert!(
                r.hdr("authorization").is_none() && r.set_cookie_count == 0,
                "{kind}: a non-session Authorization is not answered: {:?} {}",
                r.hdr("authorization"),
                r.set_cookie_count
            );
        }
    }
}

/// A per-session lifetime shorter than the layer's refresh interval: an active session stays alive.
#[tokio::test]
async fn p42_short_own_lifetime_stays_alive_while_active() {
    let clock = TestClock::new();
    let mut failures = Vec::new();
    for own in [10 * M, 30 * M, 45 * M] {
        for (kind, name, app) in apps!(clock, |l| l
            .with_refresh_after(secs(30 * M))
            .unwrap()
            .with_lifetime(secs(2 * H))
            .unwrap())
        {
            let mut b = Browser::new(name);
            b.send(&app, "POST", "/login/1").await;
            let r = b.send(&app, "POST", &format!("/lifetime/{own}")).await;
            assert_eq!(
                r.max_age(),
                Some(own as i64),
                "{kind}: set_lifetime: Max-Age"
            );
            for i in 0..24 {
                clock.advance(secs(5 * M));
                let r = b.send(&app, "GET", "/read").await;
                if !alive(&r) {
                    failures.push(format!("{kind}: own lifetime {} min, refresh_after 30 min, read every 5 min: ended at read {i} ({} min in)", own / M, (i + 1) * 5));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "'set_lifetime: Gives this session its own lifetime (idle timeout)'; 'idle timeout, refreshed at most every quarter of it': an active session must not expire:\n{}",
        failures.join("\n")
    );
}

/// The same with the default refresh (a quarter of the layer's 7 days) and set_lifetime(1 hour).
#[tokio::test]
async fn p42b_short_own_lifetime_default_refresh() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        b.send(&app, "POST", &format!("/lifetime/{H}")).await;
        for i in 0..10 {
            clock.advance(secs(20 * M));
            let r = b.send(&app, "GET", "/read").await;
            assert!(
                alive(&r),
                "{kind}: own lifetime 1h, default layer: read every 20 min, read {i}: {}",
                r.body
            );
        }
    }
}

/// always_save keeps a browser-session cookie one, and a remembered lifetime.
#[tokio::test]
async fn p43_always_save_keeps_cookie_kind() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_always_save(true)) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        b.send(&app, "POST", "/browser").await;
        clock.advance(secs(M));
        let r = b.send(&app, "GET", "/plain").await;
        assert!(r.sets(), "{kind}");
        assert_eq!(
            r.max_age(),
            None,
            "{kind}: always_save re-issue of a browser-session cookie keeps it one: {:?}",
            r.cookie
        );
        let r = b.send(&app, "GET", "/read").await;
        assert_eq!(r.max_age(), None, "{kind}: {:?}", r.cookie);
        b.send(&app, "POST", &format!("/remember/{}", 20 * D)).await;
        clock.advance(secs(M));
        let r = b.send(&app, "GET", "/plain").await;
        assert_eq!(
            r.max_age(),
            Some(20 * D as i64),
            "{kind}: always_save re-issue of a remembered cookie keeps its Max-Age: {:?}",
            r.cookie
        );
        clock.advance(secs(10 * D));
        let r = b.send(&app, "GET", "/plain").await;
        assert!(
            r.sets(),
            "{kind}: remembered session re-issued after 10 idle days: {:?}",
            r.cookie
        );
        let r = b.send(&app, "GET", "/read").await;
        assert!(alive(&r), "{kind}: {}", r.body);
    }
}

/// Migration keeps the session's metadata: remember-me lifetime and browser-session flag.
#[tokio::test]
async fn p44_deploy_keeps_session_metadata() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-depmeta-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let pairs: Vec<(&str, Router, Router, &str)> = vec![
        (
            "cookie",
            app_for!(DepV1).layer(SessionLayer::<DepV1>::new(key()).with_clock(clock.clone())),
            app_for!(DepV2).layer(SessionLayer::<DepV2>::new(key()).with_clock(clock.clone())),
            "__Host-dep",
        ),
        (
            "server",
            app_for!(DepSV1).layer(
                SessionLayer::<DepSV1>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(clock.clone()),
            ),
            app_for!(DepSV2).layer(
                SessionLayer::<DepSV2>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(clock.clone()),
            ),
            "__Host-deps",
        ),
    ];
    for (kind, v1, v2, name) in pairs {
        let mut b = Browser::new(name);
        b.send(&v1, "POST", "/login/1").await;
        b.send(&v1, "POST", &format!("/remember/{}", 60 * D)).await;
        clock.advance(secs(20 * D));
        let r = b.send(&v2, "GET", "/read").await;
        assert!(
            alive(&r),
            "{kind}: a V1 remembered (60-day) session, 20 idle days, read by V2: {}",
            r.body
        );
        let r = b.send(&v2, "POST", "/m").await;
        assert!(
            r.cookie.is_none() || r.max_age().is_some_and(|m| m > 30 * D as i64),
            "{kind}: re-sealed in the new shape, still remembered: {:?}",
            r.cookie
        );
        let mut c = Browser::new(name);
        c.send(&v1, "POST", "/login/2").await;
        c.send(&v1, "POST", "/browser").await;
        clock.advance(secs(2 * D));
        let r = c.send(&v2, "POST", "/m").await;
        assert!(r.status == StatusCode::OK, "{kind}");
        if r.sets() {
            assert_eq!(
                r.max_age(),
                None,
                "{kind}: a V1 browser-session cookie stays one when V2 re-seals it: {:?}",
                r.cookie
            );
        }
    }
}

/// An operator who shortens the absolute timeout (an incident) caps sessions already issued.
#[tokio::test]
async fn p45_shortened_absolute_timeout_applies_to_existing() {
    let clock = TestClock::new();
    let old = apps!(clock, |l| l);
    let new = apps!(clock, |l| l.with_absolute_timeout(secs(5 * D)).unwrap());
    for ((kind, name, a), (_, _, b)) in old.into_iter().zip(new) {
        if kind != "cookie" {
            continue; // MemoryStore is per layer
        }
        let mut br = Browser::new(name);
        br.send(&a, "POST", "/login/1").await;
        for _ in 0..10 {
            clock.advance(secs(D));
            br.send(&a, "GET", "/read").await;
        }
        let r = br.send(&b, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: 'with_absolute_timeout(d) sets it' / 'a hard cap from the login': a layer capped at 5 days opens a 10-day-old login: {}",
            r.body
        );
    }
}

/// terminate() then writes: a new session with a new ID; set_user(None) and the same user.
#[tokio::test]
async fn p46_terminate_then_set_and_user_edges() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        b.send(&app, "POST", "/n").await;
        let copy = b.clone();
        let r = b.send(&app, "POST", "/logout_then_set").await;
        assert!(
            r.sets(),
            "{kind}: 'Values set after this call start a new session, with a new ID': {:?}",
            r.cookie
        );
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            alive(&r) && r.body.contains("|n=5|") && r.body.contains("|user=None|"),
            "{kind}: {}",
            r.body
        );
        if kind == "server" {
            let mut copy = copy;
            let r = copy.send(&app, "GET", "/read").await;
            assert!(
                r.body.contains("|new=true|"),
                "{kind}: the old ID is dead: {}",
                r.body
            );
        }
        // restart() with nothing set after it ends the session
        let mut c = Browser::new(name);
        c.send(&app, "POST", "/login/1").await;
        let r = c.send(&app, "POST", "/restart_only").await;
        assert!(
            r.clears(),
            "{kind}: 'restart(): Ends the session as terminate does': {:?}",
            r.cookie
        );
        // setting the same user is not a change
        let mut d = Browser::new(name);
        d.send(&app, "POST", "/login/1").await;
        let r = d.send(&app, "POST", "/login/1").await;
        assert!(
            r.cookie.is_none(),
            "{kind}: same user: 'only if the encoding changed': {:?}",
            r.cookie
        );
        // logging out by clearing the user field: a new identity
        let before = d.clone();
        let r = d.send(&app, "POST", "/anon").await;
        assert!(
            r.sets(),
            "{kind}: 'a change of the #[session(user)] field: the session takes a new identity': to None: {:?}",
            r.cookie
        );
        if kind == "server" {
            let mut before = before;
            let r = before.send(&app, "GET", "/read").await;
            assert!(
                !r.body.contains("Some(1)"),
                "{kind}: old ID of the logged-in session dead after set_user(None): {}",
                r.body
            );
        }
    }
}

/// More than 4 copies of the cookie are refused; up to 4, the first that opens wins.
#[tokio::test]
async fn p47_cookie_copies_limit() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l) {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/4").await;
        let v = b.jar.clone().unwrap();
        for n in 1..=6 {
            let mut cookie: Vec<String> = (1..n).map(|i| format!("{name}=junk{i}")).collect();
            cookie.push(format!("{name}={v}"));
            let req = Request::get("/read")
                .header(header::COOKIE, cookie.join("; "))
                .body(Body::empty())
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            let body = String::from_utf8_lossy(&body);
            assert_eq!(
                body.contains("Some(4)"),
                n <= 4,
                "{kind}: {n} copies: 'the first that opens is the session; more than 4 are refused': {body}"
            );
        }
    }
}

/// Two server session types over one store never revoke each other's sessions.
#[derive(Session, Default, Debug, Clone)]
#[session(cookie = "adm", storage = "server")]
struct Adm {
    #[session(user)]
    user: Option<u64>,
    n: u32,
    m: u32,
}

#[tokio::test]
async fn p48_two_types_one_store() {
    let mut failures = Vec::new();
    for op in ["/cycle", "/login/2", "/revoke/true", "/restart/1"] {
        for delay in [1, H, D] {
            let clock = TestClock::new();
            let path = std::env::temp_dir().join(format!(
                "outsider-types-{}-{}-{delay}.db",
                std::process::id(),
                op.replace('/', "_")
            ));
            let _ = std::fs::remove_file(&path);
            let shop = app_for!(Sv).layer(
                SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(clock.clone()),
            );
            let back = app_for!(Adm).layer(
                SessionLayer::<Adm>::with_store(key(), stores::sqlite_at(&path).await)
                    .with_clock(clock.clone()),
            );
            let mut s = Browser::new("__Host-sv");
            let mut s2 = Browser::new("__Host-sv");
            let mut a = Browser::new("__Host-adm");
            s.send(&shop, "POST", "/login/1").await;
            s2.send(&shop, "POST", "/login/1").await;
            a.send(&back, "POST", "/login/1").await;
            a.send(&back, "POST", "/n").await;
            let list = a.send(&back, "GET", "/devices").await.body;
            assert_eq!(
                list.split(',').count(),
                1,
                "'never list each other's sessions': {list}"
            );
            clock.advance(secs(3));
            let r = s.send(&shop, "POST", "/revoke/true").await;
            assert_eq!(r.body, "ended=1", "{}", r.body);
            clock.advance(secs(delay));
            let r = a.send(&back, "GET", "/read").await;
            assert!(
                alive(&r),
                "'two session types sharing a store never ... revoke each other's sessions': {}",
                r.body
            );
            let r = a.send(&back, "POST", op).await;
            let r2 = a.send(&back, "GET", "/read").await;
            let kept_data = op == "/restart/1" || r2.body.contains("|n=1|");
            if !alive(&r2) || !kept_data {
                failures.push(format!("back office {op} {delay}s after the shop's 'log out other devices' of the same user: {} {:?} -> next request {}", r.status, r.cookie.map(|c| c.raw), r2.body));
            }
        }
    }
    // the same on PostgreSQL, when configured
    if let (Some(p1), Some(p2)) = (
        stores::postgres("outsider_types").await,
        stores::postgres("outsider_types").await,
    ) {
        let clock = TestClock::new();
        let u = u64::from(std::process::id()) * 10 + 7_000_000;
        let shop =
            app_for!(Sv).layer(SessionLayer::<Sv>::with_store(key(), p1).with_clock(clock.clone()));
        let back = app_for!(Adm)
            .layer(SessionLayer::<Adm>::with_store(key(), p2).with_clock(clock.clone()));
        let mut s = Browser::new("__Host-sv");
        let mut a = Browser::new("__Host-adm");
        s.send(&shop, "POST", &format!("/login/{u}")).await;
        a.send(&back, "POST", &format!("/login/{u}")).await;
        a.send(&back, "POST", "/n").await;
        clock.advance(secs(3));
        s.send(&shop, "POST", "/revoke/true").await;
        clock.advance(secs(H));
        let r = a.send(&back, "POST", "/cycle").await;
        let r2 = a.send(&back, "GET", "/read").await;
        if !alive(&r2) {
            failures.push(format!("postgres: back office /cycle an hour after the shop's 'log out other devices': {:?} -> {}", r.cookie.map(|c| c.raw), r2.body));
        }
    }
    assert!(
        failures.is_empty(),
        "'two session types sharing a store (a shop's user_s, a back office's admin_s) never list or revoke each other's sessions':\n{}",
        failures.join("\n")
    );
}

/// The layer's own validation: a refresh interval equal to the lifetime is accepted, and then an
/// active session expires anyway.
#[tokio::test]
async fn p49_refresh_after_equal_to_lifetime() {
    // found by this probe: equal was accepted and ended sessions in use
    let equal = SessionLayer::<Ck>::new(key())
        .with_lifetime(secs(30 * M))
        .unwrap()
        .with_refresh_after(secs(30 * M));
    assert!(
        equal.is_err(),
        "'more than half the lifetime is a ConfigError': a refresh interval equal to the lifetime"
    );
    let clock = TestClock::new();
    let mut failures = Vec::new();
    for (kind, name, app) in apps!(clock, |l| l
        .with_lifetime(secs(30 * M))
        .unwrap()
        .with_refresh_after(secs(15 * M))
        .unwrap())
    {
        let mut b = Browser::new(name);
        b.send(&app, "POST", "/login/1").await;
        for i in 0..24 {
            clock.advance(secs(5 * M));
            let r = b.send(&app, "GET", "/read").await;
            if !alive(&r) {
                failures.push(format!("{kind}: lifetime 30 min, with_refresh_after(15 min), read every 5 min: ended at {} min", (i + 1) * 5));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "'a session used at least every half lifetime never expires':\n{}",
        failures.join("\n")
    );
}

/// Max-Age of a login right after a revocation of the user: issued after
/// it, so at most the lifetime plus the revocation's clock tolerance.
#[tokio::test]
async fn p50_max_age_of_login_after_revocation() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-ma-{}.db", std::process::id()));
    let (a, _b) = two_server_apps(&path, &clock, &clock).await;
    let (c, _d) = two_cookie_apps(&path.with_extension("ck.db"), &clock, &clock).await;
    for (kind, app, name) in [("server", a, "__Host-sv"), ("cookie", c, "__Host-ck")] {
        let mut x = Browser::new(name);
        x.send(&app, "POST", "/login/1").await;
        clock.advance(secs(2));
        x.send(&app, "POST", "/revoke/false").await;
        clock.advance(secs(30));
        let mut y = Browser::new(name);
        let r = y.send(&app, "POST", "/login/1").await;
        eprintln!(
            "{kind}: Max-Age of a login 30 s after a revocation: {:?} (lifetime 604800)",
            r.max_age()
        );
        assert!(
            r.max_age().is_some_and(|m| m <= 604_800 + 300),
            "{kind}: Max-Age beyond the lifetime plus REVOCATION_CLOCK_TOLERANCE: {:?}",
            r.max_age()
        );
    }
}

/// Session fixation under a race: a login racing a write on the old (planted) ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p51_login_racing_write_on_old_id() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-fix-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut apps = apps!(clock, |l| l);
    apps.retain(|a| a.0 == "server");
    apps.push((
        "server/sqlite",
        "__Host-sv",
        app_for!(Sv).layer(
            SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
                .with_clock(clock.clone()),
        ),
    ));
    for (kind, name, app) in &apps {
        for round in 0..20 {
            let mut planted = Browser::new(name);
            planted.send(app, "POST", "/n").await; // the attacker's anonymous session
            let (mut victim, mut attacker) = (planted.clone(), planted.clone());
            let (rv, _ra) = tokio::join!(
                victim.send(app, "POST", "/login/77"),
                attacker.send(app, "POST", "/m")
            );
            assert!(rv.sets(), "{kind}");
            let mut again = planted.clone();
            let r = again.send(app, "GET", "/read").await;
            assert!(
                !r.body.contains("Some(77)"),
                "{kind} round {round}: 'a change of the user field: a new ID server-side ... against fixation': the planted ID is logged in as the victim: {}",
                r.body
            );
            let r = attacker.send(app, "GET", "/read").await;
            assert!(
                !r.body.contains("Some(77)"),
                "{kind} round {round}: the attacker's jar after the race: {}",
                r.body
            );
        }
    }
}

/// revoke_device racing a write by the revoked device: no resurrection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p52_revoke_device_racing_its_write() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-rdw-{}.db", std::process::id()));
    let (a, b) = two_server_apps(&path, &clock, &clock).await;
    let name = "__Host-sv";
    for round in 0..20 {
        let u = 500 + round;
        let mut me = Browser::new(name);
        let mut lost = Browser::new(name);
        me.send(&a, "POST", &format!("/login/{u}")).await;
        lost.send(&b, "POST", &format!("/login/{u}")).await;
        let list = lost.send(&b, "GET", "/devices").await.body;
        let tag = list
            .split(',')
            .find(|d| d.ends_with(":true"))
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned();
        let uri = format!("/revoke_device/{tag}");
        let (_r1, _r2) = tokio::join!(me.send(&a, "POST", &uri), lost.send(&b, "POST", "/n"));
        let r = lost.send(&b, "GET", "/read").await;
        assert!(
            !r.body.contains(&format!("Some({u})")),
            "round {round}: 'no resurrection: a save ... never brings back a session another request terminated': {}",
            r.body
        );
    }
}

/// Header clients: log out other devices and key rotation stay on the header.
#[tokio::test]
async fn p53_header_client_revoke_and_rotation() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-hdr-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let a = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(key(), stores::sqlite_at(&path).await)
            .with_token_header("x-session")
            .unwrap()
            .with_clock(clock.clone()),
    );
    let ring = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(
            KeyRing::new(key_from(8)).with_previous(key()),
            stores::sqlite_at(&path).await,
        )
        .with_token_header("x-session")
        .unwrap()
        .with_clock(clock.clone()),
    );
    let new = app_for!(Sv).layer(
        SessionLayer::<Sv>::with_store(key_from(8), stores::sqlite_at(&path).await)
            .with_token_header("x-session")
            .unwrap()
            .with_clock(clock.clone()),
    );
    let name = "__Host-sv";
    let mut h = Browser::header_client(name, "x-session");
    let mut other = Browser::new(name);
    h.send(&a, "POST", "/login/1").await;
    other.send(&a, "POST", "/login/1").await;
    clock.advance(secs(2));
    let before = h.header.clone().unwrap().1;
    let r = h.send(&a, "POST", "/revoke/true").await;
    assert_eq!(r.set_cookie_count, 0, "header client: never a cookie");
    assert!(
        r.hdr("x-session")
            .is_some_and(|t| !t.is_empty() && t != before),
        "revoke(true) on a header client: the new ID in the header: {:?}",
        r.hdr("x-session")
    );
    assert!(alive(&h.send(&a, "GET", "/read").await));
    assert!(
        other
            .send(&a, "GET", "/read")
            .await
            .body
            .contains("|new=true|")
    );
    let r = h.send(&ring, "POST", "/n").await;
    assert_eq!(r.set_cookie_count, 0);
    let r = h.send(&new, "GET", "/read").await;
    assert!(
        alive(&r),
        "a header token written under the ring survives retiring the old key: {}",
        r.body
    );
}

/// The device list after cycle_id, a login and restart(): one entry per live session.
#[tokio::test]
async fn p54_device_list_has_no_stale_entries() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-list-{}.db", std::process::id()));
    let (a, b) = two_server_apps(&path, &clock, &clock).await;
    let name = "__Host-sv";
    let mut x = Browser::new(name);
    x.send(&a, "POST", "/login/1").await;
    for op in [
        "/cycle",
        "/restart/1",
        &format!("/remember/{}", 30 * D),
        "/cycle",
    ] {
        clock.advance(secs(1));
        x.send(&a, "POST", op).await;
        let list = x.send(&b, "GET", "/devices").await.body;
        assert_eq!(
            list.split(',').count(),
            1,
            "after {op}: one live session, one device: {list}"
        );
        assert!(list.ends_with(":true"), "{list}");
    }
    x.send(&a, "POST", "/logout").await;
    let mut y = Browser::new(name);
    y.send(&b, "POST", "/login/1").await;
    let list = y.send(&b, "GET", "/devices").await.body;
    assert_eq!(list.split(',').count(), 1, "after logout: {list}");
}

/// revoke_device ends one device only: the others keep working, cycle_id included.
#[tokio::test]
async fn p55_revoke_device_does_not_revoke_the_rest() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-rd1-{}.db", std::process::id()));
    let (a, b) = two_server_apps(&path, &clock, &clock).await;
    let name = "__Host-sv";
    let (mut x, mut y, mut z) = (Browser::new(name), Browser::new(name), Browser::new(name));
    x.send(&a, "POST", "/login/1").await;
    y.send(&a, "POST", "/login/1").await;
    z.send(&b, "POST", "/login/1").await;
    y.send(&a, "POST", "/n").await;
    let list = z.send(&b, "GET", "/devices").await.body;
    let tag = list
        .split(',')
        .find(|d| d.ends_with(":true"))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    clock.advance(secs(2));
    let r = x.send(&a, "POST", &format!("/revoke_device/{tag}")).await;
    assert!(r.body.contains("true"));
    clock.advance(secs(60));
    for op in ["/cycle", "/revoke/true"] {
        let r = y.send(&b, "POST", op).await;
        let r2 = y.send(&b, "GET", "/read").await;
        assert!(
            alive(&r2) && r2.body.contains("|n=1|"),
            "'revoke_device(tag) ends one session': another device's {op} afterwards: {:?} -> {}",
            r.cookie.map(|c| c.raw),
            r2.body
        );
    }
}

/// After "log out other devices", the kept session's next cycle_id (a privilege change) keeps it.
#[tokio::test]
async fn p56_cycle_after_own_revocation() {
    for variant in ["server", "cookie"] {
        for delay in [0, 10, 60, 299, 301, 3600] {
            let clock = TestClock::new();
            let path = std::env::temp_dir().join(format!(
                "outsider-coar-{variant}-{delay}-{}.db",
                std::process::id()
            ));
            let (a, b) = if variant == "server" {
                two_server_apps(&path, &clock, &clock).await
            } else {
                two_cookie_apps(&path, &clock, &clock).await
            };
            let name = if variant == "server" {
                "__Host-sv"
            } else {
                "__Host-ck"
            };
            let mut x = Browser::new(name);
            x.send(&a, "POST", "/login/1").await;
            x.send(&a, "POST", "/n").await;
            clock.advance(secs(2));
            x.send(&a, "POST", "/revoke/true").await;
            clock.advance(secs(delay));
            for op in ["/cycle", "/login/1", "/cycle"] {
                let r = x.send(&b, "POST", op).await;
                let r2 = x.send(&a, "GET", "/read").await;
                assert!(
                    alive(&r2) && r2.body.contains("|n=1|"),
                    "{variant}: {op} {delay}s after its own 'log out other devices': {:?} -> {}",
                    r.cookie.map(|c| c.raw),
                    r2.body
                );
            }
        }
    }
}

/// An explicit absolute timeout shorter than the lifetime; a short own lifetime ends when idle.
#[tokio::test]
async fn p57_short_absolute_and_short_own_lifetime() {
    let clock = TestClock::new();
    for (kind, name, app) in apps!(clock, |l| l.with_absolute_timeout(secs(D)).unwrap()) {
        let mut b = Browser::new(name);
        let r = b.send(&app, "POST", "/login/1").await;
        eprintln!(
            "{kind}: Max-Age at login with lifetime 7 d, absolute 1 d: {:?}",
            r.max_age()
        );
        assert!(
            r.max_age().is_some_and(|m| m <= D as i64),
            "{kind}: a cookie outliving its absolute timeout: {:?}",
            r.max_age()
        );
        for _ in 0..3 {
            clock.advance(secs(6 * H));
            assert!(alive(&b.send(&app, "GET", "/read").await), "{kind}");
        }
        clock.advance(secs(7 * H));
        let r = b.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: with_absolute_timeout(1 day) under a 7-day lifetime: 25 h after login: {}",
            r.body
        );
        let mut c = Browser::new(name);
        c.send(&app, "POST", "/login/2").await;
        c.send(&app, "POST", &format!("/lifetime/{H}")).await;
        clock.advance(secs(H + M));
        let r = c.send(&app, "GET", "/read").await;
        assert!(
            r.body.contains("|new=true|"),
            "{kind}: set_lifetime(1 h), idle 61 min: {}",
            r.body
        );
        let mut d = Browser::new(name);
        d.send(&app, "POST", "/login/3").await;
        let r = d.send(&app, "POST", &format!("/remember/{}", 60 * D)).await;
        eprintln!(
            "{kind}: remember 60 d under with_absolute_timeout(1 d): Max-Age {:?}",
            r.max_age()
        );
        clock.advance(secs(D + H));
        let r = d.send(&app, "GET", "/read").await;
        eprintln!(
            "{kind}: remembered 60 d, explicit absolute 1 d, 25 h later: {}",
            r.body
        );
    }
}

/// An anonymous session (a cart) from before a revocation logs in after it: a fresh login.
#[tokio::test]
async fn p58_anonymous_before_revocation_logs_in_after() {
    for variant in ["server", "cookie"] {
        for delay in [1, 60, 3600] {
            let clock = TestClock::new();
            let path = std::env::temp_dir().join(format!(
                "outsider-anon-{variant}-{delay}-{}.db",
                std::process::id()
            ));
            let (a, b) = if variant == "server" {
                two_server_apps(&path, &clock, &clock).await
            } else {
                two_cookie_apps(&path, &clock, &clock).await
            };
            let name = if variant == "server" {
                "__Host-sv"
            } else {
                "__Host-ck"
            };
            let mut cart = Browser::new(name);
            cart.send(&a, "POST", "/n").await;
            let mut x = Browser::new(name);
            x.send(&b, "POST", "/login/1").await;
            clock.advance(secs(2));
            x.send(&b, "POST", "/revoke/false").await;
            clock.advance(secs(delay));
            let r = cart.send(&a, "POST", "/login/1").await;
            assert!(r.sets(), "{variant}");
            clock.advance(secs(1));
            let r = cart.send(&b, "GET", "/read").await;
            assert!(
                alive(&r) && r.body.contains("|n=1|") && r.body.contains("Some(1)"),
                "{variant}: an anonymous cart from before the revocation, logged in {delay}s after it: 'logins after it are issued after it': {}",
                r.body
            );
            let r = cart.send(&a, "POST", "/cycle").await;
            let r2 = cart.send(&b, "GET", "/read").await;
            assert!(
                alive(&r2),
                "{variant}: and its cycle_id: {:?} {}",
                r.cookie.map(|c| c.raw),
                r2.body
            );
        }
    }
}

/// The kept session of "log out other devices" keeps its cookie kind.
#[tokio::test]
async fn p59_kept_session_keeps_cookie_kind() {
    let clock = TestClock::new();
    let path = std::env::temp_dir().join(format!("outsider-keepkind-{}.db", std::process::id()));
    let (a, _b) = two_server_apps(&path, &clock, &clock).await;
    let (c, _d) = two_cookie_apps(&path.with_extension("ck.db"), &clock, &clock).await;
    for (kind, app, name) in [("server", a, "__Host-sv"), ("cookie", c, "__Host-ck")] {
        let mut x = Browser::new(name);
        x.send(&app, "POST", "/login/1").await;
        x.send(&app, "POST", &format!("/remember/{}", 30 * D)).await;
        clock.advance(secs(5));
        let r = x.send(&app, "POST", "/revoke/true").await;
        assert!(r.sets(), "{kind}");
        assert!(
            r.max_age().is_some_and(|m| m >= 30 * D as i64 - 10),
            "{kind}: the kept remembered session keeps its Max-Age: {:?}",
            r.cookie
        );
        let mut y = Browser::new(name);
        y.send(&app, "POST", "/login/2").await;
        y.send(&app, "POST", "/browser").await;
        clock.advance(secs(5));
        let r = y.send(&app, "POST", "/revoke/true").await;
        assert!(r.sets(), "{kind}");
        assert_eq!(
            r.max_age(),
            None,
            "{kind}: the kept browser-session cookie stays one: {:?}",
            r.cookie
        );
    }
}
