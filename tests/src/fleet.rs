//! Clients of a fleet of app instances (processes started with
//! [`Instance`](crate::process::Instance)), for the tests that change the
//! fleet under them: each client holds a cookie session and a server-side
//! session, requests go round robin over the instances in a [`Pool`], and
//! every reply is checked against what the client wrote.
//!
//! The instances serve `POST /visit` and `GET /visits` (the cookie
//! session's counter), `POST /add` and `GET /count` (the server session's),
//! each answering `label|value`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::RwLock;

/// A client: its two cookies and what it wrote.
#[derive(Default, Debug)]
pub struct Client {
    /// Cookie name → value.
    pub cookies: BTreeMap<String, String>,
    /// Its cookie session's count of visits.
    pub visits: u32,
    /// Its server session's count of additions.
    pub count: u64,
}

/// What the clients saw.
#[derive(Default, Debug)]
pub struct Tally {
    /// Requests answered.
    pub requests: AtomicUsize,
    /// A returning client answered as a new session.
    pub no_session: AtomicUsize,
    /// A value other than the one written last, in a session that opened.
    pub lost_writes: AtomicUsize,
    /// Connection errors (an instance going away), retried elsewhere.
    pub retried: AtomicUsize,
    /// Requests by the label that answered them.
    pub by_release: std::sync::Mutex<BTreeMap<&'static str, usize>>,
    /// The first few failures, described.
    pub first_failures: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn failure(&self, counter: &AtomicUsize, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failures.lock().unwrap();
        if first.len() < 5 {
            first.push(what);
        }
    }
}

/// The instances in rotation: replaced under the write lock.
pub type Pool = Arc<RwLock<Vec<(&'static str, u16)>>>;

/// One request of `client` to the next instance of `pool`, checked against
/// the client's model. A connection error is retried on the next one.
#[allow(clippy::missing_panics_doc)]
pub async fn call(
    http: &reqwest::Client,
    pool: &Pool,
    turn: &AtomicUsize,
    client: &mut Client,
    op: usize,
    tally: &Tally,
) {
    let (method, path) = [
        ("POST", "/visit"),
        ("GET", "/visits"),
        ("POST", "/add"),
        ("GET", "/count"),
    ][op % 4];
    // a write whose connection broke may have been applied before it did
    let mut retried = false;
    for _attempt in 0..5 {
        let (release, port) = {
            let pool = pool.read().await;
            pool[turn.fetch_add(1, Ordering::Relaxed) % pool.len()]
        };
        let cookie = client
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let url = format!("http://127.0.0.1:{port}{path}");
        let request = if method == "POST" {
            http.post(url)
        } else {
            http.get(url)
        };
        let response = match request.header("cookie", cookie).send().await {
            Ok(response) => response,
            Err(_) => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
                retried = true;
                continue;
            }
        };
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attributes.contains("Max-Age=0") {
                client.cookies.remove(name);
            } else {
                client.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let Ok(body) = response.text().await else {
            tally.retried.fetch_add(1, Ordering::Relaxed);
            retried = true;
            continue;
        };
        tally.requests.fetch_add(1, Ordering::Relaxed);
        *tally.by_release.lock().unwrap().entry(release).or_default() += 1;
        assert_eq!(status, 200, "{method} {path} on {release}: {body}");
        let (answered, value) = body.split_once('|').unwrap();
        assert_eq!(answered, release);
        let value: u64 = value.parse().unwrap();
        let (expected, known) = match op % 4 {
            0 => {
                client.visits += 1;
                (u64::from(client.visits), u64::from(client.visits) > 1)
            }
            1 => (u64::from(client.visits), client.visits > 0),
            2 => {
                client.count += 1;
                (client.count, client.count > 1)
            }
            _ => (client.count, client.count > 0),
        };
        let applied_twice = retried && method == "POST" && value == expected + 1;
        if value != expected && !applied_twice {
            let what =
                format!("{method} {path} on release {release}: {value}, expected {expected}");
            // a session that did not open counts from nothing again
            let fresh = if method == "POST" { 1 } else { 0 };
            if known && value == fresh {
                tally.failure(&tally.no_session, what);
            } else {
                tally.failure(&tally.lost_writes, what);
            }
        }
        if value != expected {
            // go on from what the store has
            if op % 4 < 2 {
                client.visits = u32::try_from(value).unwrap();
            } else {
                client.count = value;
            }
        }
        return;
    }
    panic!("{method} {path}: five connection errors in a row");
}

/// Every client's traffic until `stop`: round robin over `pool`, one
/// request at a time per client, `workers` clients at once.
#[allow(clippy::missing_panics_doc)]
pub async fn traffic(
    clients: Vec<Client>,
    pool: Pool,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    workers: usize,
) -> Vec<Client> {
    let turn = Arc::new(AtomicUsize::new(0));
    let mut shares: Vec<Vec<Client>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, client) in clients.into_iter().enumerate() {
        shares[i % workers].push(client);
    }
    let tasks: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(worker, mut share)| {
            let (pool, tally, stop, turn) =
                (pool.clone(), tally.clone(), stop.clone(), turn.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut op = worker;
                while !stop.load(Ordering::Relaxed) {
                    for client in &mut share {
                        // writes and reads of both tiers, in turn
                        call(&http, &pool, &turn, client, op, &tally).await;
                        op = op.wrapping_add(1);
                    }
                    op = op.wrapping_add(1);
                }
                share
            })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        clients.extend(task.await.unwrap());
    }
    clients
}
