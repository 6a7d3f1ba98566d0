//! The managed key ring on real stores: every durable store keeps keys
//! (first writer wins, revocations once), two instances over connections
//! of their own follow one ring through a rotation and a revocation, an
//! instance started after a rotation opens what was sealed before it, a
//! store outage leaves each instance the keys it has (and its status says
//! so), and a store that comes back empty gets its keys back.

use session_runtime::store::{KeyStore, MySqlStore, PostgresStore, SqliteStore, StoredKey};
use session_runtime::{
    Bincode, KeyPolicy, KeyState, ManagedKeyError, ManagedKeys, MasterKey, Meta, Mode, Sealer,
    Session, Tiered,
};
use sessionkit_tests::TestClock;
use sessionkit_tests::process::OwnServer;
use sessionkit_tests::servers::{address, table};
use sessionkit_tests::stores;
use std::sync::Arc;
use std::time::Duration;

#[derive(Session, Default, Debug, PartialEq)]
#[session(cookie = "probe", storage = "cookie")]
struct Probe {
    n: u32,
}

fn root() -> MasterKey {
    MasterKey::from_secret(&[42; 32]).unwrap()
}

const META: Meta = Meta {
    issued_at: 0,
    expires_at: u64::MAX,
    lifetime: 0,
    browser_session: false,
};

fn seal<K>(keys: &ManagedKeys<K>, n: u32) -> String {
    Sealer::new(keys.ring(), Mode::Encrypted)
        .seal::<Probe, Bincode>("probe", &META, &Probe { n })
        .unwrap()
}

fn opens<K>(keys: &ManagedKeys<K>, value: &str) -> bool {
    Sealer::new(keys.ring(), Mode::Encrypted)
        .open::<Probe, Bincode>("probe", value, 1)
        .is_ok()
}

fn record(kid: u32) -> StoredKey {
    StoredKey {
        kid,
        created_at: 1,
        activates_at: 2,
        revoked_at: None,
        sealed: vec![7; 94],
    }
}

