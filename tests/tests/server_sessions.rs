//! Adaptive and Server sessions through the layer: where the data lives,
//! strict IDs, lifecycle, concurrency, outages and size caps, over real
//! stores.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use base64::Engine as _;
use session_runtime::id::{SIGNED_ID_LEN, SessionId};
use session_runtime::store::{CacheStore, MemcachedStore, SqliteStore};
use session_runtime::{
    KeyRing, MemoryStore, OutagePolicy, Session, SessionLayer, SessionStore, Tiered,
};
use sessionkit_tests::TestClock;
use sessionkit_tests::account::{Account, app as account_app};
use sessionkit_tests::http::{Reply, send};
use sessionkit_tests::probe::Probe;
use sessionkit_tests::servers::address;
use sessionkit_tests::{key, key_from};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tower::ServiceExt as _;

/// Unbounded: in the cookie while small, in the store when large.
#[derive(Session, Default, Debug)]
#[session(cookie = "notes")]
struct Notes {
    text: String,
    count: u32,
    /// Cache-only with a tiered store.
    #[session(quick)]
    flash: String,
}

fn notes_app(layer: SessionLayer<Notes>, barrier: Option<Arc<tokio::sync::Barrier>>) -> Router {
    Router::new()
        .route(
            "/show",
            get(|notes: Session<Notes>| async move {
                format!("{}|{}|{}", notes.text(), notes.count(), notes.flash())
            }),
        )
        .route(
            "/text/{text}",
            post(
                |mut notes: Session<Notes>, Path(text): Path<String>| async move {
                    notes.set_text(text);
                    "ok"
                },
            ),
        )
        .route(
            "/long/{len}",
            post(
                |mut notes: Session<Notes>, Path(len): Path<usize>| async move {
                    notes.set_text("x".repeat(len));
                    "ok"
                },
            ),
        )
        .route(
            "/count",
            post(|mut notes: Session<Notes>| async move {
                *notes.count_mut() += 1;
                "ok"
            }),
        )
        .route(
            "/flash/{text}",
            post(
                |mut notes: Session<Notes>, Path(text): Path<String>| async move {
                    notes.set_flash(text);
                    "ok"
                },
            ),
        )
        .route(
            "/race/{what}",
            // both racing requests load before either saves
            post(
                |State(barrier): State<Option<Arc<tokio::sync::Barrier>>>,
                 mut notes: Session<Notes>,
                 Path(what): Path<String>| async move {
                    if what == "count" {
                        *notes.count_mut() += 1;
                    } else {
                        notes.set_text(what);
                    }
                    if let Some(barrier) = barrier {
                        barrier.wait().await;
                    }
                    "ok"
                },
            ),
        )
        .route(
            "/cycle",
            post(|mut notes: Session<Notes>| async move {
                notes.cycle_id();
                "ok"
            }),
        )
        .route(
            "/logout",
            post(|mut notes: Session<Notes>| async move {
                notes.terminate();
                "bye"
            }),
        )
        .with_state(barrier)
        .layer(layer)
}

/// One browser: carries the session cookie from response to request.
struct Browser {
    app: Router,
    cookie: Option<String>,
    name: &'static str,
}

impl Browser {
    fn new(app: Router, name: &'static str) -> Self {
        Self {
            app,
            cookie: None,
            name,
        }
    }

    async fn send(&mut self, method: &str, uri: &str) -> Reply {
        let cookie = self.cookie.as_deref().map(|value| (self.name, value));
        let reply = send(&self.app, method, uri, cookie).await;
        if let Some(set) = &reply.set_cookie {
            self.cookie = (!set.is_empty()).then(|| set.clone());
        }
        reply
    }
}

async fn records<S: SessionStore>(store: &S) -> u64 {
    store.stats(0).await.unwrap().expect("counts").records
}

