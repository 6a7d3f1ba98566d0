//! Log out everywhere: a user's sessions across browsers, listed and
//! revoked from a handler, on every store configuration; and a user with
//! 10,000 sessions revoked in bounded batches through the store API.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::id::SessionId;
use session_runtime::{
    Entry, MemoryStore, Mode, RevocationTimes, Sealer, Session, SessionLayer, StoreError, Tiered,
    UserIndex,
};
use sessionkit_tests::TestClock;
use sessionkit_tests::http::send;
use sessionkit_tests::key;
use sessionkit_tests::stores;

const COOKIE: &str = "__Host-account";

#[derive(Session, Default, Debug)]
#[session(cookie = "account", storage = "server")]
struct Account {
    #[session(user)]
    user: Option<u64>,
    visits: u32,
}

fn status_of(err: &StoreError) -> StatusCode {
    match err {
        StoreError::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn app(layer: SessionLayer<Account>) -> Router {
    Router::new()
        .route(
            "/login/{user}",
            post(
                |mut account: Session<Account>, Path(user): Path<u64>| async move {
                    account.set_user(Some(user));
                    account.cycle_id();
                    "ok"
                },
            ),
        )
        .route(
            "/whoami",
            get(|account: Session<Account>| async move { format!("{:?}", account.user()) }),
        )
        .route(
            "/visit",
            post(|mut account: Session<Account>| async move {
                *account.visits_mut() += 1;
                "ok"
            }),
        )
        .route(
            "/devices",
            get(|account: Session<Account>| async move {
                match account.user_sessions().await {
                    Ok(devices) => {
                        let current = devices.iter().filter(|d| d.current).count();
                        let tags: Vec<&str> = devices.iter().map(|d| d.tag.as_str()).collect();
                        let ordered = devices
                            .windows(2)
                            .all(|w| w[0].updated_at >= w[1].updated_at);
                        let timed = devices.iter().all(|d| {
                            d.created_at > 0
                                && d.updated_at >= d.created_at
                                && d.expires_at > d.updated_at
                        });
                        (
                            StatusCode::OK,
                            format!(
                                "{}|{current}|{}|{ordered}|{timed}",
                                devices.len(),
                                tags.join(",")
                            ),
                        )
                    }
                    Err(err) => (status_of(&err), err.to_string()),
                }
            }),
        )
        .route(
            "/logout-everywhere",
            post(|mut account: Session<Account>| async move {
                match account.revoke_user_sessions(true).await {
                    Ok(revoked) => (StatusCode::OK, revoked.to_string()),
                    Err(err) => (status_of(&err), err.to_string()),
                }
            }),
        )
        .route(
            "/logout-device/{tag}",
            post(
                |account: Session<Account>, Path(tag): Path<String>| async move {
                    match account.revoke_device(&tag).await {
                        Ok(found) => (StatusCode::OK, found.to_string()),
                        Err(err) => (status_of(&err), err.to_string()),
                    }
                },
            ),
        )
        .layer(layer)
}

async fn login(app: &Router, user: u64) -> String {
    let reply = send(app, "POST", &format!("/login/{user}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.set_cookie.expect("a new session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logged_in_from_five_browsers_is_logged_out_everywhere_but_here() {
    for (name, layer) in stores::every_server_layer::<Account>(&key(), "everywhere").await {
        let app = app(layer);
        let user = 1_000 + u64::from(rand_u16());
        let browsers: Vec<String> = five_browsers(&app, user).await;
        let other = login(&app, user + 1).await;
        let devices = send(&app, "GET", "/devices", Some((COOKIE, &browsers[0]))).await;
        if name == "memcached" {
            // memcached keeps no user index: said plainly, nothing revoked
            assert_eq!(
                devices.status,
                StatusCode::NOT_IMPLEMENTED,
                "{name}: {}",
                devices.body
            );
            assert!(devices.body.contains("user index"), "{}", devices.body);
            continue;
        }
        assert_eq!(devices.status, StatusCode::OK, "{name}: {}", devices.body);
        let fields: Vec<&str> = devices.body.split('|').collect();
        assert_eq!(
            fields[0], "5",
            "{name}: five devices listed: {}",
            devices.body
        );
        assert_eq!(fields[1], "1", "{name}: one is this one");
        assert_eq!(fields[3], "true", "{name}: most recent first");
        assert_eq!(
            fields[4], "true",
            "{name}: created, last seen and expiry are kept"
        );
        for browser in &browsers {
            assert!(
                !devices.body.contains(browser.as_str()),
                "{name}: a signed ID was listed"
            );
        }

        // log out one other device by its tag
        let tags: Vec<String> = fields[2].split(',').map(str::to_owned).collect();
        let first_tag =
            SessionId::verify(&browsers[4], &session_runtime::KeyRing::new(key()), COOKIE)
                .unwrap()
                .0
                .log_tag(&session_runtime::KeyRing::new(key()));
        assert!(tags.contains(&first_tag), "{name}: listed by log tag");
        let one = send(
            &app,
            "POST",
            &format!("/logout-device/{first_tag}"),
            Some((COOKIE, &browsers[0])),
        )
        .await;
        assert_eq!(
            (one.status, one.body.as_str()),
            (StatusCode::OK, "true"),
            "{name}"
        );
        let gone = send(&app, "GET", "/whoami", Some((COOKIE, &browsers[4]))).await;
        assert_eq!(
            gone.body, "None",
            "{name}: the revoked device is logged out"
        );

        // then every other device
        let revoked = send(
            &app,
            "POST",
            "/logout-everywhere",
            Some((COOKIE, &browsers[0])),
        )
        .await;
        assert_eq!(
            (revoked.status, revoked.body.as_str()),
            (StatusCode::OK, "3"),
            "{name}"
        );
        // this browser stays, under a new ID: a copy of its old cookie is
        // one of the other devices
        let kept = revoked.set_cookie.clone().unwrap_or_default();
        assert!(
            !kept.is_empty() && kept != browsers[0],
            "{name}: this browser stays, with a new ID"
        );
        let copy = send(&app, "GET", "/whoami", Some((COOKIE, &browsers[0]))).await;
        assert_eq!(
            copy.body, "None",
            "{name}: a copy of the old cookie is refused"
        );
        for (i, browser) in browsers.iter().enumerate().skip(1) {
            let reply = send(&app, "GET", "/whoami", Some((COOKIE, browser))).await;
            assert_eq!(
                reply.body, "None",
                "{name}: browser {i} is refused on its next request"
            );
            let write = send(&app, "POST", "/visit", Some((COOKIE, browser))).await;
            assert_ne!(
                write.set_cookie.as_deref(),
                Some(browser.as_str()),
                "{name}: a write never revives browser {i}"
            );
        }
        let here = send(&app, "GET", "/whoami", Some((COOKIE, &kept))).await;
        assert_eq!(
            here.body,
            format!("Some({user})"),
            "{name}: the browser that asked stays logged in"
        );
        let elsewhere = send(&app, "GET", "/whoami", Some((COOKIE, &other))).await;
        assert_eq!(
            elsewhere.body,
            format!("Some({})", user + 1),
            "{name}: another user is untouched"
        );
        let listed = send(&app, "GET", "/devices", Some((COOKIE, &kept))).await;
        assert!(
            listed.body.starts_with("1|1|"),
            "{name}: one device left: {}",
            listed.body
        );
        sessionkit_tests::figure(&format!(
            "log out everywhere store={name}: 5 browsers, 1 revoked by tag, 3 by revoke_user_sessions, 4 of 4 refused, 1 kept"
        ));
    }
}

/// Five browsers of `user`, logged in one after another (distinct times).
async fn five_browsers(app: &Router, user: u64) -> Vec<String> {
    let mut browsers = Vec::new();
    for _ in 0..5 {
        browsers.push(login(app, user).await);
    }
    // browser 0 writes last: the most recently seen
    let visit = send(app, "POST", "/visit", Some((COOKIE, &browsers[0]))).await;
    assert_eq!(visit.status, StatusCode::OK);
    browsers
}

/// A random number, so reruns over the same databases use fresh users.
fn rand_u16() -> u16 {
    let key = SessionId::generate().unwrap().store_key();
    u16::from_le_bytes([key.as_bytes()[0], key.as_bytes()[1]])
}

async fn ten_thousand<S: UserIndex>(name: &str, store: S) {
    const SESSIONS: usize = 10_000;
    const BATCH: usize = 1_000;
    let user = format!("bulk-{}", rand_u16());
    let now = 1_800_000_000;
    let keep = SessionId::generate().unwrap().store_key();
    assert!(
        store
            .create(
                &keep,
                Entry::new(b"kept", now + 3600).with_user(COOKIE, Some(&user), now)
            )
            .await
            .unwrap()
    );
    for _ in 1..SESSIONS {
        let key = SessionId::generate().unwrap().store_key();
        let entry = Entry::new(b"sealed", now + 3600).with_user(COOKIE, Some(&user), now);
        assert!(store.create(&key, entry).await.unwrap());
    }
    assert_eq!(
        store.user_sessions(COOKIE, &user, now).await.unwrap().len(),
        SESSIONS,
        "{name}"
    );
    let mut batches = Vec::new();
    loop {
        let revoked = store
            .revoke_user(COOKIE, &user, Some(&keep), BATCH)
            .await
            .unwrap();
        batches.push(revoked);
        if revoked < BATCH {
            break;
        }
    }
    assert!(
        batches.iter().all(|&n| n <= BATCH),
        "{name}: bounded batches {batches:?}"
    );
    assert_eq!(
        batches.iter().sum::<usize>(),
        SESSIONS - 1,
        "{name}: {batches:?}"
    );
    let left = store.user_sessions(COOKIE, &user, now).await.unwrap();
    assert_eq!(left.len(), 1, "{name}");
    assert_eq!(left[0].key, keep, "{name}: the excepted session stays");
    sessionkit_tests::figure(&format!(
        "revoke_user store={name}: {SESSIONS} sessions, {} batches of at most {BATCH}, 1 kept",
        batches.len()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_ten_thousand_sessions_is_revoked_in_bounded_batches() {
    ten_thousand("memory", MemoryStore::default()).await;
    ten_thousand("sqlite", stores::sqlite_file("bulk_sqlite").await).await;
    if let Some(store) = stores::postgres("bulk_pg").await {
        ten_thousand("postgres", store).await;
    }
    if let Some(store) = stores::mysql("bulk_my").await {
        ten_thousand("mariadb", store).await;
    }
    if let Some(store) = stores::redis().await {
        ten_thousand("redis", store).await;
    }
    if let (Some(cache), Some(durable)) =
        (stores::redis().await, stores::postgres("bulk_tpg").await)
    {
        ten_thousand("tiered redis+postgres", Tiered::new(cache, durable)).await;
    }
}

/// Bounded: lives in a sealed cookie.
#[derive(Session, Default, Debug)]
#[session(cookie = "badge")]
struct Badge {
    #[session(user)]
    user: Option<u32>,
    theme: u8,
}

/// Unbounded but small here: an `Adaptive` session that stays in its cookie.
#[derive(Session, Default, Debug)]
#[session(cookie = "notes")]
struct Notes {
    #[session(user)]
    user: Option<u32>,
    text: String,
}

/// The routes of a cookie-held session type with a `user: Option<u32>`.
macro_rules! cookie_routes {
    ($session:ty, $layer:expr) => {
        Router::new()
            .route(
                "/login/{user}",
                post(
                    |mut s: Session<$session>, Path(user): Path<u32>| async move {
                        s.set_user(Some(user));
                        s.cycle_id();
                        "ok"
                    },
                ),
            )
            .route(
                "/whoami",
                get(|s: Session<$session>| async move { format!("{:?}", s.user()) }),
            )
            .route(
                "/logout-everywhere",
                post(|mut s: Session<$session>| async move {
                    match s.revoke_user_sessions(true).await {
                        Ok(n) => (StatusCode::OK, n.to_string()),
                        Err(err) => (status_of(&err), err.to_string()),
                    }
                }),
            )
            .layer($layer)
    };
}

/// Five browsers of one user, one revokes the others: checked on `app`.
async fn cookie_sessions_revoked(name: &str, cookie: &str, app: Router, clock: &TestClock) {
    let user = u32::from(rand_u16());
    let mut browsers = Vec::new();
    for _ in 0..5 {
        let reply = send(&app, "POST", &format!("/login/{user}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        let value = reply.set_cookie.expect("a sealed cookie");
        // a sealed session opens with the key; a signed ID does not
        assert!(
            Sealer::new(key(), Mode::Encrypted)
                .inspect(cookie, &value)
                .is_ok(),
            "{name}: the session lives in the cookie"
        );
        browsers.push(value);
    }
    let other = send(&app, "POST", &format!("/login/{}", user + 1), None)
        .await
        .set_cookie
        .unwrap();
    let revoke = send(
        &app,
        "POST",
        "/logout-everywhere",
        Some((cookie, &browsers[0])),
    )
    .await;
    assert_eq!(revoke.status, StatusCode::OK, "{name}: {}", revoke.body);
    let kept = revoke
        .set_cookie
        .expect("this browser's session is re-issued");
    for (i, browser) in browsers.iter().enumerate().skip(1) {
        let reply = send(&app, "GET", "/whoami", Some((cookie, browser))).await;
        assert_eq!(
            reply.body, "None",
            "{name}: browser {i} is refused on its next request"
        );
        assert_eq!(
            reply.set_cookie.as_deref(),
            Some(""),
            "{name}: and its cookie is cleared"
        );
    }
    let here = send(&app, "GET", "/whoami", Some((cookie, &kept))).await;
    assert_eq!(
        here.body,
        format!("Some({user})"),
        "{name}: the browser that asked stays"
    );
    let elsewhere = send(&app, "GET", "/whoami", Some((cookie, &other))).await;
    assert_eq!(
        elsewhere.body,
        format!("Some({})", user + 1),
        "{name}: another user is untouched"
    );
    // a login after the revocation's second is a new, valid session (one
    // in the same second is refused: the safe side of a one-second clock)
    clock.advance(std::time::Duration::from_secs(1));
    let again = send(&app, "POST", &format!("/login/{user}"), None)
        .await
        .set_cookie
        .unwrap();
    let fresh = send(&app, "GET", "/whoami", Some((cookie, &again))).await;
    assert_eq!(
        fresh.body,
        format!("Some({user})"),
        "{name}: logging in again works"
    );
    sessionkit_tests::figure(&format!(
        "cookie sessions revoked store={name}: 5 browsers, 4 of 4 refused and cleared, 1 kept"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_and_adaptive_sessions_are_logged_out_everywhere_with_user_revocation() {
    async fn both<St: RevocationTimes + Clone>(name: &str, store: St) {
        let clock = TestClock::new();
        let badge = SessionLayer::<Badge>::new(key())
            .with_clock(clock.clone())
            .with_user_revocation(store.clone());
        let app = cookie_routes!(Badge, badge);
        cookie_sessions_revoked(&format!("{name}, cookie"), "__Host-badge", app, &clock).await;
        let notes = SessionLayer::<Notes>::with_store(key(), store.clone())
            .with_clock(clock.clone())
            .with_user_revocation(store);
        let app = cookie_routes!(Notes, notes);
        cookie_sessions_revoked(&format!("{name}, adaptive"), "__Host-notes", app, &clock).await;
    }
    both("memory", std::sync::Arc::new(MemoryStore::default())).await;
    both("sqlite", stores::sqlite_file("nvb_sqlite").await).await;
    if let Some(store) = stores::postgres("nvb_pg").await {
        both("postgres", store).await;
    }
    if let Some(store) = stores::mysql("nvb_my").await {
        both("mariadb", store).await;
    }
    if let Some(store) = stores::redis().await {
        both("redis", store).await;
    }
    if let (Some(cache), Some(durable)) = (stores::redis().await, stores::postgres("nvb_tpg").await)
    {
        both(
            "tiered redis+postgres",
            std::sync::Arc::new(Tiered::new(cache, durable)),
        )
        .await;
    }
}

// a type without a `#[session(user)]` field, or a memcached revocation
// store, does not compile: ui-tests/check/user_revocation_*.rs

#[tokio::test]
async fn a_failing_revocation_store_never_lets_a_session_through() {
    let probe = sessionkit_tests::probe::Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Badge>::new(key()).with_user_revocation(probe.clone());
    let app = cookie_routes!(Badge, layer);
    let cookie = send(&app, "POST", "/login/5", None)
        .await
        .set_cookie
        .unwrap();
    assert_eq!(
        send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie)))
            .await
            .body,
        "Some(5)"
    );
    let reads = probe
        .state()
        .loads
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        reads >= 1,
        "the revocation time is read for a session with a user"
    );
    probe.set_down(true);
    let down = send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie))).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    probe.set_down(false);
    assert_eq!(
        send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie)))
            .await
            .body,
        "Some(5)"
    );
    // an anonymous request reads nothing
    let before = probe
        .state()
        .loads
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(send(&app, "GET", "/whoami", None).await.body, "None");
    assert_eq!(
        probe
            .state()
            .loads
            .load(std::sync::atomic::Ordering::SeqCst),
        before
    );
}

/// Revocation times are kept `keep_for` past the revocation, then reaped
/// with the expired sessions; a live one stays and still refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_times_past_their_keep_are_reaped_with_expired_sessions() {
    use session_runtime::cleanup::delete_expired_in_batches;

    async fn reaps<St: RevocationTimes>(name: &str, store: St) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let user = format!("reaped-{}", rand_u16());
        let kept = format!("kept-{}", rand_u16());
        // lapsed at once (SQL counts from the revocation time, MemoryStore
        // from the call: both are past by the reap below)
        store.revoke_before(&user, now - 10, 0).await.unwrap();
        store.revoke_before(&kept, now, 3_600).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let reaped =
            delete_expired_in_batches(&store, now + 1, std::time::Duration::ZERO, 1, |_| {})
                .await
                .unwrap();
        assert!(reaped.revocations >= 1, "{name}: {reaped:?}");
        assert_eq!(
            store.revoked_before(&user).await.unwrap(),
            None,
            "{name}: the lapsed time is gone"
        );
        assert_eq!(
            store.revoked_before(&kept).await.unwrap(),
            Some(now),
            "{name}: the live one still refuses"
        );
        sessionkit_tests::figure(&format!(
            "revocation times reaped store={name}: {} lapsed removed in batches of 1, the live one kept",
            reaped.revocations
        ));
    }
    reaps("memory", MemoryStore::default()).await;
    reaps("sqlite", stores::sqlite_file("reap_rev_sqlite").await).await;
    if let Some(store) = stores::postgres("reap_rev_pg").await {
        reaps("postgres", store).await;
    }
    if let Some(store) = stores::mysql("reap_rev_my").await {
        reaps("mariadb", store).await;
    }
    if let (Some(cache), Some(durable)) = (
        stores::redis().await,
        stores::postgres("reap_rev_tpg").await,
    ) {
        reaps("tiered redis+postgres", Tiered::new(cache, durable)).await;
    }
}

/// A stolen copy of a session keeps calling a "log out other devices"
/// route (`revoke_user_sessions(true)`) while someone else revokes the user
/// (here the store call `sessionkit revoke` makes, then the victim's own
/// log out everywhere from a fresh login). The clock stands still, so every
/// revocation falls in one second: the copy re-issued itself one second
/// after its own revocation once, and escaped every other one. Now, once
/// the other revocation has returned and the copy's request in flight has
/// answered, the copy is refused. Returns how many re-issues it made.
async fn stolen_copy_races_a_revocation(name: &str, app: Router, store: &dyn Revoker) -> usize {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let user = u32::from(rand_u16());
    let stolen = send(&app, "POST", &format!("/login/{user}"), None)
        .await
        .set_cookie
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reissued = Arc::new(AtomicUsize::new(0));
    let thief = {
        let (app, stop, reissued) = (app.clone(), Arc::clone(&stop), Arc::clone(&reissued));
        tokio::spawn(async move {
            let mut cookie = stolen;
            while !stop.load(Ordering::SeqCst) {
                let reply = send(
                    &app,
                    "POST",
                    "/logout-everywhere",
                    Some(("__Host-badge", &cookie)),
                )
                .await;
                match reply.set_cookie {
                    Some(value) if !value.is_empty() => {
                        reissued.fetch_add(1, Ordering::SeqCst);
                        cookie = value;
                    }
                    _ => {}
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            cookie
        })
    };
    // let the thief re-issue itself a few times
    let began = std::time::Instant::now();
    while reissued.load(Ordering::SeqCst) < 5 {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(10),
            "{name}: the stolen copy never re-issued itself"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    store.revoke(&user.to_string()).await;
    // the thief's request in flight answers; every later one is refused
    let after = reissued.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    stop.store(true, Ordering::SeqCst);
    let cookie = thief.await.unwrap();
    let whoami = send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie))).await;
    assert_eq!(
        whoami.body, "None",
        "{name}: the stolen copy survived a revocation it raced"
    );
    assert!(
        reissued.load(Ordering::SeqCst) <= after + 1,
        "{name}: the copy re-issued itself after the revocation returned"
    );
    // the victim logs in again and stays: nobody is revoking any more
    let fresh = send(&app, "POST", &format!("/login/{user}"), None)
        .await
        .set_cookie
        .unwrap();
    let here = send(&app, "GET", "/whoami", Some(("__Host-badge", &fresh))).await;
    assert_eq!(
        here.body,
        format!("Some({user})"),
        "{name}: a fresh login works"
    );
    after
}

/// The revocation `sessionkit revoke` writes, on any store.
trait Revoker: Send + Sync {
    fn revoke<'a>(
        &'a self,
        user: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

struct StoreRevoker<St>(St, TestClock);

impl<St: RevocationTimes> Revoker for StoreRevoker<St> {
    fn revoke<'a>(
        &'a self,
        user: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let key = session_runtime::user::index_key(user.to_owned());
            self.0
                .revoke_before(
                    &key,
                    self.1.secs(),
                    session_runtime::user::KEEP_REVOCATIONS.as_secs(),
                )
                .await
                .unwrap();
        })
    }
}

