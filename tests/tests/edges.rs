//! Edges found from outside: inputs, orders and races an attacker or a
//! careless user may try, each asserting what the README promises (a login
//! right after a revocation, clocks that differ or step back, Basic auth in
//! front of a token-header layer, settings that contradict each other, two
//! devices revoking each other at once, failure bodies, cache headers on
//! both frameworks). Each was written by someone who had not read the code,
//! and the failing ones became these regression tests.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};
use session_runtime::{MemoryStore, Session, SessionLayer, StoreError};
use sessionkit_tests::http::send_with;
use sessionkit_tests::key;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: u64 = 24 * 3600;

/// A clock that can be set anywhere, backwards included.
#[derive(Clone, Debug)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn at(secs: u64) -> Self {
        Self(Arc::new(AtomicU64::new(secs)))
    }
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    fn set(&self, secs: u64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl session_runtime::Clock for Clock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

const T0: u64 = 1_800_000_000;

// ---------------------------------------------------------------------------
// A cookie session with a user, and per-user revocation times.

#[derive(Session, Default, Debug)]
#[session(cookie = "badge")]
struct Badge {
    #[session(user)]
    user: Option<u64>,
    theme: u8,
}

const BADGE: &str = "__Host-badge";

fn badge_app(layer: SessionLayer<Badge>) -> Router {
    badge_routes().layer(layer)
}

/// `GET /show`, the two logins and log out everywhere, without a layer.
fn badge_routes() -> Router {
    Router::new()
        .route(
            "/show",
            get(|b: Session<Badge>| async move { format!("{:?}", b.user()) }),
        )
        .route(
            // the careless login: set the user, nothing else
            "/login/{user}",
            post(|mut b: Session<Badge>, Path(user): Path<u64>| async move {
                b.set_user(Some(user));
                "ok"
            }),
        )
        .route(
            // the documented login: Session::restart, then the user
            "/login-fresh/{user}",
            post(|mut b: Session<Badge>, Path(user): Path<u64>| async move {
                let _ = b.restart();
                b.set_user(Some(user));
                "ok"
            }),
        )
        .route(
            "/logout-everywhere",
            post(|mut b: Session<Badge>| async move {
                let ended = b.revoke_user_sessions(false).await?;
                Ok::<_, StoreError>(ended.to_string())
            }),
        )
}

fn badge_layer(clock: &Clock, revocations: Arc<MemoryStore>) -> SessionLayer<Badge> {
    SessionLayer::<Badge>::new(key())
        .with_user_revocation(revocations)
        .with_clock(clock.clone())
}

/// README: "Any session of a user issued anew — a login, a `cycle_id` — is
/// checked against the user's time before it is sealed", and `restart()`
/// is *the* login call. A login made with `restart()` in the same second as
/// a "log out everywhere" must give a session that works.
#[tokio::test]
async fn a_restart_login_right_after_a_revocation_is_not_logged_out() {
    let clock = Clock::at(T0);
    let app = badge_app(badge_layer(&clock, Arc::new(MemoryStore::default())));
    let a = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let cookie_a = format!("{BADGE}={a}");
    let out = send_with(&app, "POST", "/logout-everywhere", &[("cookie", &cookie_a)]).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);

    // control: the careless login (set_user alone) is put after the revocation
    let plain = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let show = send_with(
        &app,
        "GET",
        "/show",
        &[("cookie", &format!("{BADGE}={plain}"))],
    )
    .await;
    assert_eq!(show.body, "Some(5)", "set_user login after a revocation");

    // the documented login, in the same second
    let fresh = send_with(&app, "POST", "/login-fresh/5", &[])
        .await
        .set_cookie
        .unwrap();
    let show = send_with(
        &app,
        "GET",
        "/show",
        &[("cookie", &format!("{BADGE}={fresh}"))],
    )
    .await;
    assert_eq!(
        show.body, "Some(5)",
        "a login through Session::restart() right after a revocation is refused on its next request \
         (it was sealed at the revocation's second, not after it)"
    );
}