async fn conformance<A: KeyStore, B: KeyStore>(name: &str, a: &A, b: &B) {
    assert!(a.load_keys().await.unwrap().is_empty(), "{name}: fresh");
    assert!(a.add_key(&record(1)).await.unwrap(), "{name}");
    assert!(
        !b.add_key(&record(1)).await.unwrap(),
        "{name}: the first writer wins"
    );
    assert_eq!(b.load_keys().await.unwrap(), vec![record(1)], "{name}");
    assert!(b.revoke_key(1, 99).await.unwrap(), "{name}");
    assert!(!a.revoke_key(1, 100).await.unwrap(), "{name}: revoked once");
    assert!(!a.revoke_key(5, 100).await.unwrap(), "{name}: no such key");
    let kept = a.load_keys().await.unwrap();
    assert_eq!(
        kept[0].revoked_at,
        Some(99),
        "{name}: the first revocation time"
    );
    // two instances making the same next key at once: one wins
    let second = record(2);
    let (left, right) = tokio::join!(a.add_key(&second), b.add_key(&second));
    assert!(
        left.unwrap() ^ right.unwrap(),
        "{name}: exactly one made key 2"
    );
    assert!(a.remove_key(1).await.unwrap(), "{name}");
    assert!(!b.remove_key(1).await.unwrap(), "{name}");
    let mut left: Vec<u32> = b.load_keys().await.unwrap().iter().map(|k| k.kid).collect();
    left.sort_unstable();
    assert_eq!(left, [2], "{name}");
    assert!(a.remove_key(2).await.unwrap(), "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_durable_store_keeps_keys() {
    let mut checked = vec!["memory"];
    let memory = Arc::new(session_runtime::MemoryStore::default());
    conformance("memory", &memory, &memory).await;
    let sqlite = stores::sqlite_file("keys_conformance").await;
    let sqlite_b = stores::sqlite_file("keys_conformance").await;
    conformance("sqlite", &sqlite, &sqlite_b).await;
    checked.push("sqlite");
    if let Some(url) = address("SESSIONKIT_POSTGRES_URL") {
        let name = table("keys_pg");
        let connect = async || {
            let store = PostgresStore::connect(&url)
                .await
                .unwrap()
                .with_table(&name)
                .unwrap();
            store.migrate().await.unwrap();
            store
        };
        let (a, b) = (connect().await, connect().await);
        conformance("postgres", &a, &b).await;
        let near = connect()
            .await
            .with_near_cache(stores::NEAR_BYTES)
            .await
            .unwrap();
        conformance("postgres near", &near, &b).await;
        checked.extend(["postgres", "postgres near"]);
    }
    if let Some(url) = address("SESSIONKIT_MYSQL_URL") {
        let name = table("keys_my");
        let connect = async || {
            let store = MySqlStore::connect(&url)
                .await
                .unwrap()
                .with_table(&name)
                .unwrap();
            store.migrate().await.unwrap();
            store
        };
        let (a, b) = (connect().await, connect().await);
        conformance("mariadb", &a, &b).await;
        // Tiered keeps them in its durable tier, behind any cache
        let cache = stores::memcached().await.unwrap();
        conformance(
            "tiered memcached+mariadb",
            &Tiered::new(cache, connect().await),
            &b,
        )
        .await;
        checked.extend(["mariadb", "tiered memcached+mariadb"]);
    }
    if address("SESSIONKIT_REDIS_URL").is_some() {
        let prefix = format!("keys-{}:", sessionkit_tests::servers::run());
        let a = stores::redis().await.unwrap().with_prefix(&prefix);
        let b = stores::redis().await.unwrap().with_prefix(&prefix);
        conformance("redis", &a, &b).await;
        checked.push("redis");
    }
    sessionkit_tests::figure(&format!(
        "key stores: {checked:?} keep keys (first writer wins, one revocation)"
    ));
}

/// Two instances' rings over one SQLite file, each store with connections
/// of its own, moved by one test clock and refreshed by hand.
async fn two_instances(
    name: &str,
    policy: &KeyPolicy,
) -> (ManagedKeys<SqliteStore>, ManagedKeys<SqliteStore>) {
    let a = ManagedKeys::load(stores::sqlite_file(name).await, root(), policy.clone())
        .await
        .unwrap();
    let b = ManagedKeys::load(stores::sqlite_file(name).await, root(), policy.clone())
        .await
        .unwrap();
    (a, b)
}

fn policy(clock: &TestClock) -> KeyPolicy {
    KeyPolicy::default()
        .with_refresh(Duration::from_secs(60))
        .with_activation_delay(Duration::from_secs(300))
        .with_rotation(Duration::from_secs(24 * 3600))
        .with_retention(Duration::from_secs(2 * 24 * 3600))
        .with_clock(clock.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_rotate_on_schedule_and_revoke_at_once() {
    let clock = TestClock::new();
    let policy = policy(&clock);
    let (a, b) = two_instances("keys_two", &policy).await;
    assert_eq!(
        (a.status().current, b.status().current),
        (1, 1),
        "one first key, made once"
    );
    let first = seal(&a, 1);
    // a day on, both refreshing every minute: the next key is made ahead,
    // known to both before it seals
    let mut made_at = None;
    for minute in 1..=(24 * 60 + 10) {
        clock.advance(Duration::from_secs(60));
        a.refresh().await.unwrap();
        b.refresh().await.unwrap();
        if made_at.is_none() && a.keys().len() == 2 {
            made_at = Some(minute);
            assert_eq!(a.keys()[1].state, KeyState::Pending);
            assert_eq!(a.status().current, 1, "a pending key does not seal");
        }
        // whatever either seals the other opens, at every minute
        assert!(
            opens(&b, &seal(&a, minute)) && opens(&a, &seal(&b, minute)),
            "minute {minute}"
        );
    }
    assert_eq!((a.status().current, b.status().current), (2, 2));
    assert!(
        opens(&a, &first) && opens(&b, &first),
        "what key 1 sealed still opens"
    );
    let second = seal(&b, 2);
    // an instance started now opens both
    let c = ManagedKeys::load(
        stores::sqlite_file("keys_two").await,
        root(),
        policy.clone(),
    )
    .await
    .unwrap();
    assert!(
        opens(&c, &first) && opens(&c, &second),
        "a later instance opens both"
    );
    // key 2 revoked from one instance: refused there at once, on the
    // others at their next refresh; key 1 seals again
    a.revoke(2).await.unwrap();
    assert!(!opens(&a, &second));
    assert!(opens(&b, &second), "b has not refreshed yet");
    b.refresh().await.unwrap();
    c.refresh().await.unwrap();
    for keys in [&a, &b, &c] {
        assert!(!opens(keys, &second), "revoked everywhere after a refresh");
        assert!(opens(keys, &first), "key 1 was not revoked");
        assert_eq!(keys.status().current, 1, "the previous key seals again");
    }
    // two days after key 1 was replaced... it was re-instated: still there;
    // three keys revoked or retired later, the ring always has one
    assert!(matches!(
        a.revoke(99).await,
        Err(ManagedKeyError::NoSuchKey(99))
    ));
    let made_at = made_at.expect("the next key was made");
    let ahead = a.keys()[1]
        .activates_at
        .duration_since(a.keys()[1].created_at)
        .unwrap();
    sessionkit_tests::figure(&format!(
        "managed keys: after a day the next key was made at minute {made_at}, {} min ahead of its activation, both instances opening everything at every minute; a revocation reached the other instances at their next refresh",
        ahead.as_secs() / 60
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_key_retires_after_the_retention() {
    let clock = TestClock::new();
    let policy = policy(&clock);
    let (a, _) = two_instances("keys_retire", &policy).await;
    let first = seal(&a, 1);
    // a rotation (1 day), then the retention (2 days) of key 1
    for _ in 0..(3 * 24 * 60 + 10) / 10 {
        clock.advance(Duration::from_secs(600));
        a.refresh().await.unwrap();
    }
    assert!(!opens(&a, &first), "key 1 retired");
    let kids: Vec<u32> = a.keys().iter().map(|k| k.kid).collect();
    assert!(!kids.contains(&1), "and removed from the store: {kids:?}");
    assert!(a.status().current >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_keeps_the_keys_held_and_says_so() {
    let Some(bin) = address("SESSIONKIT_POSTGRES_BIN") else {
        return;
    };
    let mut server = OwnServer::postgres(&bin);
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = TestClock::new();
    let keys = ManagedKeys::load(store, root(), policy(&clock))
        .await
        .unwrap();
    let before = seal(&keys, 1);
    server.kill();
    clock.advance(Duration::from_secs(60));
    let failed = keys.refresh().await;
    assert!(
        matches!(failed, Err(ManagedKeyError::Store(_))),
        "{failed:?}"
    );
    let status = keys.status();
    assert!(
        status.failing_since.is_some() && status.last_error.is_some(),
        "{status:?}"
    );
    assert_eq!(status.current, 1, "the keys held are kept");
    assert!(
        opens(&keys, &before) && opens(&keys, &seal(&keys, 2)),
        "and keep sealing and opening"
    );
    server.restart();
    let mut back = false;
    for _ in 0..100 {
        if keys.refresh().await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the ring reads the store again once it is back");
    assert_eq!(keys.status().failing_since, None);
    assert!(opens(&keys, &before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_comes_back_empty_gets_its_keys_back() {
    let Some(bin) = address("SESSIONKIT_REDIS_BIN") else {
        return;
    };
    // no persistence: a restart loses every key
    let mut server = OwnServer::redis(&bin);
    let url = format!("redis://127.0.0.1:{}/", server.port());
    let clock = TestClock::new();
    let policy = policy(&clock);
    let connect = async || {
        session_runtime::store::RedisStore::connect(&url)
            .await
            .unwrap()
    };
    let a = ManagedKeys::load(connect().await, root(), policy.clone())
        .await
        .unwrap();
    let sealed = seal(&a, 1);
    server.kill();
    server.restart();
    let mut restored = false;
    for _ in 0..100 {
        if a.refresh().await.is_ok() {
            restored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(restored);
    // an instance started now finds key 1 again, not a new first key
    let b = ManagedKeys::load(connect().await, root(), policy)
        .await
        .unwrap();
    assert_eq!(b.status().current, 1);
    assert!(
        opens(&b, &sealed),
        "what key 1 sealed before the restart opens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_root_secret_opens_no_key() {
    let store = stores::sqlite_file("keys_root").await;
    let first = ManagedKeys::load(store, root(), KeyPolicy::default())
        .await
        .unwrap();
    drop(first);
    let other = MasterKey::from_secret(&[43; 32]).unwrap();
    let refused = ManagedKeys::load(
        stores::sqlite_file("keys_root").await,
        other,
        KeyPolicy::default(),
    )
    .await;
    assert!(
        matches!(refused, Err(ManagedKeyError::NoUsableKey(1))),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("root secret"), "{message}");
    // a policy that could seal with a key not every instance has read
    let bad = KeyPolicy::default().with_activation_delay(Duration::from_secs(30));
    let refused = ManagedKeys::load(stores::sqlite_file("keys_root").await, root(), bad).await;
    assert!(
        matches!(refused, Err(ManagedKeyError::Policy(_))),
        "{refused:?}"
    );
}

/// Regression: the background refresh ended with the last `ManagedKeys`
/// handle, so an application that kept only the layer (the ring) and
/// dropped the handle, as a function building the router does, froze its
/// keys: a revocation never reached it. It ends with the last ring now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_holding_only_the_ring_keeps_following_the_store() {
    let store = Arc::new(session_runtime::MemoryStore::default());
    let policy = KeyPolicy::default()
        .with_refresh(Duration::from_millis(50))
        .with_activation_delay(Duration::from_millis(100));
    let ring = {
        let keys = ManagedKeys::start_with(Arc::clone(&store), root(), policy.clone())
            .await
            .unwrap();
        keys.ring()
    };
    let sealer = Sealer::new(ring, Mode::Encrypted);
    let sealed = sealer
        .seal::<Probe, Bincode>("probe", &META, &Probe { n: 1 })
        .unwrap();
    // another instance revokes key 1
    let other = ManagedKeys::load(Arc::clone(&store), root(), policy)
        .await
        .unwrap();
    other.revoke(1).await.unwrap();
    let mut refused = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if sealer.open::<Probe, Bincode>("probe", &sealed, 1).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the ring a layer holds still follows the store");
}

/// With PostgreSQL (a trigger and `LISTEN`) and a Redis server (a channel),
/// a revocation reaches a ring that polls only every 30 s within
/// milliseconds; SQLite says it has no notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_carry_a_revocation_before_the_poll() {
    let policy = KeyPolicy::default()
        .with_refresh(Duration::from_secs(30))
        .with_activation_delay(Duration::from_secs(60));
    async fn reaches<K: KeyStore + Clone>(name: &str, store: K, policy: &KeyPolicy) -> Duration {
        let watching = ManagedKeys::start_with(store.clone(), root(), policy.clone())
            .await
            .unwrap();
        assert!(watching.status().notifications, "{name}");
        let sealed = seal(&watching, 1);
        let operator = ManagedKeys::load(store, root(), policy.clone())
            .await
            .unwrap();
        // the listener is up once its first wake-up has come and gone
        tokio::time::sleep(Duration::from_millis(300)).await;
        let kid = watching.status().current;
        let started = std::time::Instant::now();
        operator.revoke(kid).await.unwrap();
        while opens(&watching, &sealed) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name}: not notified"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }
    let mut reached = Vec::new();
    if let Some(store) = stores::postgres("keys_notify").await {
        reached.push(("postgres", reaches("postgres", store, &policy).await));
    }
    if address("SESSIONKIT_REDIS_URL").is_some() {
        let prefix = format!("keys-notify-{}:", sessionkit_tests::servers::run());
        let store = stores::redis().await.unwrap().with_prefix(&prefix);
        reached.push(("redis", reaches("redis", store, &policy).await));
    }
    let sqlite = ManagedKeys::start_with(stores::sqlite_file("keys_poll").await, root(), policy)
        .await
        .unwrap();
    assert!(!sqlite.status().notifications, "SQLite polls");
    sessionkit_tests::figure(&format!(
        "managed keys: a revocation reached a ring polling every 30 s through the store's notifications after {reached:?}"
    ));
}