/// Two revokers of one user at once, on every store that keeps revocation
/// times, for a cookie session type and an Adaptive one held in its cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_session_cannot_outrun_a_revocation() {
    async fn trials<St: RevocationTimes + Clone + Sync>(name: &str, store: St) {
        let clock = TestClock::new();
        let revoker = StoreRevoker(store.clone(), clock.clone());
        let mut reissues = 0;
        for _ in 0..5 {
            let layer = SessionLayer::<Badge>::new(key())
                .with_clock(clock.clone())
                .with_user_revocation(store.clone());
            let app = cookie_routes!(Badge, layer);
            reissues +=
                stolen_copy_races_a_revocation(&format!("{name}, cookie"), app, &revoker).await;
        }
        sessionkit_tests::figure(&format!(
            "revocation race store={name}: 5 of 5 stolen copies refused after a concurrent revocation ({reissues} re-issues by the copies before it)"
        ));
    }
    trials("memory", std::sync::Arc::new(MemoryStore::default())).await;
    trials("sqlite", stores::sqlite_file("race_sqlite").await).await;
    if let Some(store) = stores::postgres("race_pg").await {
        trials("postgres", store).await;
    }
    if let Some(store) = stores::mysql("race_my").await {
        trials("mariadb", store).await;
    }
    if let Some(store) = stores::redis().await {
        trials("redis", store).await;
    }
    if let (Some(cache), Some(durable)) =
        (stores::redis().await, stores::postgres("race_tpg").await)
    {
        trials(
            "tiered redis+postgres",
            std::sync::Arc::new(Tiered::new(cache, durable)),
        )
        .await;
    }
}