#[tokio::test]
async fn adaptive_sessions_move_between_cookie_and_store_and_back() {
    let store = Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Notes>::with_store(key(), store.clone())
        .with_cookie_threshold(100)
        .unwrap();
    let mut browser = Browser::new(notes_app(layer, None), "__Host-notes");

    browser.send("POST", "/text/small").await;
    let cookie = browser.cookie.clone().unwrap();
    assert_ne!(
        cookie.len(),
        SIGNED_ID_LEN,
        "small: the data is in the cookie"
    );
    assert_eq!(records(store.inner()).await, 0);

    browser.send("POST", "/long/500").await;
    let id = browser.cookie.clone().unwrap();
    assert_eq!(
        id.len(),
        SIGNED_ID_LEN,
        "large: the cookie holds a signed id"
    );
    assert_eq!(records(store.inner()).await, 1);
    let shown = browser.send("GET", "/show").await;
    assert_eq!(shown.body, format!("{}|0|", "x".repeat(500)));
    assert!(shown.set_cookie.is_none(), "a read writes nothing");

    browser.send("POST", "/text/small-again").await;
    let cookie = browser.cookie.clone().unwrap();
    assert_ne!(
        cookie.len(),
        SIGNED_ID_LEN,
        "small again: back in the cookie"
    );
    assert_eq!(records(store.inner()).await, 0, "and the row is deleted");
    assert_eq!(browser.send("GET", "/show").await.body, "small-again|0|");
}

#[tokio::test]
async fn a_zero_threshold_keeps_every_session_server_side() {
    let layer = SessionLayer::<Notes>::with_store(key(), MemoryStore::default())
        .with_cookie_threshold(0)
        .unwrap();
    let mut browser = Browser::new(notes_app(layer, None), "__Host-notes");
    browser.send("POST", "/text/a").await;
    assert_eq!(browser.cookie.as_ref().unwrap().len(), SIGNED_ID_LEN);
    assert_eq!(browser.send("GET", "/show").await.body, "a|0|");
}

#[tokio::test]
async fn server_sessions_keep_only_a_signed_id_in_the_cookie_and_seal_the_row() {
    let store = SqliteStore::in_memory().await.unwrap();
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");

    browser.send("POST", "/add/7").await;
    browser.send("POST", "/add/8").await;
    let id = browser.cookie.clone().unwrap();
    assert_eq!(id.len(), SIGNED_ID_LEN);
    assert_eq!(records(&store).await, 1, "one row, updated in place");
    assert_eq!(browser.send("GET", "/whoami").await.body, "None");

    // the row is filed under the hash of the id, at its second version
    let (id, _) = SessionId::verify(&id, &KeyRing::new(key()), "__Host-account").unwrap();
    let record = store.load(&id.store_key(), 0).await.unwrap().unwrap();
    assert_eq!(record.version, 2);
}

#[tokio::test]
async fn a_row_moved_to_another_key_does_not_open() {
    let shared = Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Account>::with_store(key(), shared.clone());
    let mut alice = Browser::new(account_app(layer.clone()), "__Host-account");
    let mut mallory = Browser::new(account_app(layer), "__Host-account");
    alice.send("POST", "/add/1").await;
    mallory.send("POST", "/add/2").await;
    let keys = KeyRing::new(key());
    let alice_key = SessionId::verify(alice.cookie.as_ref().unwrap(), &keys, "__Host-account")
        .unwrap()
        .0
        .store_key();
    let mallory_key = SessionId::verify(mallory.cookie.as_ref().unwrap(), &keys, "__Host-account")
        .unwrap()
        .0
        .store_key();
    // mallory swaps alice's row into her own key (a poisoned store)
    let alice_row = shared.inner().load(&alice_key, 0).await.unwrap().unwrap();
    shared
        .inner()
        .put(&mallory_key, alice_row.entry(), alice_row.version)
        .await
        .unwrap();
    let reply = mallory.send("GET", "/whoami").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body, "None",
        "refused: a fresh session, not alice's data"
    );
}

