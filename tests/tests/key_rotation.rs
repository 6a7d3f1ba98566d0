//! A managed key ring across real processes: two instances of an app share
//! one store and its keys, clients keep a cookie session and a server
//! session each and make requests round robin while the ring rotates on
//! its schedule (short, for the test), a third instance starts after the
//! rotations, and then an operator revokes the key that seals (as
//! `sessionkit keys revoke` does, from a process of its own). Checked:
//! nothing lost across the rotations; after the revocation, every session
//! sealed with that key is refused on every instance within the refresh
//! interval, and every other session still opens.
//!
//! The instances are this test binary run again with
//! `SESSIONKIT_KEYS_INSTANCE` set (so it has no libtest harness).

use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use session_runtime::store::{KeyStore, PostgresStore, SqliteStore};
use session_runtime::{KeyPolicy, ManagedKeys, MasterKey, Session, SessionLayer, SessionStore};
use sessionkit_tests::fleet::{Client, Pool, Tally, call, traffic};
use sessionkit_tests::process::Instance;
use sessionkit_tests::servers::{address, table};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

#[derive(Session, Default)]
#[session(cookie = "prefs", storage = "cookie")]
struct Prefs {
    visits: u32,
}

#[derive(Session, Default)]
#[session(cookie = "cart", storage = "server")]
struct Cart {
    count: u64,
}

const REFRESH: Duration = Duration::from_millis(200);

/// Rotation every 2 s, keys learnt within 200 ms and sealing 600 ms after
/// they are made; a replaced key verifies for a minute (longer than the
/// test).
fn policy() -> KeyPolicy {
    KeyPolicy::default()
        .with_refresh(REFRESH)
        .with_activation_delay(Duration::from_millis(600))
        .with_rotation(Duration::from_secs(2))
        .with_retention(Duration::from_secs(60))
}

fn root() -> MasterKey {
    MasterKey::from_secret(b"the root secret of the key rotation test!").unwrap()
}

fn app<K: KeyStore + SessionStore + Clone>(
    label: &'static str,
    keys: ManagedKeys<K>,
    store: K,
) -> Router {
    let status = keys.clone();
    Router::new()
        .route(
            "/visit",
            post(move |mut prefs: Session<Prefs>| async move {
                *prefs.visits_mut() += 1;
                format!("{label}|{}", prefs.visits())
            }),
        )
        .route(
            "/visits",
            get(move |prefs: Session<Prefs>| async move { format!("{label}|{}", prefs.visits()) }),
        )
        .route(
            "/add",
            post(move |mut cart: Session<Cart>| async move {
                *cart.count_mut() += 1;
                format!("{label}|{}", cart.count())
            }),
        )
        .route(
            "/count",
            get(move |cart: Session<Cart>| async move { format!("{label}|{}", cart.count()) }),
        )
        .route(
            "/key",
            get(move || async move { status.status().current.to_string() }),
        )
        .layer(SessionLayer::<Cart>::with_store(keys.ring(), store))
        .layer(SessionLayer::<Prefs>::new(keys.ring()))
}