/// An Adaptive (or cookie) layer without revocation times cannot end the
/// user's sessions held in cookies: it says so and changes nothing, rather
/// than answering success for sessions that still open.
#[tokio::test]
async fn revoking_without_revocation_times_is_refused_where_cookies_hold_sessions() {
    let notes = SessionLayer::<Notes>::with_store(key(), MemoryStore::default());
    let badge = SessionLayer::<Badge>::new(key());
    for (name, cookie, app) in [
        ("adaptive", "__Host-notes", cookie_routes!(Notes, notes)),
        ("cookie", "__Host-badge", cookie_routes!(Badge, badge)),
    ] {
        let first = send(&app, "POST", "/login/42", None)
            .await
            .set_cookie
            .unwrap();
        let second = send(&app, "POST", "/login/42", None)
            .await
            .set_cookie
            .unwrap();
        let revoke = send(&app, "POST", "/logout-everywhere", Some((cookie, &first))).await;
        assert_eq!(
            revoke.status,
            StatusCode::NOT_IMPLEMENTED,
            "{name}: {}",
            revoke.body
        );
        assert!(
            revoke.body.contains("with_user_revocation"),
            "{name}: the error names the fix: {}",
            revoke.body
        );
        assert_eq!(
            revoke.set_cookie, None,
            "{name}: this session is left as it was"
        );
        for value in [&first, &second] {
            let whoami = send(&app, "GET", "/whoami", Some((cookie, value))).await;
            assert_eq!(whoami.body, "Some(42)", "{name}");
        }
    }
}

