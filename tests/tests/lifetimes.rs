//! No session outlives 400 days (RFC 6265bis' cookie cap, and the time
//! revocations are kept): a "remember me" of five years, or of
//! `Duration::MAX`, is clamped in the cookie, the sealed expiry and every
//! store's record, and a session set so far ahead can still be ended.

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use session_runtime::id::SessionId;
use session_runtime::{
    KeyRing, MAX_LIFETIME, MemoryStore, Mode, Sealer, Session, SessionLayer, SessionStore, Tiered,
};
use sessionkit_tests::key;
use sessionkit_tests::stores;
use sessionkit_tests::{TestClock, figure};
use std::time::Duration;

#[derive(Session, Default)]
#[session(cookie = "prefs")]
struct Prefs {
    theme: u8,
}

#[derive(Session, Default)]
#[session(cookie = "vault", storage = "server")]
struct Vault {
    note: u32,
}

/// `days` of u64::MAX means `Duration::MAX`.
fn lifetime(days: u64) -> Duration {
    if days == u64::MAX {
        Duration::MAX
    } else {
        Duration::from_secs(days * 86_400)
    }
}

fn max_age(reply: &sessionkit_tests::http::Reply) -> u64 {
    let line = reply.headers["set-cookie"].to_str().unwrap();
    let parsed = cookie::Cookie::parse(line.to_owned()).unwrap();
    u64::try_from(parsed.max_age().unwrap().whole_seconds()).unwrap()
}

#[test]
fn revocations_are_kept_as_long_as_the_longest_session() {
    assert!(session_runtime::user::KEEP_REVOCATIONS >= MAX_LIFETIME);
    assert_eq!(MAX_LIFETIME, Duration::from_secs(400 * 86_400));
}