#[tokio::test]
async fn forged_and_unknown_ids_never_reach_a_store_write_and_create_no_rows() {
    let store = Probe::new(SqliteStore::in_memory().await.unwrap());
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let app = account_app(layer);
    let other_key = KeyRing::new(key_from(9));
    let mut random = [0u8; 49];
    for i in 0..10_000 {
        let forged = match i % 3 {
            // random bytes of a signed id's shape
            0 => {
                rand_fill(&mut random);
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
            }
            // a real id signed with someone else's key
            1 => SessionId::generate()
                .unwrap()
                .sign(&other_key, "__Host-account"),
            // garbage
            _ => format!("{i:x}"),
        };
        let reply = send(&app, "GET", "/whoami", Some(("__Host-account", &forged))).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "None");
        assert_eq!(
            reply.set_cookie.as_deref(),
            Some(""),
            "a read of a forged id writes nothing; the cookie is cleared"
        );
    }
    assert_eq!(records(store.inner()).await, 0, "0 rows");
    assert_eq!(store.state().writes.load(Ordering::SeqCst), 0);
    assert_eq!(
        store.state().loads.load(Ordering::SeqCst),
        0,
        "refused before any store query"
    );

    // a validly signed but unknown id is looked up once and never adopted
    let unknown = SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key()), "__Host-account");
    let reply = send(&app, "POST", "/add/1", Some(("__Host-account", &unknown))).await;
    let minted = reply.set_cookie.unwrap();
    assert_ne!(minted, unknown, "a new id is minted on the first write");
    assert_eq!(records(store.inner()).await, 1);
}

fn rand_fill(bytes: &mut [u8]) {
    for chunk in bytes.chunks_mut(32) {
        let id = SessionId::generate().unwrap().store_key();
        chunk.copy_from_slice(&id.as_bytes()[..chunk.len()]);
    }
}

#[tokio::test]
async fn cycle_id_replaces_the_id_and_deletes_the_old_row() {
    let store = SqliteStore::in_memory().await.unwrap();
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    browser.send("POST", "/add/5").await;
    let before = browser.cookie.clone().unwrap();

    browser.send("POST", "/login/77").await;
    let after = browser.cookie.clone().unwrap();
    assert_ne!(before, after, "login cycles the id");
    assert_eq!(records(&store).await, 1, "the old row is gone");
    assert_eq!(browser.send("GET", "/whoami").await.body, "Some(77)");

    // the pre-login id (fixated by an attacker) no longer works
    let app = browser.app.clone();
    let stale = send(&app, "GET", "/whoami", Some(("__Host-account", &before))).await;
    assert_eq!(stale.body, "None");
}

#[tokio::test]
async fn terminate_deletes_the_row_and_expires_the_cookie() {
    let store = SqliteStore::in_memory().await.unwrap();
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    browser.send("POST", "/login/1").await;
    let id = browser.cookie.clone().unwrap();
    assert_eq!(records(&store).await, 1);

    let reply = browser.send("POST", "/logout").await;
    assert_eq!(reply.set_cookie.as_deref(), Some(""), "cookie expired");
    assert_eq!(records(&store).await, 0, "server data deleted");
    let replay = send(
        &browser.app,
        "GET",
        "/whoami",
        Some(("__Host-account", &id)),
    )
    .await;
    assert_eq!(replay.body, "None", "the old cookie is useless");
}