/// Always-save loads like an extraction: a revoked cookie is not re-sealed
/// on a route that never extracts the session, it is cleared.
#[tokio::test]
async fn always_save_checks_revocation_like_any_load() {
    let store = std::sync::Arc::new(MemoryStore::default());
    let clock = TestClock::new();
    let layer = SessionLayer::<Badge>::new(key())
        .with_clock(clock.clone())
        .with_always_save(true)
        .with_user_revocation(std::sync::Arc::clone(&store));
    let app = Router::new()
        .route("/plain", get(|| async { "no session here" }))
        .route(
            "/login/{user}",
            post(|mut s: Session<Badge>, Path(user): Path<u32>| async move {
                s.set_user(Some(user));
                "ok"
            }),
        )
        .layer(layer);
    let cookie = send(&app, "POST", "/login/77", None)
        .await
        .set_cookie
        .unwrap();
    clock.advance(std::time::Duration::from_secs(5));
    let slid = send(&app, "GET", "/plain", Some(("__Host-badge", &cookie))).await;
    let slid = slid
        .set_cookie
        .expect("always-save re-seals a valid session");
    assert!(!slid.is_empty());
    store
        .revoke_before(
            "77",
            clock.secs(),
            session_runtime::user::KEEP_REVOCATIONS.as_secs(),
        )
        .await
        .unwrap();
    let revoked = send(&app, "GET", "/plain", Some(("__Host-badge", &slid))).await;
    assert_eq!(
        revoked.set_cookie.as_deref(),
        Some(""),
        "a revoked session is cleared, not slid"
    );
}

