//! Correct under concurrency, across processes and across session types:
//! real parallel requests on a multi-threaded runtime, against every store
//! configuration on the real servers. Each scenario prints one figure line:
//! what ran, how many, the result.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::id::SessionId;
use session_runtime::{KeyRing, MemoryStore, Session, SessionLayer, Tiered};
use sessionkit_tests::http::{Reply, percentile, send};
use sessionkit_tests::key;
use sessionkit_tests::stores;
use sessionkit_tests::wide::{self, Wide};
use std::time::{Duration, Instant};

/// The scenarios here each load the 2-core machine fully: one at a time,
/// so a store timeout measures the store, not the other scenarios.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WIDE: &str = "__Host-wide";

/// Unbounded, so Adaptive: in its cookie while small, in the store when
/// large.
#[derive(Session, Default, Debug)]
#[session(cookie = "memo")]
struct Memo {
    text: String,
}

async fn login(app: &Router) -> String {
    wide::login(app, 7).await
}

/// Sends `uris` at once, each from its own task on the multi-threaded
/// runtime, all with `cookie`.
async fn at_once(app: &Router, cookie: &str, uris: Vec<String>) -> Vec<(Reply, Duration)> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(uris.len()));
    let tasks: Vec<_> = uris
        .into_iter()
        .map(|uri| {
            let app = app.clone();
            let cookie = cookie.to_owned();
            let start = std::sync::Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let began = Instant::now();
                let reply = send(&app, "POST", &uri, Some((WIDE, &cookie))).await;
                (reply, began.elapsed())
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_session_types_with_the_same_fields_cannot_read_each_other() {
    let _one = ONE_AT_A_TIME.lock().await;
    #[derive(Session, Default)]
    #[session(cookie = "user_s", storage = "server")]
    struct UserSession {
        user_id: Option<u64>,
    }
    #[derive(Session, Default)]
    #[session(cookie = "admin_s", storage = "server")]
    struct AdminSession {
        user_id: Option<u64>,
    }
    assert_eq!(
        <UserSession as session_runtime::SessionData>::FINGERPRINT,
        <AdminSession as session_runtime::SessionData>::FINGERPRINT,
        "same shape: only the binding tells them apart"
    );
    let store = std::sync::Arc::new(MemoryStore::default());
    let app = Router::new()
        .route(
            "/user/login",
            post(|mut s: Session<UserSession>| async move {
                s.set_user_id(Some(42));
                "ok"
            }),
        )
        .route(
            "/admin",
            get(|s: Session<AdminSession>| async move { format!("{:?}", s.user_id()) }),
        )
        .layer(SessionLayer::<UserSession>::with_store(
            key(),
            store.clone(),
        ))
        .layer(SessionLayer::<AdminSession>::with_store(
            key(),
            store.clone(),
        ));

    let user_cookie = send(&app, "POST", "/user/login", None)
        .await
        .set_cookie
        .unwrap();
    // the user's cookie value sent under the admin cookie's name
    let replayed = send(
        &app,
        "GET",
        "/admin",
        Some(("__Host-admin_s", &user_cookie)),
    )
    .await;
    assert_eq!(
        replayed.body, "None",
        "the user's session is not an admin's"
    );

    // defence in depth: even an ID validly signed for `admin_s` does not
    // open the row `user_s` wrote (its sealing context names the cookie)
    let keys = KeyRing::new(key());
    let (id, _) = SessionId::verify(&user_cookie, &keys, "__Host-user_s").unwrap();
    let forged = id.sign(&keys, "__Host-admin_s");
    let reply = send(&app, "GET", "/admin", Some(("__Host-admin_s", &forged))).await;
    assert_eq!(
        reply.body, "None",
        "the row is bound to the type that wrote it"
    );
    sessionkit_tests::figure("type confusion user_s -> admin_s: 2 attempts, 0 opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_to_disjoint_fields_lose_nothing_on_every_store() {
    let _one = ONE_AT_A_TIME.lock().await;
    for (name, layer) in stores::every_server_layer::<Wide>(&key(), "disjoint").await {
        let app = wide::app(layer);
        for writers in [2, 8, 32, 128] {
            let cookie = login(&app).await;
            let uris = (0..writers).map(|i| format!("/set/{i}")).collect();
            let mut replies = at_once(&app, &cookie, uris).await;
            let acked: Vec<usize> = replies
                .iter()
                .enumerate()
                .filter(|(_, (reply, _))| reply.status == StatusCode::OK)
                .map(|(i, _)| i)
                .collect();
            let contention_5xx = replies
                .iter()
                .filter(|(reply, _)| reply.status.is_server_error())
                .count();
            for (reply, _) in &replies {
                assert!(
                    reply.status == StatusCode::OK
                        || (reply.status == StatusCode::SERVICE_UNAVAILABLE
                            && reply.headers.contains_key("retry-after")),
                    "{name}: contention answers 200 or 503 with Retry-After, never {}: {}",
                    reply.status,
                    reply.body
                );
            }
            let shown = send(&app, "GET", "/fields", Some((WIDE, &cookie))).await;
            let values: Vec<u32> = shown
                .body
                .split('|')
                .nth(1)
                .unwrap()
                .split(',')
                .map(|v| v.parse().unwrap())
                .collect();
            let lost = acked
                .iter()
                .filter(|&&i| values[i] != u32::try_from(i).unwrap() + 1)
                .count();
            let mut latencies: Vec<Duration> = replies.iter_mut().map(|(_, took)| *took).collect();
            let p99 = percentile(&mut latencies, 99);
            sessionkit_tests::figure(&format!(
                "disjoint writers store={name} K={writers}: acknowledged={} lost={lost} 5xx={contention_5xx} p99={p99:?}",
                acked.len()
            ));
            assert_eq!(lost, 0, "{name}: acknowledged writes lost");
            if writers <= 32 {
                assert_eq!(contention_5xx, 0, "{name}: K={writers} must not fail");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn atomic_increments_compose_on_every_store() {
    let _one = ONE_AT_A_TIME.lock().await;
    for (name, layer) in stores::every_server_layer::<Wide>(&key(), "atomic").await {
        let app = wide::app(layer);
        let cookie = login(&app).await;
        let replies = at_once(&app, &cookie, vec!["/hit".to_owned(); 32]).await;
        let acked = replies
            .iter()
            .filter(|(reply, _)| reply.status == StatusCode::OK)
            .count();
        let shown = send(&app, "GET", "/fields", Some((WIDE, &cookie))).await;
        let hits: usize = shown.body.split('|').next().unwrap().parse().unwrap();
        sessionkit_tests::figure(&format!(
            "atomically(+1) store={name}: 32 concurrent, acknowledged={acked}, counter={hits}"
        ));
        assert_eq!(acked, 32, "{name}: no increment fails under contention");
        assert_eq!(
            hits, acked,
            "{name}: the counter equals the acknowledged requests"
        );
    }
}

/// Logout against a concurrent write, cycle, increment or read, `RACES`
/// times per store: afterwards the old cookie must open nothing.
const RACES: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_races_never_leave_the_old_cookie_alive() {
    let _one = ONE_AT_A_TIME.lock().await;
    let layers = stores::every_server_layer::<Wide>(&key(), "race").await;
    let memo_layers = stores::every_server_layer::<Memo>(&key(), "race_memo").await;
    let mut runs = Vec::new();
    for ((name, layer), (_, memo_layer)) in layers.into_iter().zip(memo_layers) {
        let memo_layer = memo_layer.with_cookie_threshold(64).unwrap();
        runs.push(tokio::spawn(async move {
            let app = wide::app(layer).merge(memo_app(memo_layer));
            let mut alive = 0;
            for race in 0..RACES {
                alive += usize::from(one_race(&app, race).await);
            }
            (name, alive)
        }));
    }
    for run in runs {
        let (name, alive) = run.await.unwrap();
        sessionkit_tests::figure(&format!(
            "logout races store={name}: {RACES} races, {alive} sessions alive with the old cookie"
        ));
        assert_eq!(alive, 0, "{name}: a terminated session came back");
    }
}

fn memo_app(layer: SessionLayer<Memo>) -> Router {
    Router::new()
        .route(
            "/memo/{len}",
            post(|mut s: Session<Memo>, Path(len): Path<usize>| async move {
                s.set_text("m".repeat(len));
                "ok"
            }),
        )
        .route(
            "/memo-logout",
            post(|mut s: Session<Memo>| async move {
                s.terminate();
                "bye"
            }),
        )
        .route(
            "/memo",
            get(|s: Session<Memo>| async move { s.text().len().to_string() }),
        )
        .layer(layer)
}

/// One logout race; `true` when the old cookie still opens a session.
async fn one_race(app: &Router, race: usize) -> bool {
    if race % 5 == 4 {
        // an Adaptive session moving back into its cookie as it is ended
        let stored = send(app, "POST", "/memo/200", None).await;
        let cookie = stored.set_cookie.unwrap();
        let (a, b) = tokio::join!(
            send(app, "POST", "/memo-logout", Some(("__Host-memo", &cookie))),
            send(app, "POST", "/memo/3", Some(("__Host-memo", &cookie))),
        );
        settle_logout(app, "/memo-logout", ("__Host-memo", &cookie), a, &b).await;
        return send(app, "GET", "/memo", Some(("__Host-memo", &cookie)))
            .await
            .body
            != "0";
    }
    let cookie = login(app).await;
    let other = match race % 5 {
        0 => "/set/3",
        1 => "/cycle",
        2 => "/hit",
        _ => "/fields",
    };
    let (a, b) = tokio::join!(
        send(app, "POST", "/logout", Some((WIDE, &cookie))),
        send(
            app,
            if other == "/fields" { "GET" } else { "POST" },
            other,
            Some((WIDE, &cookie))
        ),
    );
    settle_logout(app, "/logout", (WIDE, &cookie), a, &b).await;
    send(app, "GET", "/user", Some((WIDE, &cookie))).await.body != "None"
}

/// The racing request may answer 503 when a store call times out under the
/// whole suite's load (the outage policy, never a 500); a logout answered
/// 503 is retried, as its body asks, until it holds.
async fn settle_logout(
    app: &Router,
    logout: &str,
    cookie: (&str, &str),
    first: Reply,
    other: &Reply,
) {
    for reply in [&first, other] {
        assert!(
            reply.status.is_success() || reply.status == StatusCode::SERVICE_UNAVAILABLE,
            "{reply:?}"
        );
    }
    let mut reply = first;
    for _ in 0..50 {
        if reply.status.is_success() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        reply = send(app, "POST", logout, Some(cookie)).await;
    }
    panic!("the logout never held: {reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_over_one_sqlite_file_honour_a_logout_within_the_staleness_bound() {
    let _one = ONE_AT_A_TIME.lock().await;
    let path = std::env::temp_dir().join(format!("sessionkit-{}-two.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    // two app instances: one database file, a cache of their own each
    let instance = |durable| {
        wide::app(SessionLayer::<Wide>::with_store(
            key(),
            Tiered::new(MemoryStore::default(), durable),
        ))
    };
    let a = instance(stores::sqlite_at(&path).await);
    let b = instance(stores::sqlite_at(&path).await);
    let cookie = login(&a).await;
    assert_eq!(
        send(&b, "GET", "/user", Some((WIDE, &cookie))).await.body,
        "Some(7)"
    );

    assert_eq!(
        send(&a, "POST", "/logout", Some((WIDE, &cookie)))
            .await
            .status,
        StatusCode::OK
    );
    // the other instance's cache may serve the session for its staleness
    // bound, not longer
    let began = Instant::now();
    let mut refused_after = None;
    while began.elapsed() < Duration::from_secs(3) {
        if send(&b, "GET", "/user", Some((WIDE, &cookie))).await.body == "None" {
            refused_after = Some(began.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = refused_after.expect("the other instance refuses the session");
    sessionkit_tests::figure(&format!(
        "two processes, per-process caches over one SQLite file: logout honoured by the other after {refused_after:?} (bound 1 s)"
    ));
    assert!(
        refused_after <= Duration::from_millis(1_200),
        "{refused_after:?}"
    );

    // and a write there, even within the bound, never brings it back
    let cookie = login(&a).await;
    send(&b, "GET", "/user", Some((WIDE, &cookie))).await;
    send(&a, "POST", "/logout", Some((WIDE, &cookie))).await;
    let write = send(&b, "POST", "/set/1", Some((WIDE, &cookie))).await;
    assert_eq!(
        write.set_cookie.as_deref(),
        Some(""),
        "the other instance expires the cookie"
    );
    assert_eq!(
        send(&a, "GET", "/user", Some((WIDE, &cookie))).await.body,
        "None"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_with_a_shared_cache_honour_a_logout_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (Some(cache_a), Some(cache_b)) = (stores::redis().await, stores::redis().await) else {
        return;
    };
    let Some(durable) = stores::postgres("two_shared").await else {
        return;
    };
    let a = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(cache_a, durable.clone()),
    ));
    let b = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(cache_b, durable),
    ));
    // and two instances with their own caches over one PostgreSQL database
    let own_a = wide::app(SessionLayer::<Wide>::with_store(
        key(),
        Tiered::new(
            MemoryStore::default(),
            stores::postgres("two_shared").await.unwrap(),
        ),
    ));
    let mut refused = 0;
    for _ in 0..50 {
        let cookie = login(&a).await;
        assert_eq!(
            send(&b, "GET", "/user", Some((WIDE, &cookie))).await.body,
            "Some(7)"
        );
        assert_eq!(
            send(&own_a, "GET", "/user", Some((WIDE, &cookie)))
                .await
                .body,
            "Some(7)"
        );
        send(&a, "POST", "/logout", Some((WIDE, &cookie))).await;
        if send(&b, "GET", "/user", Some((WIDE, &cookie))).await.body == "None" {
            refused += 1;
        }
    }
    sessionkit_tests::figure(&format!(
        "two processes sharing Redis + PostgreSQL: 50 logouts, refused by the other on its next request: {refused}"
    ));
    assert_eq!(refused, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_new_sessions_does_not_evict_active_ones() {
    let _one = ONE_AT_A_TIME.lock().await;
    use session_runtime::SessionStore as _;
    let store = MemoryStore::default();
    let entry = |data: &'static [u8]| session_runtime::Entry::new(data, u64::MAX);
    let active: Vec<_> = (0..10_000)
        .map(|_| SessionId::generate().unwrap().store_key())
        .collect();
    for key in &active {
        store
            .create(key, entry(b"an active user's session"))
            .await
            .unwrap();
        // active: used again after it was created
        store.load(key, 0).await.unwrap();
    }
    for _ in 0..100_000 {
        let key = SessionId::generate().unwrap().store_key();
        store
            .create(&key, entry(b"a bot's session, never seen again"))
            .await
            .unwrap();
    }
    let mut survived = 0;
    for key in &active {
        survived += usize::from(store.load(key, 0).await.unwrap().is_some());
    }
    sessionkit_tests::figure(&format!(
        "MemoryStore (default bounds) with 10,000 active sessions, 100,000 new ones created: {survived} active survive, {} records held",
        store.len()
    ));
    assert_eq!(survived, 10_000);
    assert!(store.len() <= session_runtime::store::DEFAULT_CAPACITY.get());
}
