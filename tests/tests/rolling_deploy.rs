//! A rolling deploy over real processes: three instances of an app behind
//! a round-robin client share one store; 200 clients, each with a cookie
//! session and a server-side session, keep making requests while the
//! instances are replaced one at a time, first by the release that reads
//! the next shape (`#[session(next = ..)]`, the expand step), then by the
//! release that writes it (`#[session(previous = ..)]`, the contract
//! step). Every reply is checked against what the client wrote: 0
//! sessions lost, 0 requests answered as "no session". A control run
//! replaces an instance by the contract release directly, without the
//! expand step, and must see users logged out: the check can fail.
//!
//! The instances are this test binary run again with
//! `SESSIONKIT_DEPLOY_INSTANCE` set (so it has no libtest harness).

use axum::Router;
use axum::routing::{get, post};
use session_runtime::store::{PostgresStore, RedisStore};
use session_runtime::{BoundedString, Session, SessionLayer, SessionStore, Tiered};
use sessionkit_tests::fleet::{Client, Pool, Tally, call, traffic};
use sessionkit_tests::servers::{address, table};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::RwLock;

/// The release before the change: it knows one shape of each session.
mod a {
    use super::*;

    #[derive(Session, Default)]
    #[session(cookie = "prefs", storage = "cookie")]
    pub(crate) struct Prefs {
        pub(crate) visits: u32,
        pub(crate) theme: BoundedString<8>,
    }

    #[derive(Session, Default)]
    #[session(cookie = "cart", storage = "server")]
    pub(crate) struct Cart {
        pub(crate) count: u64,
        pub(crate) items: Vec<u32>,
    }
}

/// Step 1, expand: the same shapes, and the next release's read ahead.
mod b {
    use super::*;

    #[derive(Session, Default)]
    #[session(cookie = "prefs", storage = "cookie", next = c::Prefs)]
    pub(crate) struct Prefs {
        pub(crate) visits: u32,
        pub(crate) theme: BoundedString<8>,
    }

    impl From<c::Prefs> for Prefs {
        fn from(new: c::Prefs) -> Self {
            Self {
                visits: new.visits,
                theme: new.theme,
            }
        }
    }

    #[derive(Session, Default)]
    #[session(cookie = "cart", storage = "server", next = c::Cart)]
    pub(crate) struct Cart {
        pub(crate) count: u64,
        pub(crate) items: Vec<u32>,
    }

    impl From<c::Cart> for Cart {
        fn from(new: c::Cart) -> Self {
            Self {
                count: new.count,
                items: new.lines.into_iter().map(|(sku, _)| sku).collect(),
            }
        }
    }
}

/// Step 2, contract: the new shapes, opening the old ones.
mod c {
    use super::*;

    #[derive(Session, Default)]
    #[session(cookie = "prefs", storage = "cookie", previous = a::Prefs)]
    pub(crate) struct Prefs {
        pub(crate) visits: u32,
        pub(crate) theme: BoundedString<8>,
        pub(crate) font: u8,
    }

    impl From<a::Prefs> for Prefs {
        fn from(old: a::Prefs) -> Self {
            Self {
                visits: old.visits,
                theme: old.theme,
                font: 12,
            }
        }
    }

    /// Items became lines with a quantity.
    #[derive(Session, Default)]
    #[session(cookie = "cart", storage = "server", previous = a::Cart)]
    pub(crate) struct Cart {
        pub(crate) count: u64,
        pub(crate) lines: Vec<(u32, u16)>,
    }

    impl From<a::Cart> for Cart {
        fn from(old: a::Cart) -> Self {
            Self {
                count: old.count,
                lines: old.items.into_iter().map(|sku| (sku, 1)).collect(),
            }
        }
    }
}