/// Same, with the revocation time pushed past `now` by two revocations in
/// one second ("one past the time kept"): a `restart()` login then is
/// sealed before the revocation time and is dead on arrival.
#[tokio::test]
async fn a_restart_login_after_two_revocations_in_one_second_is_not_logged_out() {
    let clock = Clock::at(T0);
    let app = badge_app(badge_layer(&clock, Arc::new(MemoryStore::default())));
    for _ in 0..2 {
        let a = send_with(&app, "POST", "/login/5", &[])
            .await
            .set_cookie
            .unwrap();
        let out = send_with(
            &app,
            "POST",
            "/logout-everywhere",
            &[("cookie", &format!("{BADGE}={a}"))],
        )
        .await;
        assert_eq!(out.status, StatusCode::OK);
    }
    clock.advance(1); // the next second: now equals the revocation time
    let fresh = send_with(&app, "POST", "/login-fresh/5", &[])
        .await
        .set_cookie
        .unwrap();
    let show = send_with(
        &app,
        "GET",
        "/show",
        &[("cookie", &format!("{BADGE}={fresh}"))],
    )
    .await;
    assert_eq!(
        show.body, "Some(5)",
        "a restart() login one second after two revocations is refused on its next request"
    );
}

/// README: "with `with_user_revocation(store)`, every session of the user
/// issued up to now is refused on its next request, copies included", and
/// "several processes over one database are the normal case". Two
/// processes share the revocation store; one's clock is two minutes ahead
/// (or the clock steps back after an NTP correction). A copy issued there
/// one (real) second before the revocation must be refused.
#[tokio::test]
async fn a_revocation_covers_a_copy_issued_by_a_process_whose_clock_runs_ahead() {
    let revocations = Arc::new(MemoryStore::default());
    let ahead = Clock::at(T0 + 120);
    let behind = Clock::at(T0);
    let app_ahead = badge_app(badge_layer(&ahead, Arc::clone(&revocations)));
    let app_behind = badge_app(badge_layer(&behind, Arc::clone(&revocations)));

    // the thief's copy, issued by the process that runs ahead
    let copy = send_with(&app_ahead, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let copy = format!("{BADGE}={copy}");
    assert_eq!(
        send_with(&app_behind, "GET", "/show", &[("cookie", &copy)])
            .await
            .body,
        "Some(5)"
    );

    // the victim logs out everywhere on the other process
    let mine = send_with(&app_behind, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let out = send_with(
        &app_behind,
        "POST",
        "/logout-everywhere",
        &[("cookie", &format!("{BADGE}={mine}"))],
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);

    for (name, app) in [("behind", &app_behind), ("ahead", &app_ahead)] {
        let show = send_with(app, "GET", "/show", &[("cookie", &copy)]).await;
        assert_eq!(
            show.body, "None",
            "a copy issued 'in the future' of the revoking process survives log out everywhere (served by the {name} process)"
        );
    }
}

/// One process whose clock steps back (NTP) between a login and the
/// revocation: the session issued before the step survives the revocation.
#[tokio::test]
async fn a_revocation_after_the_clock_steps_back_covers_earlier_sessions() {
    let clock = Clock::at(T0 + 300);
    let app = badge_app(badge_layer(&clock, Arc::new(MemoryStore::default())));
    let copy = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let copy = format!("{BADGE}={copy}");
    clock.set(T0); // corrected by 5 minutes
    let mine = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let out = send_with(
        &app,
        "POST",
        "/logout-everywhere",
        &[("cookie", &format!("{BADGE}={mine}"))],
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    let show = send_with(&app, "GET", "/show", &[("cookie", &copy)]).await;
    assert_eq!(
        show.body, "None",
        "a session issued before the revocation (before the clock stepped back) survives it"
    );
}

/// The docs of `with_user_revocation`: "The store timeout is the layer's
/// whatever the order of the calls (`with_store_timeout` before or after
/// this one)". On a cookie layer, "before" is refused.
#[test]
fn store_timeout_before_user_revocation_is_accepted_on_a_cookie_layer() {
    let after = SessionLayer::<Badge>::new(key())
        .with_user_revocation(MemoryStore::default())
        .with_store_timeout(Duration::from_millis(50));
    assert!(after.is_ok(), "after: {:?}", after.err());
    let before = SessionLayer::<Badge>::new(key()).with_store_timeout(Duration::from_millis(50));
    assert!(
        before.is_ok(),
        "with_store_timeout before with_user_revocation on a cookie layer: {:?}",
        before.err().map(|e| e.to_string())
    );
}

// ---------------------------------------------------------------------------
// Lifetimes and their configuration.

#[derive(Session, Default, Debug)]
#[session(cookie = "visits")]
struct Visits {
    count: u32,
}

const VISITS: &str = "__Host-visits";

fn visits_app(layer: SessionLayer<Visits>) -> Router {
    Router::new()
        .route(
            "/visit",
            post(|mut v: Session<Visits>| async move {
                *v.count_mut() += 1;
                v.count().to_string()
            }),
        )
        .route(
            "/read",
            get(|v: Session<Visits>| async move {
                if v.is_new() {
                    "new".to_owned()
                } else {
                    v.count().to_string()
                }
            }),
        )
        .layer(layer)
}

/// Browses `/read` every `step` seconds for `total` seconds, keeping the
/// cookie the layer hands back; the last answer and when it changed to
/// "new" (seconds after the start), if it did.
async fn browse(app: &Router, clock: &Clock, cookie: String, step: u64, total: u64) -> Option<u64> {
    let mut cookie = cookie;
    let mut elapsed = 0;
    while elapsed < total {
        clock.advance(step);
        elapsed += step;
        let reply = send_with(
            app,
            "GET",
            "/read",
            &[("cookie", &format!("{VISITS}={cookie}"))],
        )
        .await;
        if reply.body == "new" {
            return Some(elapsed);
        }
        if let Some(fresh) = reply.set_cookie {
            cookie = fresh;
        }
    }
    None
}

/// README: "`without_absolute_timeout()` lifts it (up to the 400-day
/// cap)"; docs: "Lets a session that keeps being used live until its
/// 400-day cap (MAX_LIFETIME)". A session used every two days must end
/// 400 days after its login.
#[tokio::test]
async fn without_absolute_timeout_a_session_still_ends_at_the_400_day_cap() {
    let clock = Clock::at(T0);
    let app = visits_app(
        SessionLayer::<Visits>::new(key())
            .without_absolute_timeout()
            .with_clock(clock.clone()),
    );
    let cookie = send_with(&app, "POST", "/visit", &[])
        .await
        .set_cookie
        .unwrap();
    let ended = browse(&app, &clock, cookie, 2 * DAY, 420 * DAY).await;
    assert!(
        ended.is_some_and(|at| at <= 401 * DAY),
        "an active session without an absolute timeout outlives the 400-day cap: ended at {:?} days",
        ended.map(|at| at / DAY)
    );
}

/// README: the lifetime is an "idle timeout, refreshed at most every
/// quarter of it", and "other unsafe combinations ... are ConfigErrors.
/// Every change is checked against the whole configuration". A refresh
/// interval longer than the lifetime turns the idle timeout into a hard
/// one: a user active every day is logged out on day 7. Either the layer
/// refuses it (in any order of calls) or an active session keeps sliding.
#[test]
fn a_refresh_interval_longer_than_the_lifetime_is_refused_in_either_order() {
    let refresh_first = SessionLayer::<Visits>::new(key())
        .with_refresh_after(Duration::from_secs(3 * DAY))
        .and_then(|l| l.with_lifetime(Duration::from_secs(2 * DAY)));
    let lifetime_first = SessionLayer::<Visits>::new(key())
        .with_lifetime(Duration::from_secs(2 * DAY))
        .and_then(|l| l.with_refresh_after(Duration::from_secs(3 * DAY)));
    let over_default =
        SessionLayer::<Visits>::new(key()).with_refresh_after(Duration::from_secs(10 * DAY));
    for (what, built) in [
        ("refresh 3 d, then a 2-day lifetime", refresh_first),
        ("a 2-day lifetime, then refresh 3 d", lifetime_first),
        ("refresh 10 d on the default 7-day lifetime", over_default),
    ] {
        let err = built.expect_err(what);
        assert!(
            err.to_string().contains("refresh interval"),
            "{what}: {err}"
        );
    }
    // a refresh within the lifetime is fine
    assert!(
        SessionLayer::<Visits>::new(key())
            .with_refresh_after(Duration::from_secs(DAY))
            .is_ok()
    );
}

/// Passing probe: `set_lifetime` of 0 and 1 s clamp to 1 s, `Max-Age=1`,
/// and the session is gone two seconds later.
#[tokio::test]
async fn set_lifetime_of_zero_clamps_to_one_second() {
    let clock = Clock::at(T0);
    let app = Router::new()
        .route(
            "/short/{secs}",
            post(|mut v: Session<Visits>, Path(secs): Path<u64>| async move {
                *v.count_mut() += 1;
                v.set_lifetime(Duration::from_secs(secs));
                "ok"
            }),
        )
        .merge(visits_app_routes_only())
        .layer(SessionLayer::<Visits>::new(key()).with_clock(clock.clone()));
    for secs in [0, 1] {
        let reply = send_with(&app, "POST", &format!("/short/{secs}"), &[]).await;
        let line = reply.header("set-cookie").unwrap();
        assert!(line.contains("Max-Age=1"), "{secs}: {line}");
        let value = reply.set_cookie.unwrap();
        clock.advance(2);
        let read = send_with(
            &app,
            "GET",
            "/read",
            &[("cookie", &format!("{VISITS}={value}"))],
        )
        .await;
        assert_eq!(read.body, "new", "{secs}");
    }
}

fn visits_app_routes_only() -> Router {
    Router::new().route(
        "/read",
        get(|v: Session<Visits>| async move {
            if v.is_new() {
                "new".to_owned()
            } else {
                v.count().to_string()
            }
        }),
    )
}

// ---------------------------------------------------------------------------
// The token header.

fn header_visits_app(header_name: &str) -> Router {
    visits_app(
        SessionLayer::<Visits>::new(key())
            .with_token_header(header_name)
            .unwrap(),
    )
}

/// README: "`with_token_header("x-session")` ... (or `Authorization:
/// Session …` with "authorization"); ... a cookie request or one with no
/// token in the cookie alone". A browser behind HTTP Basic auth (or an
/// API gateway's Bearer) sends `Authorization` on every request: it
/// carries no session token, so the session must still come in a cookie,
/// and the `Authorization` value must not be echoed back as a token.
#[tokio::test]
async fn a_browser_behind_basic_auth_still_gets_its_session_cookie() {
    let app = header_visits_app("authorization");
    for credentials in [
        "Basic dXNlcjpwYXNzd29yZA==",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x",
    ] {
        let reply = send_with(&app, "POST", "/visit", &[("authorization", credentials)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.set_cookie.as_ref().is_some_and(|v| !v.is_empty()),
            "`Authorization: {}` without a session cookie: no Set-Cookie, the token went to a response header \
             `authorization: {:?}` (a browser never keeps it, so every request starts a new session)",
            credentials.split(' ').next().unwrap(),
            reply
                .header("authorization")
                .map(|v| v.chars().take(16).collect::<String>())
        );
    }
}

/// RFC 9110 §11.1: the authentication scheme is case-insensitive.
/// `authorization: session <token>` must open like `Session <token>`.
#[tokio::test]
async fn the_session_auth_scheme_is_case_insensitive() {
    let app = header_visits_app("authorization");
    let first = send_with(&app, "POST", "/visit", &[("authorization", "Session")]).await;
    let token = first
        .header("authorization")
        .expect("a token for an asking header client");
    assert!(!token.is_empty() && first.set_cookie.is_none());
    for scheme in ["Session", "session", "SESSION"] {
        let value = format!("{scheme} {token}");
        let read = send_with(&app, "GET", "/read", &[("authorization", &value)]).await;
        assert_eq!(read.body, "1", "`Authorization: {scheme} <token>`");
    }
}

/// Passing probe: `Authorization: Session` forms (extra spaces, bare
/// token, tab, quoted) and a header client and a cookie client on one
/// layer, interleaved: each answered only on its own channel.
#[tokio::test]
async fn header_and_cookie_clients_interleaved_stay_on_their_channels() {
    let app = header_visits_app("x-session");
    let h1 = send_with(&app, "POST", "/visit", &[("x-session", "")]).await;
    let header_token = h1.header("x-session").unwrap();
    assert!(
        h1.set_cookie.is_none(),
        "asked in the header, answered in the header alone"
    );
    let c1 = send_with(&app, "POST", "/visit", &[]).await;
    let cookie_token = c1.set_cookie.clone().unwrap();
    assert!(c1.header("x-session").is_none());
    assert_eq!(c1.header("vary").as_deref(), Some("cookie, x-session"));
    for _ in 0..3 {
        let h = send_with(&app, "POST", "/visit", &[("x-session", &header_token)]).await;
        assert!(
            h.set_cookie.is_none() && h.header("x-session").is_some(),
            "{:?}",
            h.headers
        );
        let c = send_with(
            &app,
            "POST",
            "/visit",
            &[("cookie", &format!("{VISITS}={cookie_token}"))],
        )
        .await;
        assert!(
            c.header("x-session").is_none() && c.set_cookie.is_some(),
            "{:?}",
            c.headers
        );
    }
    // a header token sent as a cookie, and the reverse, open the same
    let as_cookie = send_with(
        &app,
        "GET",
        "/read",
        &[("cookie", &format!("{VISITS}={header_token}"))],
    )
    .await;
    assert_eq!(as_cookie.body, "1");
    let as_header = send_with(&app, "GET", "/read", &[("x-session", &cookie_token)]).await;
    assert_eq!(as_header.body, "1");
    // both at once: the cookie wins, answered in the cookie
    let both = send_with(
        &app,
        "POST",
        "/visit",
        &[
            ("cookie", &format!("{VISITS}={cookie_token}")),
            ("x-session", &header_token),
        ],
    )
    .await;
    assert_eq!(both.body, "2");
    assert!(both.header("x-session").is_none());

    let auth = header_visits_app("authorization");
    let first = send_with(&auth, "POST", "/visit", &[("authorization", "Session   ")]).await;
    let token = first.header("authorization").unwrap();
    for value in [
        format!("Session   {token}  "),
        format!("session {token}"),
        format!("Session\t{token}"),
    ] {
        let read = send_with(&auth, "GET", "/read", &[("authorization", &value)]).await;
        assert_eq!(read.body, "1", "{value:?}");
    }
    // in Authorization the `Session` scheme is required: a bare token is
    // another scheme's credential, so the request is a cookie client's (a
    // fresh session, nothing in the response's Authorization header)
    for value in [token.clone(), format!("  {token}")] {
        let read = send_with(&auth, "GET", "/read", &[("authorization", &value)]).await;
        assert_eq!(
            (read.status, read.body.as_str()),
            (StatusCode::OK, "new"),
            "{value:?}"
        );
        assert_eq!(read.header("authorization"), None, "{value:?}");
    }
    // a quoted token is not ours: a fresh session, answered with an empty
    // header, never a 4xx/5xx
    let quoted = format!("Session \"{token}\"");
    let read = send_with(&auth, "GET", "/read", &[("authorization", &quoted)]).await;
    assert_eq!((read.status, read.body.as_str()), (StatusCode::OK, "new"));
    assert_eq!(read.header("authorization").as_deref(), Some(""));
}

#[derive(Session, Default, Debug)]
#[session(cookie = "vault", storage = "server")]
struct Vault {
    #[session(user)]
    user: Option<u64>,
    secret: u64,
}

const VAULT: &str = "__Host-vault";

fn vault_app(layer: SessionLayer<Vault>) -> Router {
    Router::new()
        .route(
            "/show",
            get(|v: Session<Vault>| async move { format!("{:?} {}", v.user(), v.secret()) }),
        )
        .route(
            "/set/{n}",
            post(|mut v: Session<Vault>, Path(n): Path<u64>| async move {
                v.set_secret(n);
                "ok"
            }),
        )
        .route(
            "/login-restart-cycle/{u}",
            post(|mut v: Session<Vault>, Path(u): Path<u64>| async move {
                let before = v.restart();
                v.set_user(Some(u));
                v.set_secret(before.secret);
                v.cycle_id();
                "ok"
            }),
        )
        .route(
            "/restart-terminate",
            post(|mut v: Session<Vault>| async move {
                let _ = v.restart();
                v.set_secret(99);
                v.terminate();
                "ok"
            }),
        )
        .layer(layer)
}

/// Passing probe: `HeaderAsked` on a server-only type answers a signed ID
/// in the header alone; `restart()` then `cycle_id()` in one handler and
/// `restart()` then `terminate()` end the old ID and leave nothing behind.
#[tokio::test]
async fn server_type_header_asked_restart_cycle_and_terminate() {
    let store = Arc::new(MemoryStore::default());
    let app = vault_app(
        SessionLayer::<Vault>::with_store(key(), Arc::clone(&store))
            .with_token_header("x-session")
            .unwrap(),
    );
    let asked = send_with(&app, "POST", "/set/7", &[("x-session", "")]).await;
    assert!(asked.set_cookie.is_none());
    let id = asked.header("x-session").unwrap();
    assert!(id.starts_with('C'), "a signed ID: {id}");
    let login = send_with(
        &app,
        "POST",
        "/login-restart-cycle/5",
        &[("x-session", &id)],
    )
    .await;
    let new_id = login.header("x-session").unwrap();
    assert_ne!(new_id, id);
    assert!(login.set_cookie.is_none());
    assert_eq!(
        send_with(&app, "GET", "/show", &[("x-session", &new_id)])
            .await
            .body,
        "Some(5) 7"
    );
    let old = send_with(&app, "GET", "/show", &[("x-session", &id)]).await;
    assert_eq!(old.body, "None 0");
    assert_eq!(
        old.header("x-session").as_deref(),
        Some(""),
        "a dead ID is cleared"
    );

    let end = send_with(
        &app,
        "POST",
        "/restart-terminate",
        &[("cookie", &format!("{VAULT}={new_id}"))],
    )
    .await;
    assert_eq!(end.set_cookie.as_deref(), Some(""), "expired");
    assert_eq!(
        send_with(&app, "GET", "/show", &[("x-session", &new_id)])
            .await
            .body,
        "None 0"
    );
}

// ---------------------------------------------------------------------------
// What clients see when things fail.

#[derive(Session, Default, Debug)]
#[session(cookie = "diary")]
struct Diary {
    #[session(user)]
    user: Option<u64>,
    secret_page_text: String,
}

/// README: 500 bodies are "short generic texts; the detail (fields, sizes,
/// type names, store messages) goes to the log". Every failure we can
/// cause, on axum.
#[tokio::test]
async fn failure_bodies_leak_nothing() {
    use sessionkit_tests::probe::Probe;
    let store = Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Diary>::with_store(key(), store.clone())
        .with_cookie_threshold(0)
        .unwrap()
        .with_max_size(64)
        .unwrap();
    let app = Router::new()
        .route(
            "/write/{n}",
            post(|mut d: Session<Diary>, Path(n): Path<usize>| async move {
                d.set_user(Some(1));
                d.set_secret_page_text("x".repeat(n));
                "ok"
            }),
        )
        .route(
            "/twice",
            get(|a: Session<Diary>, b: Session<Diary>| async move {
                format!("{}{}", a.is_new(), b.is_new())
            }),
        )
        .route(
            "/devices",
            get(|d: Session<Diary>| async move {
                let list = d.user_sessions().await?;
                Ok::<_, StoreError>(list.len().to_string())
            }),
        )
        .layer(layer);
    let cookie_app = Router::new()
        .route(
            "/revoke",
            post(|mut b: Session<Badge>| async move {
                b.set_user(Some(3));
                let n = b.revoke_user_sessions(false).await?;
                Ok::<_, StoreError>(n.to_string())
            }),
        )
        .layer(SessionLayer::<Badge>::new(key()));
    let missing = Router::new().route(
        "/x",
        get(|d: Session<Visits>| async move { d.count().to_string() }),
    );

    let ok = send_with(&app, "POST", "/write/10", &[]).await;
    let cookie = format!("__Host-diary={}", ok.set_cookie.unwrap());
    let mut replies = vec![
        (
            "over max_size",
            send_with(&app, "POST", "/write/500", &[]).await,
        ),
        (
            "extracted twice",
            send_with(&app, "GET", "/twice", &[]).await,
        ),
        (
            "revoke on a cookie layer",
            send_with(&cookie_app, "POST", "/revoke", &[]).await,
        ),
        ("no layer", send_with(&missing, "GET", "/x", &[]).await),
    ];
    store.set_down(true);
    replies.push((
        "store down at load",
        send_with(&app, "GET", "/devices", &[("cookie", &cookie)]).await,
    ));
    replies.push((
        "store down at save",
        send_with(&app, "POST", "/write/3", &[]).await,
    ));
    store.set_down(false);
    let banned = [
        "diary",
        "Diary",
        "secret_page_text",
        "probe",
        "memory",
        "Memory",
        "sqlite",
        "bytes",
        "64",
        "500",
        "::",
        "with_",
        "cookie",
        "Session<",
        "type",
        "Unsupported",
    ];
    let mut leaks = Vec::new();
    for (what, reply) in &replies {
        assert!(reply.status.is_server_error(), "{what}: {}", reply.status);
        for word in banned {
            if reply.body.contains(word) {
                leaks.push(format!(
                    "{what}: {} {:?} contains {word:?}",
                    reply.status, reply.body
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}

// ---------------------------------------------------------------------------
// Cache headers: actix-web and axum, same scenario.

/// README: one cache-header rule for both adapters. A read route whose
/// handler sets `Vary: Accept-Encoding` (twice, on two lines) and
/// `Cache-Control: public, max-age=60`, and a write route.
#[actix_rt::test]
async fn cache_headers_are_the_same_on_actix_and_axum() {
    use actix_web::{App, HttpResponse, web};
    use session_runtime::actix::SessionMiddleware;
    let layer = || {
        SessionLayer::<Visits>::new(key())
            .with_token_header("x-session")
            .unwrap()
    };
    let axum_app = Router::new()
        .route(
            "/read",
            get(|v: Session<Visits>| async move {
                (
                    axum::response::AppendHeaders([
                        (header::VARY, "Accept-Encoding"),
                        (header::VARY, "origin"),
                        (header::CACHE_CONTROL, "public, max-age=60"),
                    ]),
                    v.count().to_string(),
                )
            }),
        )
        .route(
            "/visit",
            post(|mut v: Session<Visits>| async move {
                *v.count_mut() += 1;
                ([(header::CACHE_CONTROL, "public, max-age=60")], "ok")
            }),
        )
        .layer(layer());
    let actix = actix_web::test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(layer()))
            .route(
                "/read",
                web::get().to(|v: Session<Visits>| async move {
                    HttpResponse::Ok()
                        .append_header(("vary", "Accept-Encoding"))
                        .append_header(("vary", "origin"))
                        .insert_header(("cache-control", "public, max-age=60"))
                        .body(v.count().to_string())
                }),
            )
            .route(
                "/visit",
                web::post().to(|mut v: Session<Visits>| async move {
                    *v.count_mut() += 1;
                    HttpResponse::Ok()
                        .insert_header(("cache-control", "public, max-age=60"))
                        .body("ok")
                }),
            ),
    )
    .await;
    let cookie = send_with(&axum_app, "POST", "/visit", &[])
        .await
        .set_cookie
        .unwrap();
    let cookie = format!("{VISITS}={cookie}");
    let mut differences = Vec::new();
    for (method, uri, headers) in [
        ("GET", "/read", vec![("cookie", cookie.as_str())]),
        ("GET", "/read", vec![]),
        ("POST", "/visit", vec![("cookie", cookie.as_str())]),
        ("POST", "/visit", vec![("x-session", "")]),
    ] {
        let ax = send_with(&axum_app, method, uri, &headers).await;
        let mut request = actix_web::test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri);
        for (name, value) in &headers {
            request = request.insert_header((*name, *value));
        }
        let response = actix_web::test::call_service(&actix, request.to_request()).await;
        let get_all = |name: &str| -> Vec<String> {
            response
                .headers()
                .get_all(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        let ax_all = |name: &str| -> Vec<String> {
            ax.headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        for name in ["vary", "cache-control"] {
            if get_all(name) != ax_all(name) {
                differences.push(format!(
                    "{method} {uri} {headers:?} {name}: axum {:?} actix {:?}",
                    ax_all(name),
                    get_all(name)
                ));
            }
        }
        let vary = ax_all("vary");
        assert_eq!(vary.len(), 1, "one Vary line: {vary:?}");
        assert!(!ax_all("cache-control").iter().any(|v| v.contains("public")));
    }
    assert!(differences.is_empty(), "{differences:#?}");
}

/// Passing probe. README: the session `revoke_user_sessions(true)` keeps
/// "is re-issued after its own revocation, unless another revocation
/// (another device, ...) already covered it or comes in before its
/// response: then it ends too". Two devices of one user call it at once
/// (both revocations land before either response): both end, and neither
/// response hands back a session that opens.
#[tokio::test]
async fn two_devices_logging_out_the_others_at_once_both_end() {
    use std::sync::atomic::AtomicUsize;
    let clock = Clock::at(T0);
    let arrived = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(MemoryStore::default());
    let app = {
        let waiting = Arc::clone(&arrived);
        badge_routes()
            .route(
                "/keep",
                post(move |mut b: Session<Badge>| {
                    let arrived = Arc::clone(&waiting);
                    async move {
                        // both sessions loaded (and checked) before either revokes
                        arrived.fetch_add(1, Ordering::SeqCst);
                        while arrived.load(Ordering::SeqCst) < 2 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        let n = b.revoke_user_sessions(true).await?;
                        arrived.fetch_add(1, Ordering::SeqCst);
                        while arrived.load(Ordering::SeqCst) < 4 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Ok::<_, StoreError>(n.to_string())
                    }
                }),
            )
            .layer(badge_layer(&clock, Arc::clone(&store)))
    };
    let a = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    let b = send_with(&app, "POST", "/login/5", &[])
        .await
        .set_cookie
        .unwrap();
    clock.advance(10);
    let (a_cookie, b_cookie) = (format!("{BADGE}={a}"), format!("{BADGE}={b}"));
    let (ha, hb) = (
        [("cookie", a_cookie.as_str())],
        [("cookie", b_cookie.as_str())],
    );
    let (ra, rb) = tokio::join!(
        send_with(&app, "POST", "/keep", &ha),
        send_with(&app, "POST", "/keep", &hb),
    );
    for (name, reply, old) in [("a", &ra, &a_cookie), ("b", &rb, &b_cookie)] {
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        if let Some(value) = reply.set_cookie.as_ref().filter(|v| !v.is_empty()) {
            let show = send_with(
                &app,
                "GET",
                "/show",
                &[("cookie", &format!("{BADGE}={value}"))],
            )
            .await;
            assert_eq!(show.body, "None", "{name}: a racing keep-this-one survived");
        }
        assert_eq!(
            send_with(&app, "GET", "/show", &[("cookie", old)])
                .await
                .body,
            "None",
            "{name} old"
        );
    }
}
