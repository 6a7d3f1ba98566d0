//! Logging in: a change of the `#[session(user)]` field gives the session a
//! new identity by itself (a new ID server-side, a new issue time in a
//! cookie), so a handler that forgets `cycle_id` cannot fixate a session;
//! and `Session::restart` starts the new user from a fresh session, so
//! nothing of the previous user's survives unless the handler carries it.

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use session_runtime::{MemoryStore, Mode, Sealer, Session, SessionLayer};
use sessionkit_tests::TestClock;
use sessionkit_tests::http::send;
use sessionkit_tests::key;
use std::time::Duration;

/// Server-side: the cookie carries a signed ID.
#[derive(Session, Default, Debug)]
#[session(cookie = "member", storage = "server")]
struct Member {
    #[session(user)]
    user: Option<u64>,
    cart: Vec<u32>,
    admin: bool,
}

/// In a sealed cookie.
#[derive(Session, Default, Debug)]
#[session(cookie = "badge")]
struct Badge {
    #[session(user)]
    user: Option<u64>,
    theme: u8,
}

fn member_app() -> Router {
    Router::new()
        .route(
            "/show",
            get(|m: Session<Member>| async move {
                format!("{:?} {:?} {}", m.user(), m.cart(), m.admin())
            }),
        )
        .route(
            "/add/{item}",
            post(|mut m: Session<Member>, Path(item): Path<u32>| async move {
                m.cart_mut().push(item);
                "ok"
            }),
        )
        .route(
            // the careless login: no cycle_id
            "/login/{user}",
            post(|mut m: Session<Member>, Path(user): Path<u64>| async move {
                m.set_user(Some(user));
                "ok"
            }),
        )
        .route(
            // the documented login: a fresh session, an anonymous cart kept
            "/login-fresh/{user}",
            post(|mut m: Session<Member>, Path(user): Path<u64>| async move {
                let before = m.restart();
                m.set_user(Some(user));
                if before.user.is_none() {
                    m.set_cart(before.cart);
                }
                "ok"
            }),
        )
        .route(
            "/grant",
            post(|mut m: Session<Member>| async move {
                m.set_admin(true);
                "ok"
            }),
        )
        .layer(SessionLayer::<Member>::with_store(
            key(),
            MemoryStore::default(),
        ))
}

#[tokio::test]
async fn a_login_without_cycle_id_still_takes_a_new_id() {
    let app = member_app();
    let anonymous = send(&app, "POST", "/add/7", None).await.set_cookie.unwrap();
    let login = send(
        &app,
        "POST",
        "/login/5",
        Some(("__Host-member", &anonymous)),
    )
    .await;
    let logged_in = login
        .set_cookie
        .expect("a new ID for the logged-in session");
    assert_ne!(logged_in, anonymous, "the ID changed at login");
    let show = send(&app, "GET", "/show", Some(("__Host-member", &logged_in))).await;
    assert_eq!(show.body, "Some(5) [7] false", "same data, new ID");
    // the ID from before the login (which an attacker may have planted)
    // no longer opens anything
    let planted = send(&app, "GET", "/show", Some(("__Host-member", &anonymous))).await;
    assert_eq!(planted.body, "None [] false");
    // switching user rotates again
    let switched = send(
        &app,
        "POST",
        "/login/6",
        Some(("__Host-member", &logged_in)),
    )
    .await;
    let switched = switched.set_cookie.expect("a new ID for another user");
    assert_ne!(switched, logged_in);
    let old = send(&app, "GET", "/show", Some(("__Host-member", &logged_in))).await;
    assert_eq!(old.body, "None [] false");
    // a write that keeps the user keeps the ID
    let same = send(&app, "POST", "/add/8", Some(("__Host-member", &switched))).await;
    assert_eq!(same.set_cookie, None, "no new ID without a change of user");
}

#[tokio::test]
async fn restart_keeps_nothing_of_another_user() {
    let app = member_app();
    // an anonymous cart carries over into a login, by the handler's choice
    let anonymous = send(&app, "POST", "/add/3", None).await.set_cookie.unwrap();
    let five = send(
        &app,
        "POST",
        "/login-fresh/5",
        Some(("__Host-member", &anonymous)),
    )
    .await
    .set_cookie
    .unwrap();
    assert_ne!(five, anonymous);
    let show = send(&app, "GET", "/show", Some(("__Host-member", &five))).await;
    assert_eq!(show.body, "Some(5) [3] false");
    let five = send(&app, "POST", "/grant", Some(("__Host-member", &five)))
        .await
        .set_cookie
        .unwrap_or(five);
    let six = send(
        &app,
        "POST",
        "/login-fresh/6",
        Some(("__Host-member", &five)),
    )
    .await
    .set_cookie
    .unwrap();
    let show = send(&app, "GET", "/show", Some(("__Host-member", &six))).await;
    assert_eq!(
        show.body, "Some(6) [] false",
        "user 6 inherits neither user 5's cart nor admin flag"
    );
    let gone = send(&app, "GET", "/show", Some(("__Host-member", &five))).await;
    assert_eq!(gone.body, "None [] false", "user 5's session ended");
}

#[tokio::test]
async fn a_cookie_session_takes_a_new_issue_time_when_its_user_changes() {
    let clock = TestClock::new();
    let app = Router::new()
        .route(
            "/theme/{theme}",
            post(|mut b: Session<Badge>, Path(theme): Path<u8>| async move {
                b.set_theme(theme);
                "ok"
            }),
        )
        .route(
            "/login/{user}",
            post(|mut b: Session<Badge>, Path(user): Path<u64>| async move {
                b.set_user(Some(user));
                "ok"
            }),
        )
        .layer(SessionLayer::<Badge>::new(key()).with_clock(clock.clone()));
    let issued_at = |value: &str| {
        Sealer::new(key(), Mode::Encrypted)
            .inspect("__Host-badge", value)
            .or_else(|_| Sealer::new(key(), Mode::Encrypted).inspect("__Host-badge", value))
            .unwrap()
            .meta
            .issued_at
    };
    let name = "__Host-badge";
    let first = send(&app, "POST", "/theme/1", None)
        .await
        .set_cookie
        .unwrap();
    let started = issued_at(&first);
    clock.advance(Duration::from_secs(100));
    let themed = send(&app, "POST", "/theme/2", Some((name, &first)))
        .await
        .set_cookie
        .unwrap();
    assert_eq!(
        issued_at(&themed),
        started,
        "a plain write keeps the issue time"
    );
    clock.advance(Duration::from_secs(100));
    let login = send(&app, "POST", "/login/9", Some((name, &themed)))
        .await
        .set_cookie
        .unwrap();
    assert_eq!(
        issued_at(&login),
        clock.secs(),
        "a login starts a new identity: the absolute timeout and revocations count from it"
    );
}
