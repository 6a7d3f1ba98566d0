//! Shared fixtures for the end-to-end tests: a small axum app over a
//! cookie-tier session, a controllable clock, and helpers to read responses.

pub mod account;
pub mod conformance;
pub mod fleet;
pub mod frameworks;
pub mod http;
pub mod model;
pub mod near;
pub mod probe;
pub mod process;
pub mod stores;
pub mod wide;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use session_runtime::{BoundedString, MasterKey, Session};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// User preferences: a bounded, cookie-tier session.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "prefs")]
pub struct Prefs {
    /// A theme name.
    pub theme: BoundedString<16>,
    /// A counter.
    pub visits: u32,
}

/// The tests' master key. Any fixed secret does, since each test binary
/// has sessions of its own; a test that needs keys that differ (rotation,
/// a wrong key) takes them from [`key_from`].
#[must_use]
pub fn key() -> MasterKey {
    key_from(42)
}

/// A master key whose 32-byte secret is `byte` repeated: keys from
/// different bytes differ (in their secret and their key id).
///
/// # Panics
///
/// Never: 32 bytes is the minimum the key accepts.
#[must_use]
pub fn key_from(byte: u8) -> MasterKey {
    MasterKey::from_secret(&[byte; 32]).unwrap()
}

/// A clock the tests move by hand.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<AtomicU64>);

impl TestClock {
    /// Starts at a fixed, realistic time.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(AtomicU64::new(1_800_000_000)))
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// The current time, Unix seconds.
    #[must_use]
    pub fn secs(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl session_runtime::Clock for TestClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs())
    }
}

/// Routes that exercise every lifecycle rule.
pub fn prefs_routes() -> Router {
    Router::new()
        .route("/plain", get(|| async { "no session here" }))
        .route(
            "/read",
            get(|prefs: Session<Prefs>| async move {
                format!("theme={} visits={}", prefs.theme(), prefs.visits())
            }),
        )
        .route(
            "/optional",
            get(|prefs: Option<Session<Prefs>>| async move {
                prefs.map_or_else(|| "none".to_owned(), |p| format!("some:{}", p.theme()))
            }),
        )
        .route(
            "/theme/{name}",
            post(
                |mut prefs: Session<Prefs>, Path(name): Path<String>| async move {
                    match BoundedString::try_from(name) {
                        Ok(theme) => {
                            prefs.set_theme(theme);
                            StatusCode::OK
                        }
                        Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    }
                },
            ),
        )
        .route(
            "/visit",
            post(|mut prefs: Session<Prefs>| async move {
                *prefs.visits_mut() += 1;
                prefs.visits().to_string()
            }),
        )
        .route(
            "/touch",
            // a mutable borrow that changes nothing
            post(|mut prefs: Session<Prefs>| async move {
                let _ = prefs.visits_mut();
                "touched"
            }),
        )
        .route(
            "/cycle",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.cycle_id();
                "cycled"
            }),
        )
        .route(
            "/logout",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.terminate();
                "bye"
            }),
        )
        .route(
            "/logout-then-flash",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.terminate();
                prefs.set_visits(1);
                "bye, with a fresh session"
            }),
        )
        .route(
            "/short",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.set_lifetime(Duration::from_secs(60));
                *prefs.visits_mut() += 1;
                "short"
            }),
        )
        .route(
            "/browser",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.browser_session();
                *prefs.visits_mut() += 1;
                "until the browser closes"
            }),
        )
        .route(
            "/fail",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.set_visits(999);
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .route(
            "/vary",
            post(|mut prefs: Session<Prefs>| async move {
                prefs.set_visits(5);
                let mut headers = HeaderMap::new();
                headers.insert("vary", "accept-encoding".parse().unwrap());
                (headers, "varied")
            }),
        )
        .route(
            "/read-cacheable",
            // a handler that thinks its page may be cached by anyone
            get(|prefs: Session<Prefs>| async move {
                let mut headers = HeaderMap::new();
                headers.insert("cache-control", "public, max-age=60".parse().unwrap());
                headers.insert("vary", "accept-encoding".parse().unwrap());
                (headers, format!("theme={}", prefs.theme()))
            }),
        )
        .route(
            "/read-no-store",
            get(|prefs: Session<Prefs>| async move {
                let mut headers = HeaderMap::new();
                headers.insert("cache-control", "no-store".parse().unwrap());
                (headers, format!("theme={}", prefs.theme()))
            }),
        )
        .route(
            "/twice",
            get(|_a: Session<Prefs>, _b: Session<Prefs>| async { "unreachable" }),
        )
}

/// Prints one figure line (what ran, how many, the result) and appends it
/// to the figures file, which `tests/run.sh` and `tests/reliability.sh`
/// print at the end of their run: cargo hides a passing test's output.
///
/// The file is `$SESSIONKIT_FIGURES` when set (the scripts set it), else
/// `sessionkit-figures.txt` in `$CARGO_TARGET_DIR` (a relative one taken
/// from the workspace root) or in the workspace's `target/`; its directory
/// is created when missing.
///
/// # Panics
///
/// When the directory or the file cannot be written.
pub fn figure(line: &str) {
    use std::io::Write as _;
    println!("figure: {line}");
    let path = figures_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
    writeln!(file, "{line}").unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Where [`figure`] writes.
fn figures_path() -> std::path::PathBuf {
    let set = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(path) = set("SESSIONKIT_FIGURES") {
        return path.into();
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // `join` keeps an absolute directory as it is
    let target =
        set("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
    target.join("sessionkit-figures.txt")
}

/// Where the test servers are: `tests/servers.sh` starts them and exports
/// their addresses.
pub mod servers {
    /// The address in `var`, or `None` (the test then skips, saying so).
    ///
    /// # Panics
    ///
    /// With `CI=true` when the variable is missing: CI never skips a server.
    #[must_use]
    pub fn address(var: &str) -> Option<String> {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Some(value),
            _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
                panic!("{var} is not set: run the suite through tests/run.sh (CI=true never skips)")
            }
            _ => {
                eprintln!(
                    "SKIPPED: {var} is not set; `eval \"$(tests/servers.sh)\"` starts the servers"
                );
                None
            }
        }
    }

    /// A table name no other test uses, in this run or an earlier one on
    /// the same servers.
    #[must_use]
    pub fn table(name: &str) -> String {
        format!("t_{name}_{}", run())
    }

    /// This process's token in the names of what it creates on the shared
    /// servers: its pid and its start time. A pid alone repeats: a fresh
    /// container runs the same steps, so the same test binary gets the
    /// same pid in every run, and finds the rows an earlier run left on a
    /// server that outlived it.
    #[must_use]
    pub fn run() -> &'static str {
        static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        RUN.get_or_init(|| {
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            // the low 32 bits of the nanoseconds: lower-case hex, short
            // enough that every derived SQL name stays within 63 bytes
            #[allow(clippy::cast_possible_truncation)]
            let nonce = started.as_nanos() as u32;
            format!("{}_{nonce:08x}", std::process::id())
        })
    }
}