#[tokio::test]
async fn concurrent_requests_changing_different_fields_both_survive() {
    let store = SqliteStore::in_memory().await.unwrap();
    let layer = SessionLayer::<Notes>::with_store(key(), store.clone())
        .with_cookie_threshold(0)
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut browser = Browser::new(notes_app(layer, Some(barrier)), "__Host-notes");
    // a first write without the barrier's partner would block: use /text
    browser.send("POST", "/text/start").await;
    let cookie = browser.cookie.clone().unwrap();

    let app = browser.app.clone();
    let (a, b) = tokio::join!(
        send(&app, "POST", "/race/count", Some(("__Host-notes", &cookie))),
        send(
            &app,
            "POST",
            "/race/changed",
            Some(("__Host-notes", &cookie))
        ),
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let shown = send(&app, "GET", "/show", Some(("__Host-notes", &cookie))).await;
    assert_eq!(shown.body, "changed|1|", "neither update was lost");
}

#[tokio::test]
async fn a_store_outage_answers_503_and_loses_nothing_saved_before() {
    let store = Probe::new(SqliteStore::in_memory().await.unwrap());
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    browser.send("POST", "/login/3").await;
    browser.send("POST", "/add/1").await;

    store.set_down(true);
    let read = browser.send("GET", "/whoami").await;
    assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        read.body.contains("session store is unavailable"),
        "{}",
        read.body
    );
    let write = browser.send("POST", "/add/2").await;
    assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(write.set_cookie.is_none(), "the cookie is kept");

    store.set_down(false);
    assert_eq!(browser.send("GET", "/whoami").await.body, "Some(3)");
    let keys = KeyRing::new(key());
    let id = SessionId::verify(browser.cookie.as_ref().unwrap(), &keys, "__Host-account")
        .unwrap()
        .0;
    assert!(
        store
            .inner()
            .load(&id.store_key(), 0)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_new_session_failing_to_save_answers_503_with_a_body() {
    let store = Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Account>::with_store(key(), store.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    store.set_down(true);
    let reply = browser.send("POST", "/add/1").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("unavailable"), "{}", reply.body);
    assert!(reply.set_cookie.is_none());
}

#[tokio::test]
async fn the_continue_policy_serves_an_empty_session_and_keeps_the_cookie() {
    let store = Probe::new(MemoryStore::default());
    let layer = SessionLayer::<Account>::with_store(key(), store.clone())
        .with_outage_policy(OutagePolicy::Continue)
        .unwrap();
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    browser.send("POST", "/login/9").await;
    let cookie = browser.cookie.clone();

    store.set_down(true);
    let read = browser.send("GET", "/whoami").await;
    assert_eq!((read.status, read.body.as_str()), (StatusCode::OK, "None"));
    let write = browser.send("POST", "/add/1").await;
    assert_eq!(write.status, StatusCode::OK);
    assert!(
        write.set_cookie.is_none(),
        "nothing written over the real session"
    );
    assert_eq!(browser.cookie, cookie);

    store.set_down(false);
    assert_eq!(browser.send("GET", "/whoami").await.body, "Some(9)");
}

#[tokio::test]
async fn saving_over_the_size_cap_is_a_clear_error() {
    let layer = SessionLayer::<Notes>::with_store(key(), MemoryStore::default())
        .with_max_size(1000)
        .unwrap();
    let mut browser = Browser::new(notes_app(layer, None), "__Host-notes");
    let reply = browser.send("POST", "/long/5000").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    // the sizes and the cap go to the log; the client gets a generic text
    assert_eq!(reply.body, "the session could not be saved");
    assert_eq!(reply.set_cookie, None, "nothing saved");
    assert!(
        SessionLayer::<Notes>::with_store(key(), MemoryStore::default())
            .with_max_size(2 << 20)
            .is_err(),
        "no cap above what a session can decode"
    );
    assert!(
        SessionLayer::<Account>::with_store(key(), MemoryStore::default())
            .with_cookie_threshold(10)
            .is_err(),
        "a threshold only means something for Adaptive sessions"
    );
}

#[tokio::test]
async fn quick_fields_live_in_the_cache_only() {
    let durable = SqliteStore::in_memory().await.unwrap();
    // room for one session: a second one evicts the first
    let cache = Probe::new(MemoryStore::new(std::num::NonZeroUsize::new(1).unwrap()));
    let layer =
        SessionLayer::<Notes>::with_store(key(), Tiered::new(cache.clone(), durable.clone()))
            .with_cookie_threshold(0)
            .unwrap();
    let mut browser = Browser::new(notes_app(layer.clone(), None), "__Host-notes");
    browser.send("POST", "/text/kept").await;
    browser.send("POST", "/flash/hello").await;
    assert_eq!(browser.send("GET", "/show").await.body, "kept|0|hello");

    let keys = KeyRing::new(key());
    let id = SessionId::verify(browser.cookie.as_ref().unwrap(), &keys, "__Host-notes")
        .unwrap()
        .0;
    let row = durable.load(&id.store_key(), 0).await.unwrap().unwrap();
    assert!(row.quick.is_empty(), "the durable row has no quick fields");
    let cached = cache
        .inner()
        .load(&id.store_key(), 0)
        .await
        .unwrap()
        .unwrap();
    assert!(!cached.quick.is_empty(), "the cache has them");

    // the cache evicts the entry: durable data stays, quick fields go
    let mut other = Browser::new(browser.app.clone(), "__Host-notes");
    other.send("POST", "/text/other").await;
    assert!(
        cache
            .inner()
            .load(&id.store_key(), 0)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(browser.send("GET", "/show").await.body, "kept|0|");
}

#[tokio::test]
async fn expired_server_sessions_are_not_loaded() {
    let clock = TestClock::new();
    let layer = SessionLayer::<Account>::with_store(key(), MemoryStore::default())
        .with_lifetime(Duration::from_secs(60))
        .unwrap()
        .with_clock(clock.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    browser.send("POST", "/login/4").await;
    // past a quarter of the lifetime, a read slides the expiry
    clock.advance(Duration::from_secs(30));
    let read = browser.send("GET", "/whoami").await;
    assert_eq!(read.body, "Some(4)");
    assert!(read.set_cookie.is_some(), "refreshed");
    clock.advance(Duration::from_secs(45));
    assert_eq!(browser.send("GET", "/whoami").await.body, "Some(4)");
    // idle for a whole lifetime: gone
    clock.advance(Duration::from_secs(61));
    assert_eq!(browser.send("GET", "/whoami").await.body, "None");
}

#[tokio::test]
async fn from_request_explains_that_server_sessions_load_asynchronously() {
    let layer = SessionLayer::<Account>::with_store(key(), MemoryStore::default());
    let app = Router::new()
        .route(
            "/sync",
            get(|request: Request<Body>| async move {
                match Session::<Account>::from_request(&request) {
                    Ok(_) => "loaded".to_owned(),
                    Err(rejection) => rejection.to_string(),
                }
            }),
        )
        .layer(layer);
    let id = SessionId::generate()
        .unwrap()
        .sign(&KeyRing::new(key()), "__Host-account");
    let reply = send(&app, "GET", "/sync", Some(("__Host-account", &id))).await;
    assert!(reply.body.contains("Session::load"), "{}", reply.body);
}

#[tokio::test]
async fn restarting_memcached_loses_no_session_of_a_tiered_store() {
    let Some(memcached_bin) = address("SESSIONKIT_MEMCACHED_BIN") else {
        return;
    };
    // our own memcached, so the test can restart it
    let mut server = sessionkit_tests::process::OwnServer::memcached(&memcached_bin);
    let cache = MemcachedStore::connect([format!("127.0.0.1:{}", server.port())])
        .await
        .unwrap();
    let durable = SqliteStore::in_memory().await.unwrap();
    let layer = SessionLayer::<Account>::with_store(key(), Tiered::new(cache, durable.clone()));
    let app = account_app(layer);
    let mut browsers: Vec<Browser> = (0..20)
        .map(|_| Browser::new(app.clone(), "__Host-account"))
        .collect();
    for (user, browser) in browsers.iter_mut().enumerate() {
        assert_eq!(
            browser.send("POST", &format!("/login/{user}")).await.status,
            StatusCode::OK
        );
    }

    // down: reads fall back to the durable store, writes still succeed
    server.kill();
    for (user, browser) in browsers.iter_mut().enumerate() {
        let reply = browser.send("GET", "/whoami").await;
        assert_eq!(
            (reply.status, reply.body),
            (StatusCode::OK, format!("Some({user})"))
        );
    }
    assert_eq!(
        browsers[0].send("POST", "/add/1").await.status,
        StatusCode::OK
    );

    // back, empty: every session is still there
    server.restart();
    for (user, browser) in browsers.iter_mut().enumerate() {
        let reply = browser.send("GET", "/whoami").await;
        assert_eq!(
            (reply.status, reply.body),
            (StatusCode::OK, format!("Some({user})"))
        );
    }
    assert_eq!(records(&durable).await, 20);
}

/// gae-sessions' `set_quick`: a request that changes only quick fields
/// writes the cache tier alone, on every cache store.
async fn quick_only_changes_skip_the_durable_store<C: CacheStore>(cache: C, name: &str) {
    let durable = Probe::new(SqliteStore::in_memory().await.unwrap());
    let layer = SessionLayer::<Notes>::with_store(key(), Tiered::new(cache, durable.clone()))
        .with_cookie_threshold(0)
        .unwrap();
    let mut browser = Browser::new(notes_app(layer, None), "__Host-notes");
    browser.send("POST", "/text/kept").await;
    let writes = durable.state().writes.load(Ordering::SeqCst);
    let flash = browser.send("POST", "/flash/hello").await;
    assert_eq!(flash.status, StatusCode::OK);
    assert!(
        flash.set_cookie.is_none(),
        "{name}: the cookie is unchanged"
    );
    assert_eq!(
        durable.state().writes.load(Ordering::SeqCst),
        writes,
        "{name}: 0 durable writes for a quick-only change"
    );
    assert_eq!(
        browser.send("GET", "/show").await.body,
        "kept|0|hello",
        "{name}"
    );
    // a durable change writes the durable store again, quick fields kept
    browser.send("POST", "/count").await;
    assert_eq!(
        durable.state().writes.load(Ordering::SeqCst),
        writes + 1,
        "{name}"
    );
    assert_eq!(
        browser.send("GET", "/show").await.body,
        "kept|1|hello",
        "{name}"
    );
    sessionkit_tests::figure(&format!(
        "quick-only change on tiered {name}+sqlite: 0 durable writes (1 for the following durable change)"
    ));
}

#[tokio::test]
async fn a_change_to_quick_fields_alone_writes_the_cache_only() {
    quick_only_changes_skip_the_durable_store(MemoryStore::default(), "memory").await;
    if let Some(redis) = sessionkit_tests::stores::redis().await {
        quick_only_changes_skip_the_durable_store(redis, "redis").await;
    }
    if let Some(memcached) = sessionkit_tests::stores::memcached().await {
        quick_only_changes_skip_the_durable_store(memcached, "memcached").await;
    }
}

#[tokio::test]
async fn server_side_writes_send_no_cookie_unless_the_token_changes() {
    let clock = TestClock::new();
    let layer = SessionLayer::<Account>::with_store(key(), MemoryStore::default())
        .with_lifetime(Duration::from_secs(100))
        .unwrap()
        .with_clock(clock.clone());
    let mut browser = Browser::new(account_app(layer), "__Host-account");
    let login = browser.send("POST", "/login/4").await;
    let id = login.set_cookie.expect("a new session sends its ID");
    for item in 1..=5 {
        clock.advance(Duration::from_secs(4));
        let added = browser.send("POST", &format!("/add/{item}")).await;
        assert_eq!(added.status, StatusCode::OK);
        assert!(
            added.set_cookie.is_none(),
            "write {item}: same ID, expiry not yet due: no Set-Cookie"
        );
    }
    // past a quarter of the lifetime since the cookie was sent: the write
    // refreshes record and cookie together, under the same ID
    clock.advance(Duration::from_secs(6));
    let refreshed = browser.send("POST", "/add/6").await;
    assert_eq!(refreshed.set_cookie.as_deref(), Some(id.as_str()));
    // the record lives as long as the cookie it was last given: 100 s from
    // the refresh at t = 26, whatever the writes in between did
    clock.advance(Duration::from_secs(99));
    assert_eq!(browser.send("GET", "/whoami").await.body, "Some(4)");
    clock.advance(Duration::from_secs(101));
    assert_eq!(browser.send("GET", "/whoami").await.body, "None");
}

/// A signed ID whose record is gone (unknown, expired, revoked) is cleared
/// from the browser like a tampered cookie, and a header client gets an
/// empty token: left in place, a dead ID costs a store lookup on every
/// request, forever.
#[tokio::test]
async fn dead_ids_are_cleared_like_tampered_ones() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let layer = SessionLayer::<Notes>::with_store(key(), Arc::clone(&store))
        .with_token_header("x-session")
        .unwrap()
        .with_clock(clock.clone());
    let app = notes_app(layer, None);
    let keys = KeyRing::new(key());

    // unknown: the record deleted behind the layer's back
    let mut browser = Browser::new(app.clone(), "__Host-notes");
    browser.send("POST", "/long/5000").await;
    let id = browser.cookie.clone().unwrap();
    let (session, _) = SessionId::verify(&id, &keys, "__Host-notes").unwrap();
    assert!(store.delete(&session.store_key()).await.unwrap());
    let read = send(&app, "GET", "/show", Some(("__Host-notes", &id))).await;
    assert_eq!(read.body, "|0|");
    assert_eq!(
        read.set_cookie.as_deref(),
        Some(""),
        "the dead ID is cleared"
    );

    // expired: past the lifetime, the record is gone from the store's view
    let mut browser = Browser::new(app.clone(), "__Host-notes");
    browser.send("POST", "/long/5000").await;
    let id = browser.cookie.clone().unwrap();
    clock.advance(Duration::from_secs(8 * 86_400));
    let read = send(&app, "GET", "/show", Some(("__Host-notes", &id))).await;
    assert_eq!(
        read.set_cookie.as_deref(),
        Some(""),
        "the expired ID is cleared"
    );

    // a header client is told with an empty token, and gets no cookie
    let asked = app
        .clone()
        .oneshot(
            Request::post("/long/5000")
                .header("x-session", "")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(asked.headers().get(header::SET_COOKIE).is_none());
    let token = asked.headers()["x-session"].to_str().unwrap().to_owned();
    let (session, _) = SessionId::verify(&token, &keys, "__Host-notes").unwrap();
    assert!(store.delete(&session.store_key()).await.unwrap());
    let dead = app
        .clone()
        .oneshot(
            Request::get("/show")
                .header("x-session", &token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(dead.headers()["x-session"], "", "an empty token ends it");
    assert!(dead.headers().get(header::SET_COOKIE).is_none());
}

/// `with_always_save(true)` slides a server-side session on every request,
/// as the README says: each response re-issues the token with a new expiry
/// (routes that never extract the session too), so a session used daily
/// outlives its first lifetime; on every store configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_save_slides_server_sessions_on_every_tier() {
    for (name, layer) in
        sessionkit_tests::stores::every_server_layer::<Account>(&key(), "always").await
    {
        let clock = TestClock::new();
        let layer = layer.with_clock(clock.clone()).with_always_save(true);
        let app = Router::new()
            .route("/plain", get(|| async { "no session here" }))
            .route(
                "/whoami",
                get(|account: Session<Account>| async move { format!("{:?}", account.user()) }),
            )
            .route(
                "/login/{user}",
                post(
                    |mut account: Session<Account>, Path(user): Path<u64>| async move {
                        account.set_user(Some(user));
                        "ok"
                    },
                ),
            )
            .layer(layer);
        let login = send(&app, "POST", "/login/9", None).await;
        let mut cookie = login.set_cookie.expect("a session");
        // twelve days of daily use: past the first 7-day lifetime
        for day in 1..=12 {
            clock.advance(Duration::from_secs(86_400));
            let uri = if day % 2 == 0 { "/whoami" } else { "/plain" };
            let reply = send(&app, "GET", uri, Some(("__Host-account", &cookie))).await;
            assert_eq!(reply.status, StatusCode::OK, "{name} day {day}");
            let token = reply.set_cookie.unwrap_or_else(|| {
                panic!("{name} day {day}: always-save re-issues the token on {uri}")
            });
            assert!(!token.is_empty(), "{name} day {day}: not cleared");
            cookie = token;
        }
        let whoami = send(&app, "GET", "/whoami", Some(("__Host-account", &cookie))).await;
        assert_eq!(whoami.body, "Some(9)", "{name}: alive after 12 days of use");
    }
}