/// The app of one release: each reply is `release|value`.
macro_rules! app {
    ($release:ident, $name:literal, $store:expr, |$prefs:ident, $cart:ident| $visit:block $add:block) => {{
        use $release::{Cart, Prefs};
        Router::new()
            .route(
                "/visit",
                post(|mut $prefs: Session<Prefs>| async move {
                    $visit
                    format!("{}|{}", $name, $prefs.visits())
                }),
            )
            .route(
                "/visits",
                get(|prefs: Session<Prefs>| async move { format!("{}|{}", $name, prefs.visits()) }),
            )
            .route(
                "/add",
                post(|mut $cart: Session<Cart>| async move {
                    $add
                    format!("{}|{}", $name, $cart.count())
                }),
            )
            .route(
                "/count",
                get(|cart: Session<Cart>| async move { format!("{}|{}", $name, cart.count()) }),
            )
            .layer(SessionLayer::<Cart>::with_store(sessionkit_tests::key(), $store))
            .layer(SessionLayer::<Prefs>::new(sessionkit_tests::key()))
    }};
}

fn release_app<St: SessionStore + Clone>(release: &str, store: St) -> Router {
    match release {
        "a" => app!(a, "a", store, |prefs, cart| {
            *prefs.visits_mut() += 1;
        } {
            *cart.count_mut() += 1;
            let sku = u32::try_from(*cart.count()).unwrap_or(u32::MAX);
            cart.items_mut().push(sku);
        }),
        "b" => app!(b, "b", store, |prefs, cart| {
            *prefs.visits_mut() += 1;
        } {
            *cart.count_mut() += 1;
            let sku = u32::try_from(*cart.count()).unwrap_or(u32::MAX);
            cart.items_mut().push(sku);
        }),
        "c" => app!(c, "c", store, |prefs, cart| {
            *prefs.visits_mut() += 1;
            prefs.set_font(14);
        } {
            *cart.count_mut() += 1;
            let sku = u32::try_from(*cart.count()).unwrap_or(u32::MAX);
            cart.lines_mut().push((sku, 2));
        }),
        other => panic!("no release {other}"),
    }
}