/// The revocation store has the layer's store timeout whatever the order
/// of the calls: a later `with_store_timeout` is not ignored.
#[tokio::test]
async fn the_revocation_store_takes_the_store_timeout_set_after_it() {
    let probe = sessionkit_tests::probe::Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Badge>::new(key())
        .with_user_revocation(probe.clone())
        .with_store_timeout(std::time::Duration::from_millis(100))
        .unwrap();
    let app = cookie_routes!(Badge, layer);
    let cookie = send(&app, "POST", "/login/5", None)
        .await
        .set_cookie
        .unwrap();
    probe.set_hung(true);
    let began = std::time::Instant::now();
    let reply = send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie))).await;
    let took = began.elapsed();
    probe.set_hung(false);
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(
        took < std::time::Duration::from_secs(1),
        "the 100 ms timeout applied, not the 2 s default: {took:?}"
    );
    // and in the other order: set before the revocation store is given
    let probe = sessionkit_tests::probe::Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Badge>::new(key())
        .with_store_timeout(std::time::Duration::from_millis(100))
        .unwrap()
        .with_user_revocation(probe.clone());
    let app = cookie_routes!(Badge, layer);
    let cookie = send(&app, "POST", "/login/6", None)
        .await
        .set_cookie
        .unwrap();
    probe.set_hung(true);
    let began = std::time::Instant::now();
    let reply = send(&app, "GET", "/whoami", Some(("__Host-badge", &cookie))).await;
    probe.set_hung(false);
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(began.elapsed() < std::time::Duration::from_secs(1));
}