/// The child's side: serve over the store `spec` until killed.
fn instance(spec: &str) {
    let port = Instance::own_port();
    let (label, store) = spec.split_once(' ').unwrap();
    let label: &'static str = Box::leak(label.to_owned().into_boxed_str());
    let store = store.to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let app = if let Some(path) = store.strip_prefix("sqlite:") {
            let store = sessionkit_tests::stores::sqlite_at(std::path::Path::new(path)).await;
            let keys = ManagedKeys::start_with(store.clone(), root(), policy())
                .await
                .unwrap();
            app(label, keys, store)
        } else if let Some(rest) = store.strip_prefix("postgres:") {
            let store = postgres(rest).await;
            let keys = ManagedKeys::start_with(store.clone(), root(), policy())
                .await
                .unwrap();
            app(label, keys, store)
        } else {
            panic!("no store {store}")
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

async fn postgres(spec: &str) -> PostgresStore {
    let (url, name) = spec.split_once('|').unwrap();
    let store = PostgresStore::connect(url)
        .await
        .unwrap()
        .with_table(name)
        .unwrap();
    store.migrate().await.unwrap();
    store
}

/// The key id byte a sealed cookie value or a signed ID carries: the
/// second byte of both.
fn key_byte(value: &str) -> u8 {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .unwrap()[1]
}

async fn current_key(http: &reqwest::Client, port: u16) -> u32 {
    let body = http
        .get(format!("http://127.0.0.1:{port}/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.parse().unwrap()
}

/// Whether `client`'s session of `path` (`/visits` or `/count`) opens on
/// `port` with the value the client wrote.
async fn opens(http: &reqwest::Client, port: u16, client: &Client, path: &str) -> bool {
    let cookie = client
        .cookies
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let body = http
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value: u64 = body.split_once('|').unwrap().1.parse().unwrap();
    let expected = if path == "/visits" {
        u64::from(client.visits)
    } else {
        client.count
    };
    assert!(
        value == expected || value == 0,
        "{path} on {port}: {value}, expected {expected} or no session"
    );
    value == expected
}

async fn scenario<K: KeyStore + Clone>(name: &str, spec: &str, operator: K) {
    let a = Instance::start("SESSIONKIT_KEYS_INSTANCE", &format!("a {spec}")).await;
    let b = Instance::start("SESSIONKIT_KEYS_INSTANCE", &format!("b {spec}")).await;
    let http = reqwest::Client::new();
    let first = current_key(&http, a.port()).await;
    let pool: Pool = Arc::new(RwLock::new(vec![("a", a.port()), ("b", b.port())]));
    let tally = Arc::new(Tally::default());
    let turn = AtomicUsize::new(0);
    let mut clients: Vec<Client> = (0..100).map(|_| Client::default()).collect();
    for client in &mut clients {
        call(&http, &pool, &turn, client, 0, &tally).await;
        call(&http, &pool, &turn, client, 2, &tally).await;
    }
    // clients that make no request while the keys rotate: their sessions
    // stay sealed with the first key
    let mut idle: Vec<Client> = (0..20).map(|_| Client::default()).collect();
    for client in &mut idle {
        call(&http, &pool, &turn, client, 0, &tally).await;
        call(&http, &pool, &turn, client, 2, &tally).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(traffic(
        clients,
        pool.clone(),
        tally.clone(),
        stop.clone(),
        4,
    ));
    // two rotations and more
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let c = Instance::start("SESSIONKIT_KEYS_INSTANCE", &format!("c {spec}")).await;
    pool.write().await.push(("c", c.port()));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::Relaxed);
    let clients = running.await.unwrap();
    let rotated = current_key(&http, a.port()).await;
    let (no_session, lost) = (
        tally.no_session.load(Ordering::Relaxed),
        tally.lost_writes.load(Ordering::Relaxed),
    );
    let failures = tally.first_failures.lock().unwrap().clone();
    assert_eq!((no_session, lost), (0, 0), "{name}: {failures:#?}");
    assert!(
        rotated >= first + 2,
        "{name}: key {first} -> {rotated}: two rotations at least"
    );

    // the operator revokes the key that seals now, from a process of its
    // own (what `sessionkit keys revoke` does)
    let revoked = ManagedKeys::load(operator, root(), policy()).await.unwrap();
    let kid = current_key(&http, a.port()).await;
    let byte = revoked
        .keys()
        .iter()
        .find(|key| key.kid == kid)
        .and_then(|key| key.envelope_id)
        .unwrap();
    // a byte another live key shares would make the count below unsure
    let shared = revoked
        .keys()
        .iter()
        .filter(|key| key.envelope_id == Some(byte))
        .count();
    let carries = |client: &Client, cookie: &str| {
        client
            .cookies
            .get(cookie)
            .is_some_and(|value| key_byte(value) == byte)
    };
    let sealed_with = clients
        .iter()
        .filter(|client| carries(client, "__Host-prefs"))
        .count();
    let probe = clients
        .iter()
        .find(|client| carries(client, "__Host-prefs"))
        .expect("some cookie was sealed with the current key");
    let revoked_at = Instant::now();
    revoked.revoke(kid).await.unwrap();
    let mut reached = Vec::new();
    for instance in [&a, &b, &c] {
        while opens(&http, instance.port(), probe, "/visits").await {
            assert!(
                revoked_at.elapsed() < REFRESH * 2 + Duration::from_secs(1),
                "{name}: key {kid} still opens on {} after {:?}",
                instance.port(),
                revoked_at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        reached.push(revoked_at.elapsed());
    }
    // everything that key sealed is refused everywhere, everything else opens
    let mut refused = [0, 0];
    let mut kept_open = [0, 0];
    for client in clients.iter().chain(&idle) {
        for (tier, (cookie, path)) in [("__Host-prefs", "/visits"), ("__Host-cart", "/count")]
            .into_iter()
            .enumerate()
        {
            let with_it = carries(client, cookie);
            for instance in [&a, &b, &c] {
                let open = opens(&http, instance.port(), client, path).await;
                if with_it {
                    assert!(
                        !open || shared > 1,
                        "{name}: a session of revoked key {kid} opened"
                    );
                    refused[tier] += usize::from(!open);
                } else {
                    assert!(
                        open,
                        "{name}: {path} of a session of another key was refused"
                    );
                    kept_open[tier] += 1;
                }
            }
        }
    }
    assert!(
        kept_open[0] >= 3 * idle.len(),
        "{name}: the idle sessions of key {first} open"
    );
    sessionkit_tests::figure(&format!(
        "managed keys over processes store={name}: key {first} -> {rotated} in 6 s (rotation every 2 s) with a third instance started after; {} requests, 0 no session, 0 writes lost; key {kid} revoked: refused on the 3 instances after {reached:?} (refresh {REFRESH:?}); {sealed_with} cookie sessions of it refused, cookie/server refusals {refused:?}, other sessions (20 idle since key {first} among them) opened {kept_open:?}",
        tally.requests.load(Ordering::Relaxed),
    ));
}

async fn scenarios() {
    let path = std::env::temp_dir().join(format!(
        "sessionkit-keys-{}.db",
        sessionkit_tests::servers::run()
    ));
    let _ = std::fs::remove_file(&path);
    let sqlite = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    scenario("sqlite", &format!("sqlite:{}", path.display()), sqlite).await;
    if let Some(url) = address("SESSIONKIT_POSTGRES_URL") {
        let spec = format!("{url}|{}", table("keys_fleet"));
        let operator = postgres(&spec).await;
        scenario("postgres", &format!("postgres:{spec}"), operator).await;
    }
    let _ = std::fs::remove_file(&path);
}

fn main() {
    sessionkit_tests::process::fleet_test_main(
        "key_rotation",
        "SESSIONKIT_KEYS_INSTANCE",
        instance,
        scenarios,
    );
}