/// The child's side: serve `release` on `port` over the store `spec`
/// until killed.
fn instance(spec: &str) {
    let (release, store) = spec.split_once(' ').unwrap();
    let (release, store) = (release.to_owned(), store.to_owned());
    let port = sessionkit_tests::process::Instance::own_port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let app = if let Some(path) = store.strip_prefix("sqlite:") {
            let store = sessionkit_tests::stores::sqlite_at(std::path::Path::new(path)).await;
            release_app(&release, store)
        } else if let Some(rest) = store.strip_prefix("tiered:") {
            let mut urls = rest.split('|');
            let (redis, postgres, name) = (
                urls.next().unwrap(),
                urls.next().unwrap(),
                urls.next().unwrap(),
            );
            let cache = RedisStore::connect(redis).await.unwrap();
            let durable = PostgresStore::connect(postgres)
                .await
                .unwrap()
                .with_table(name)
                .unwrap();
            durable.migrate().await.unwrap();
            release_app(&release, Tiered::new(cache, durable))
        } else {
            panic!("no store {store}")
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

/// One running instance of a release.
struct Instance {
    release: &'static str,
    process: sessionkit_tests::process::Instance,
}

impl Instance {
    async fn start(release: &'static str, store: &str) -> Self {
        let process = sessionkit_tests::process::Instance::start(
            "SESSIONKIT_DEPLOY_INSTANCE",
            &format!("{release} {store}"),
        )
        .await;
        Self { release, process }
    }

    fn port(&self) -> u16 {
        self.process.port()
    }
}

/// How many clients, and how long traffic runs on each mix of instances.
const CLIENTS: usize = 200;
const SETTLE: Duration = Duration::from_millis(600);

/// Three instances of `first`, then each `step` replacing them one at a
/// time, with traffic all along; returns the tally.
async fn deploy(store: &str, first: &'static str, steps: &[&'static str]) -> (Arc<Tally>, String) {
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Instance::start(first, store).await);
    }
    let pool: Pool = Arc::new(RwLock::new(
        instances.iter().map(|i| (i.release, i.port())).collect(),
    ));
    // every client gets both sessions from the first release
    let tally = Arc::new(Tally::default());
    let http = reqwest::Client::new();
    let turn = AtomicUsize::new(0);
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| Client::default()).collect();
    for client in &mut clients {
        call(&http, &pool, &turn, client, 0, &tally).await;
        call(&http, &pool, &turn, client, 2, &tally).await;
        assert_eq!(client.cookies.len(), 2, "a cookie per session");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(traffic(
        clients,
        pool.clone(),
        tally.clone(),
        stop.clone(),
        8,
    ));
    tokio::time::sleep(SETTLE).await;
    let mut log = vec![format!("3×{first}")];
    for &release in steps {
        for slot in 0..3 {
            let new = Instance::start(release, store).await;
            pool.write().await[slot] = (new.release, new.port());
            let old = std::mem::replace(&mut instances[slot], new);
            // drained: no new request reaches it, those in flight end
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(old);
            log.push(
                instances
                    .iter()
                    .map(|i| i.release)
                    .collect::<Vec<_>>()
                    .concat(),
            );
            tokio::time::sleep(SETTLE).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut clients = running.await.unwrap();
    // and every session reads back as written, on the last release
    for client in &mut clients {
        call(&http, &pool, &turn, client, 1, &tally).await;
        call(&http, &pool, &turn, client, 3, &tally).await;
    }
    (tally, log.join(" -> "))
}

fn report(store: &str, label: &str, tally: &Tally, log: &str) -> (usize, usize) {
    let no_session = tally.no_session.load(Ordering::Relaxed);
    let lost = tally.lost_writes.load(Ordering::Relaxed);
    let by_release = tally.by_release.lock().unwrap();
    sessionkit_tests::figure(&format!(
        "rolling deploy {label} store={store}: {log}; {CLIENTS} clients × (cookie + server session), {} requests ({by_release:?}), {no_session} answered as no session, {lost} writes lost, {} connection errors retried",
        tally.requests.load(Ordering::Relaxed),
        tally.retried.load(Ordering::Relaxed),
    ));
    (no_session, lost)
}

async fn scenarios() {
    let dir = std::env::temp_dir();
    let sqlite = dir.join(format!(
        "sessionkit-deploy-{}.db",
        sessionkit_tests::servers::run()
    ));
    let _ = std::fs::remove_file(&sqlite);
    let mut stores = vec![("sqlite", format!("sqlite:{}", sqlite.display()))];
    if let (Some(redis), Some(postgres)) = (
        address("SESSIONKIT_REDIS_URL"),
        address("SESSIONKIT_POSTGRES_URL"),
    ) {
        stores.push((
            "tiered redis+postgres",
            format!("tiered:{redis}|{postgres}|{}", table("deploy")),
        ));
    }
    for (name, store) in &stores {
        let (tally, log) = deploy(store, "a", &["b", "c"]).await;
        let (no_session, lost) = report(name, "expand then contract", &tally, &log);
        let first = tally.first_failures.lock().unwrap().clone();
        assert_eq!((no_session, lost), (0, 0), "{name}: {first:#?}");
    }
    // the control: straight from a to c, old and new side by side
    let control = dir.join(format!(
        "sessionkit-deploy-control-{}.db",
        sessionkit_tests::servers::run()
    ));
    let _ = std::fs::remove_file(&control);
    let (tally, log) = deploy(&format!("sqlite:{}", control.display()), "a", &["c"]).await;
    let (no_session, _) = report("sqlite", "in one step (control)", &tally, &log);
    assert!(
        no_session > 0,
        "without the expand step, old instances must meet sessions they cannot open"
    );
    let _ = std::fs::remove_file(&sqlite);
    let _ = std::fs::remove_file(&control);
}

fn main() {
    sessionkit_tests::process::fleet_test_main(
        "rolling_deploy",
        "SESSIONKIT_DEPLOY_INSTANCE",
        instance,
        scenarios,
    );
}