#[tokio::test]
async fn a_cookie_remembered_for_years_lives_400_days() {
    let clock = TestClock::new();
    let app = Router::new()
        .route(
            "/remember/{days}",
            post(|mut p: Session<Prefs>, Path(days): Path<u64>| async move {
                p.set_lifetime(lifetime(days));
                p.set_theme(1);
                "ok"
            }),
        )
        .layer(SessionLayer::<Prefs>::new(key()).with_clock(clock.clone()));
    for days in [5 * 365, 401, u64::MAX] {
        let reply =
            sessionkit_tests::http::send(&app, "POST", &format!("/remember/{days}"), None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(max_age(&reply), MAX_LIFETIME.as_secs(), "{days} days");
        let value = reply.set_cookie.unwrap();
        let opened = Sealer::new(key(), Mode::Encrypted)
            .inspect("__Host-prefs", &value)
            .unwrap();
        assert_eq!(
            opened.meta.expires_at,
            clock.secs() + MAX_LIFETIME.as_secs(),
            "the sealed expiry is capped too ({days} days)"
        );
    }
    // a shorter lifetime is kept as asked
    let reply = sessionkit_tests::http::send(&app, "POST", "/remember/30", None).await;
    assert_eq!(max_age(&reply), 30 * 86_400);
}

fn vault_app(layer: SessionLayer<Vault>) -> Router {
    Router::new()
        .route(
            "/remember/{days}",
            post(|mut v: Session<Vault>, Path(days): Path<u64>| async move {
                v.set_lifetime(lifetime(days));
                v.set_note(7);
                "ok"
            }),
        )
        .route(
            "/note",
            get(|v: Session<Vault>| async move { v.note().to_string() }),
        )
        .route(
            "/logout",
            post(|mut v: Session<Vault>| async move {
                v.terminate();
                "bye"
            }),
        )
        .layer(layer)
}

/// On `store` (as the layer's store and as seen directly): the record of a
/// session remembered for `Duration::MAX` expires within 400 days, and
/// logging out still works.
async fn remembered_forever<St: SessionStore + Clone>(name: &str, store: St) {
    let app = vault_app(SessionLayer::<Vault>::with_store(key(), store.clone()));
    let reply =
        sessionkit_tests::http::send(&app, "POST", &format!("/remember/{}", u64::MAX), None).await;
    assert_eq!(reply.status, 200, "{name}: {}", reply.body);
    assert!(max_age(&reply) <= MAX_LIFETIME.as_secs(), "{name}");
    let id = reply.set_cookie.clone().unwrap();
    let (session, _) = SessionId::verify(&id, &KeyRing::new(key()), "__Host-vault").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let record = store
        .load(&session.store_key(), now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        record.expires_at <= now + MAX_LIFETIME.as_secs() + 5,
        "{name}: the record expires within 400 days: {} s",
        record.expires_at - now
    );
    let note =
        sessionkit_tests::http::send(&app, "GET", "/note", Some(("__Host-vault", &id))).await;
    assert_eq!(note.body, "7", "{name}");
    let out =
        sessionkit_tests::http::send(&app, "POST", "/logout", Some(("__Host-vault", &id))).await;
    assert_eq!(out.status, 200, "{name}: logging out works: {}", out.body);
    let after =
        sessionkit_tests::http::send(&app, "GET", "/note", Some(("__Host-vault", &id))).await;
    assert_eq!(after.body, "0", "{name}: and the session is gone");
    figure(&format!(
        "lifetime cap store={name}: Duration::MAX remembered as {} days, record TTL <= 400 days, logout 200",
        max_age(&reply) / 86_400
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_session_remembered_forever_expires_within_400_days_in_every_store() {
    remembered_forever("memory", std::sync::Arc::new(MemoryStore::default())).await;
    remembered_forever("sqlite", stores::sqlite_memory("life_sqlite").await).await;
    if let Some(store) = stores::redis().await {
        remembered_forever("redis", store).await;
    }
    if let Some(store) = stores::memcached().await {
        remembered_forever("memcached", store).await;
    }
    if let (Some(cache), Some(durable)) =
        (stores::redis().await, stores::postgres("life_tpg").await)
    {
        remembered_forever(
            "tiered redis+postgres",
            std::sync::Arc::new(Tiered::new(cache, durable)),
        )
        .await;
    }
}

/// A session that keeps being used still ends 30 days after its login by
/// default (a copied cookie whose thief uses it weekly no longer lives
/// forever); a "remember me" longer than that lasts its own lifetime; both
/// are overridable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_session_ends_at_the_default_absolute_timeout() {
    async fn last_day(layer: SessionLayer<Prefs>, clock: &TestClock, remember: Option<u64>) -> u64 {
        let app = Router::new()
            .route(
                "/use",
                post(|mut p: Session<Prefs>| async move {
                    let theme = p.theme().wrapping_add(1).max(1);
                    p.set_theme(theme);
                    p.theme().to_string()
                }),
            )
            .route(
                "/remember/{days}",
                post(|mut p: Session<Prefs>, Path(days): Path<u64>| async move {
                    p.set_lifetime(lifetime(days));
                    p.set_theme(1);
                    "ok"
                }),
            )
            .layer(layer);
        let first = match remember {
            Some(days) => format!("/remember/{days}"),
            None => "/use".to_owned(),
        };
        let mut cookie = sessionkit_tests::http::send(&app, "POST", &first, None)
            .await
            .set_cookie
            .unwrap();
        let started = clock.secs();
        // used every 5 days: the idle lifetime (7 days) never runs out
        for _ in 0..100 {
            clock.advance(Duration::from_secs(5 * 86_400));
            let reply =
                sessionkit_tests::http::send(&app, "POST", "/use", Some(("__Host-prefs", &cookie)))
                    .await;
            if reply.body == "1" {
                // a fresh session: the old one ended
                return (clock.secs() - started) / 86_400;
            }
            cookie = reply.set_cookie.unwrap_or(cookie);
        }
        u64::MAX
    }
    let clock = TestClock::new();
    let base = || SessionLayer::<Prefs>::new(key()).with_clock(clock.clone());
    assert_eq!(
        last_day(base(), &clock, None).await,
        30,
        "30 days by default"
    );
    let sixty = base()
        .with_absolute_timeout(Duration::from_secs(60 * 86_400))
        .unwrap();
    assert_eq!(last_day(sixty, &clock, None).await, 60, "overridden");
    assert_eq!(
        last_day(base(), &clock, Some(90)).await,
        90,
        "a remember me lasts its own lifetime"
    );
    assert_eq!(
        last_day(base().without_absolute_timeout(), &clock, None).await,
        400,
        "opted out: it slides up to the 400-day cap"
    );
    figure(
        "absolute timeout: a session used every 5 days ends on day 30 by default, day 60 with with_absolute_timeout(60 d), day 90 for a 90-day remember me, day 400 without_absolute_timeout",
    );
}
