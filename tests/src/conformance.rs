//! One conformance suite for every store: each scenario is a function
//! here, and [`conformance_tests!`](crate::conformance_tests) makes each
//! scenario a `#[test]` of its own for each backend (`stores::memory::
//! create_then_load`, `stores::postgres::revoking_a_user_...`), so a
//! failure names the backend and the scenario. Each test gets a store of
//! its own (a fresh table, a fresh memory store): scenarios that clean up
//! a whole store (`delete_expired`, lapsed revocation times) run beside
//! the others. Keys and users are fresh random IDs, so a shared server
//! (Redis, memcached) can run every scenario at once.
//!
//! Scenarios come in groups, by what a store does:
//!
//! | group | for | what |
//! | --- | --- | --- |
//! | `core` | every [`SessionStore`] | create, load, compare-and-set, delete, expiry, what it hands the layer |
//! | `reaps` / `expires_itself` | stores the reaper cleans / servers that expire records | [`delete_expired`](SessionStore::delete_expired) |
//! | `cache` | [`CacheStore`]s | fills never go back in time, tombstones, quick fields |
//! | `drops_quick` | durable stores that keep no quick fields (SQL) | |
//! | `tiered` | [`Tiered`] stores | quick fields in the cache tier, tombstones in the cache |
//! | `user_index` / `no_user_index` | [`UserIndex`]es / one that answers `Unsupported` (Redis Cluster) | listing and revoking a user's sessions |
//! | `revocation_times` | [`RevocationTimes`] | revocation times move forward, per user |
//! | `revocations_lapse` / `revocations_expire_themselves` | stores the reaper cleans / Redis | [`delete_expired_revocations`](RevocationTimes::delete_expired_revocations) |

use session_runtime::id::{SessionId, StoreKey};
use session_runtime::store::{CacheStore, RevocationTimes, Revoked, UserIndex, UserSession};
use session_runtime::{Entry, Lookup, Saved, SessionStore, StoreError, Tiered};

/// The suite's idea of "now": a fixed time, so expiry is decided by the
/// caller's clock and not the server's.
pub const NOW: u64 = 1_800_000_000;

/// A key no store has seen.
#[must_use]
pub fn fresh_key() -> StoreKey {
    SessionId::generate().expect("OS randomness").store_key()
}

/// A user no store has seen.
#[must_use]
pub fn fresh_user() -> String {
    format!("conformance-{}", fresh_key().to_hex())
}

/// A table of its own for the scenario named `scenario`, in this process:
/// `t_<hash of the name>_<pid>`, short enough for every SQL store.
#[must_use]
pub fn table(scenario: &str) -> String {
    // FNV-1a: stable, and enough to tell some hundred scenarios apart
    let hash = scenario
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("t_{hash:016x}_{}", crate::servers::run())
}

/// What a store hands the layer ([`SessionStore::user_index`] and the
/// others), for [`hands_the_layer_what_it_keeps`].
#[derive(Clone, Copy, Debug)]
pub struct Finds {
    /// A user index.
    pub user_index: bool,
    /// Users' revocation times.
    pub revocation_times: bool,
    /// A tier for quick fields ([`Tiered`]).
    pub quick_tier: bool,
}

/// Makes each scenario of each group a `#[tokio::test]` for each backend:
///
/// ```ignore
/// conformance_tests! {
///     memory(name) -> MemoryStore { Some(MemoryStore::default()) }
///         finds Finds { user_index: true, revocation_times: true, quick_tier: false };
///         runs [core, reaps, cache, user_index, revocation_times, revocations_lapse];
/// }
/// ```
///
/// makes `mod memory` with an `async fn store(name: &str) -> Option<MemoryStore>`
/// (the block, with `name` the test's path, for a table of its own; `None`
/// skips the test, as a server that is not configured does) and a test per
/// scenario calling it.
#[macro_export]
macro_rules! conformance_tests {
    ($(
        $backend:ident($name:ident) -> $store:ty $make:block
            finds $finds:expr;
            runs [$($group:ident),* $(,)?];
    )*) => {$(
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            #[allow(dead_code)]
            async fn store($name: &str) -> Option<$store> $make

            const FINDS: $crate::conformance::Finds = $finds;

            $($crate::conformance_tests!(@group $group);)*
        }
    )*};
    (@group core) => {
        $crate::conformance_tests!(@tests
            create_then_load,
            create_refuses_a_taken_key,
            save_is_compare_and_set,
            save_never_resurrects,
            expired_records_are_not_loaded,
            delete_reports_what_it_removed,
            binary_data_round_trips,
        );
        #[::tokio::test]
        async fn hands_the_layer_what_it_keeps() {
            let Some(store) = store(concat!(module_path!(), "::hands_the_layer_what_it_keeps")).await
            else {
                return;
            };
            $crate::conformance::hands_the_layer_what_it_keeps(&store, FINDS);
        }
    };
    (@group reaps) => {
        $crate::conformance_tests!(@tests delete_expired_works_in_bounded_batches);
    };
    (@group expires_itself) => {
        $crate::conformance_tests!(@tests delete_expired_has_nothing_to_do);
    };
    (@group cache) => {
        $crate::conformance_tests!(@tests
            put_never_goes_back_in_time,
            deletes_leave_a_tombstone,
            quick_fields_survive_a_write_and_a_load,
            quick_only_saves_touch_the_quick_blob_alone,
        );
    };
    (@group drops_quick) => {
        $crate::conformance_tests!(@tests quick_fields_are_not_kept);
    };
    (@group tiered) => {
        $crate::conformance_tests!(@tests
            quick_fields_survive_a_write_and_a_load,
            quick_only_saves_go_to_the_quick_tier_alone,
        );
    };
    (@group tiered_tombstones) => {
        $crate::conformance_tests!(@tests deletes_leave_a_tombstone_in_the_cache_tier);
    };
    (@group user_index) => {
        $crate::conformance_tests!(@tests
            a_users_sessions_are_listed_per_type_newest_first,
            revoking_a_user_deletes_in_batches_all_but_the_session_that_asked,
            the_user_index_is_handed_to_the_layer,
        );
    };
    (@group no_user_index) => {
        $crate::conformance_tests!(@tests a_user_index_it_cannot_keep_is_unsupported);
    };
    (@group revocation_times) => {
        $crate::conformance_tests!(@tests
            revocations_never_share_a_time,
            revocation_times_are_per_user_and_handed_to_the_layer,
        );
    };
    (@group revocations_lapse) => {
        $crate::conformance_tests!(@tests lapsed_revocation_times_are_removed_in_batches);
    };
    (@group revocations_expire_themselves) => {
        $crate::conformance_tests!(@tests revocation_times_expire_by_themselves);
    };
    (@tests $($scenario:ident),* $(,)?) => {$(
        #[::tokio::test]
        async fn $scenario() {
            let Some(store) = store(concat!(module_path!(), "::", stringify!($scenario))).await
            else {
                return;
            };
            $crate::conformance::$scenario(&store).await;
        }
    )*};
}

fn entry(data: &[u8], expires_at: u64) -> Entry<'_> {
    Entry::new(data, expires_at)
}

/// A record with durable data and quick fields, as a tiered store writes it.
fn entry_with_quick(quick: &[u8]) -> Entry<'_> {
    Entry::new(b"durable", NOW + 60).with_quick(quick)
}

/// The store hands the layer exactly the duties it was said to keep.
///
/// # Panics
///
/// When it hands out another set.
pub fn hands_the_layer_what_it_keeps<S: SessionStore>(store: &S, finds: Finds) {
    assert_eq!(
        store.user_index().is_some(),
        finds.user_index,
        "user index of {}",
        S::NAME
    );
    assert_eq!(
        store.revocation_times().is_some(),
        finds.revocation_times,
        "revocation times of {}",
        S::NAME
    );
    assert_eq!(
        store.quick_tier().is_some(),
        finds.quick_tier,
        "quick tier of {}",
        S::NAME
    );
}

/// A created record loads as written, at version 1; loading never creates.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn create_then_load<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert_eq!(
        store.load(&key, NOW).await.unwrap(),
        None,
        "unknown keys load nothing"
    );
    assert!(store.create(&key, entry(b"v1", NOW + 60)).await.unwrap());
    let record = store.load(&key, NOW).await.unwrap().expect("created");
    assert_eq!(
        (record.data.as_slice(), record.expires_at, record.version),
        (&b"v1"[..], NOW + 60, 1)
    );
    // loading never creates: a second unknown key is still unknown
    let other = fresh_key();
    assert_eq!(store.load(&other, NOW).await.unwrap(), None);
    assert!(!store.delete(&other).await.unwrap(), "no row was made");
    store.delete(&key).await.unwrap();
}

/// A create of a taken key changes nothing.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn create_refuses_a_taken_key<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert!(store.create(&key, entry(b"first", NOW + 60)).await.unwrap());
    assert!(
        !store
            .create(&key, entry(b"second", NOW + 60))
            .await
            .unwrap(),
        "collision"
    );
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(record.data, b"first", "a refused create changes nothing");
    store.delete(&key).await.unwrap();
}

/// A save at a stale version conflicts, with the current record.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn save_is_compare_and_set<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store.create(&key, entry(b"v1", NOW + 60)).await.unwrap();
    let saved = store
        .save(&key, entry(b"v2", NOW + 120), 1, NOW)
        .await
        .unwrap();
    assert_eq!(saved, Saved::Saved { version: 2 });
    // a writer still holding version 1 loses, and sees the current record
    match store
        .save(&key, entry(b"stale", NOW + 120), 1, NOW)
        .await
        .unwrap()
    {
        Saved::Conflict(current) => {
            assert_eq!((current.data.as_slice(), current.version), (&b"v2"[..], 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (record.data.as_slice(), record.expires_at, record.version),
        (&b"v2"[..], NOW + 120, 2)
    );
    store.delete(&key).await.unwrap();
}

/// A save never creates a record, nor brings back a deleted one.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn save_never_resurrects<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert_eq!(
        store
            .save(&key, entry(b"x", NOW + 60), 1, NOW)
            .await
            .unwrap(),
        Saved::Missing
    );
    assert_eq!(
        store.load(&key, NOW).await.unwrap(),
        None,
        "a save never creates"
    );
    store.create(&key, entry(b"v1", NOW + 60)).await.unwrap();
    store.delete(&key).await.unwrap();
    assert_eq!(
        store
            .save(&key, entry(b"v2", NOW + 60), 1, NOW)
            .await
            .unwrap(),
        Saved::Missing
    );
    assert_eq!(
        store.load(&key, NOW).await.unwrap(),
        None,
        "terminated stays terminated"
    );
}

/// A record is live until its expiry, and an expired one is not extended.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn expired_records_are_not_loaded<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store.create(&key, entry(b"v1", NOW + 10)).await.unwrap();
    assert!(store.load(&key, NOW + 9).await.unwrap().is_some());
    assert_eq!(store.load(&key, NOW + 10).await.unwrap(), None);
    assert_eq!(
        store
            .save(&key, entry(b"v2", NOW + 100), 1, NOW + 10)
            .await
            .unwrap(),
        Saved::Missing,
        "an expired session is not extended"
    );
    store.delete(&key).await.unwrap();
}

/// A delete says whether it removed a live record.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn delete_reports_what_it_removed<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store.create(&key, entry(b"v1", NOW + 60)).await.unwrap();
    assert!(store.delete(&key).await.unwrap());
    assert!(!store.delete(&key).await.unwrap());
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
}

/// 64 KiB of every byte value round-trip.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn binary_data_round_trips<S: SessionStore>(store: &S) {
    let key = fresh_key();
    let data: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    store.create(&key, entry(&data, NOW + 60)).await.unwrap();
    assert_eq!(store.load(&key, NOW).await.unwrap().unwrap().data, data);
    store.delete(&key).await.unwrap();
}

/// Expired records go in batches of at most `limit`, once dormant for
/// `dormant_for`; live ones stay. (It removes every dormant record of the
/// store: the store must be the scenario's own.)
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn delete_expired_works_in_bounded_batches<S: SessionStore>(store: &S) {
    let base = NOW + 10_000_000;
    let expired: Vec<StoreKey> = (0..25).map(|_| fresh_key()).collect();
    for key in &expired {
        store.create(key, entry(b"old", base - 100)).await.unwrap();
    }
    let recent = fresh_key();
    store
        .create(&recent, entry(b"recently expired", base - 5))
        .await
        .unwrap();
    let live = fresh_key();
    store
        .create(&live, entry(b"live", base + 1_000_000_000))
        .await
        .unwrap();

    // only records expired for at least `dormant_for` (50 s) go, 10 a batch
    let mut batches = Vec::new();
    loop {
        let batch = store.delete_expired(base, 50, 10).await.unwrap();
        batches.push(batch);
        if batch < 10 {
            break;
        }
    }
    assert_eq!(batches, [10, 10, 5], "25 dormant records, 10 a batch");
    for key in &expired {
        assert!(
            !store.delete(key).await.unwrap(),
            "dormant record left behind"
        );
    }
    assert!(
        store.delete(&recent).await.unwrap(),
        "expired less than dormant_for ago: kept"
    );
    assert!(
        store.load(&live, base).await.unwrap().is_some(),
        "live record kept"
    );
    store.delete(&live).await.unwrap();
}

/// A server that expires records by itself: the reaper has nothing to do.
///
/// # Panics
///
/// When the store removes something, or on a store error.
pub async fn delete_expired_has_nothing_to_do<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store.create(&key, entry(b"live", NOW + 60)).await.unwrap();
    assert_eq!(store.delete_expired(NOW + 1_000, 0, 10).await.unwrap(), 0);
    store.delete(&key).await.unwrap();
}

/// A fill writes only a newer version, never over a save.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn put_never_goes_back_in_time<S: CacheStore>(store: &S) {
    let key = fresh_key();
    assert!(
        store
            .put(&key, entry(b"filled", NOW + 60), 7)
            .await
            .unwrap()
    );
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (record.data.as_slice(), record.version),
        (&b"filled"[..], 7)
    );
    // a slow fill of an older version loses to what is there
    assert!(!store.put(&key, entry(b"older", NOW + 60), 5).await.unwrap());
    assert!(!store.put(&key, entry(b"same", NOW + 60), 7).await.unwrap());
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (record.data.as_slice(), record.version),
        (&b"filled"[..], 7),
        "an older fill changed nothing"
    );
    assert!(store.put(&key, entry(b"again", NOW + 90), 9).await.unwrap());
    let saved = store
        .save(&key, entry(b"saved", NOW + 90), 9, NOW)
        .await
        .unwrap();
    assert_eq!(saved, Saved::Saved { version: 10 });
    assert!(
        !store.put(&key, entry(b"stale", NOW + 90), 9).await.unwrap(),
        "a fill never replaces a newer save"
    );
    assert_eq!(store.load(&key, NOW).await.unwrap().unwrap().data, b"saved");
    store.delete(&key).await.unwrap();
}

/// A delete leaves a tombstone that a lookup reports and that refuses
/// fills and creates.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn deletes_leave_a_tombstone<S: CacheStore>(store: &S) {
    let key = fresh_key();
    assert!(store.create(&key, entry(b"live", NOW + 60)).await.unwrap());
    assert!(store.delete(&key).await.unwrap(), "a live record was there");
    assert!(!store.delete(&key).await.unwrap(), "only once");
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
    assert_eq!(
        store.lookup(&key, NOW, None).await.unwrap(),
        Lookup::Gone,
        "a cache knows the session is gone"
    );
    assert!(
        !store
            .put(&key, entry(b"racing fill", NOW + 60), 1)
            .await
            .unwrap(),
        "a fill that read the durable store before the delete is refused"
    );
    assert!(
        !store
            .put(&key, entry(b"later", NOW + 60), 99)
            .await
            .unwrap(),
        "whatever its version"
    );
    assert!(!store.create(&key, entry(b"again", NOW + 60)).await.unwrap());
    assert_eq!(
        store.load(&key, NOW).await.unwrap(),
        None,
        "nothing revived"
    );
    // a key never deleted is a plain miss
    assert_eq!(
        store.lookup(&fresh_key(), NOW, None).await.unwrap(),
        Lookup::Miss
    );
}

/// A delete through a [`Tiered`] store leaves a tombstone in its cache,
/// which a read through the tiered store reports and a late fill cannot
/// get past.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn deletes_leave_a_tombstone_in_the_cache_tier<C: CacheStore, D: SessionStore>(
    store: &Tiered<C, D>,
) {
    let key = fresh_key();
    assert!(store.create(&key, entry(b"live", NOW + 60)).await.unwrap());
    assert!(store.delete(&key).await.unwrap(), "a live record was there");
    assert_eq!(store.lookup(&key, NOW).await.unwrap(), Lookup::Gone);
    assert!(
        !store
            .cache()
            .put(&key, entry(b"racing fill", NOW + 60), 1)
            .await
            .unwrap(),
        "a fill that read the durable store before the delete is refused"
    );
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
    assert_eq!(store.durable().load(&key, NOW).await.unwrap(), None);
}

/// Quick fields are kept beside the data.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn quick_fields_survive_a_write_and_a_load<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store
        .create(&key, entry_with_quick(b"quick"))
        .await
        .unwrap();
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (record.data.as_slice(), record.quick.as_slice()),
        (&b"durable"[..], &b"quick"[..])
    );
    store.delete(&key).await.unwrap();
}

/// A durable store keeps no quick fields: they belong to a cache tier.
///
/// # Panics
///
/// When the store keeps them, or on a store error.
pub async fn quick_fields_are_not_kept<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store
        .create(&key, entry_with_quick(b"quick"))
        .await
        .unwrap();
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (record.data.as_slice(), record.quick.as_slice()),
        (&b"durable"[..], &b""[..])
    );
    store.delete(&key).await.unwrap();
}

/// [`CacheStore::save_quick`] replaces the quick blob alone, at the
/// record's version only.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn quick_only_saves_touch_the_quick_blob_alone<S: CacheStore>(store: &S) {
    quick_saves(store, async |key, quick, version| {
        store.save_quick(key, quick, version, NOW).await.unwrap()
    })
    .await;
}

/// A [`Tiered`] store hands the layer its cache as the quick tier, where
/// a quick save replaces the quick blob alone, at the record's version
/// only.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn quick_only_saves_go_to_the_quick_tier_alone<S: SessionStore>(store: &S) {
    let tier = store.quick_tier().expect("a quick tier");
    quick_saves(store, async |key, quick, version| {
        tier.save_quick(key, quick, version, NOW).await.unwrap()
    })
    .await;
}

async fn quick_saves<S: SessionStore>(
    store: &S,
    save_quick: impl AsyncFn(&StoreKey, &[u8], u64) -> bool,
) {
    let key = fresh_key();
    store
        .create(&key, entry_with_quick(b"old quick"))
        .await
        .unwrap();
    assert!(
        save_quick(&key, b"new quick", 1).await,
        "the record is at version 1"
    );
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(
        (
            record.data.as_slice(),
            record.quick.as_slice(),
            record.version
        ),
        (&b"durable"[..], &b"new quick"[..], 1),
        "data and version unchanged"
    );
    assert!(
        !save_quick(&key, b"stale", 7).await,
        "not at another version"
    );
    store.delete(&key).await.unwrap();
    assert!(
        !save_quick(&key, b"revived", 1).await,
        "never on a deleted session"
    );
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
}

/// Creates a live session of `user` of the session type whose cookie is
/// `cookie_name`, saved at `at`.
async fn session_of<S: SessionStore>(
    store: &S,
    cookie_name: &str,
    user: Option<&str>,
    at: u64,
    expires_at: u64,
) -> StoreKey {
    let key = fresh_key();
    let entry = entry(b"user's", expires_at).with_user(cookie_name, user, at);
    assert!(store.create(&key, entry).await.unwrap());
    key
}

fn keys(sessions: &[UserSession]) -> Vec<StoreKey> {
    sessions.iter().map(|session| session.key).collect()
}

/// A user's live sessions of one session type, most recently saved first,
/// with their times; records written without a cookie name are every
/// type's; deletes and saves keep the index up to date.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn a_users_sessions_are_listed_per_type_newest_first<S: UserIndex>(store: &S) {
    let (user, other_user) = (fresh_user(), fresh_user());
    let (a_type, b_type) = ("__Host-a", "__Host-b");
    let a = session_of(store, a_type, Some(&user), NOW + 1, NOW + 60).await;
    let b = session_of(store, a_type, Some(&user), NOW + 2, NOW + 60).await;
    let short = session_of(store, a_type, Some(&user), NOW + 3, NOW + 5).await;
    let other_type = session_of(store, b_type, Some(&user), NOW + 4, NOW + 60).await;
    let anonymous = session_of(store, a_type, None, NOW + 5, NOW + 60).await;
    let others = session_of(store, a_type, Some(&other_user), NOW + 6, NOW + 60).await;

    let listed = store.user_sessions(a_type, &user, NOW).await.unwrap();
    assert_eq!(keys(&listed), [short, b, a], "newest first, per type");
    assert_eq!(
        (
            listed[2].created_at,
            listed[2].updated_at,
            listed[2].expires_at
        ),
        (NOW + 1, NOW + 1, NOW + 60)
    );
    let later = store.user_sessions(a_type, &user, NOW + 5).await.unwrap();
    assert_eq!(keys(&later), [b, a], "expired at NOW + 5: not listed");
    let b_listed = store.user_sessions(b_type, &user, NOW).await.unwrap();
    assert_eq!(keys(&b_listed), [other_type], "another type's are its own");

    // a save keeps the creation time and moves the session up
    let saved = entry(b"saved", NOW + 90).with_user(a_type, Some(&user), NOW + 10);
    assert_eq!(
        store.save(&a, saved, 1, NOW).await.unwrap(),
        Saved::Saved { version: 2 }
    );
    let listed = store.user_sessions(a_type, &user, NOW).await.unwrap();
    assert_eq!(keys(&listed), [a, short, b]);
    assert_eq!(
        (
            listed[0].created_at,
            listed[0].updated_at,
            listed[0].expires_at
        ),
        (NOW + 1, NOW + 10, NOW + 90)
    );

    // a record written without a cookie name is listed for every type
    let unnamed = session_of(store, "", Some(&user), NOW + 20, NOW + 60).await;
    for cookie_name in [a_type, b_type] {
        let listed = store.user_sessions(cookie_name, &user, NOW).await.unwrap();
        assert_eq!(listed[0].key, unnamed, "{cookie_name}");
    }

    // a deleted record leaves the index
    assert!(store.delete(&b).await.unwrap());
    let listed = store.user_sessions(a_type, &user, NOW).await.unwrap();
    assert_eq!(keys(&listed), [unnamed, a, short]);
    for key in [a, short, other_type, anonymous, others, unnamed] {
        store.delete(&key).await.unwrap();
    }
    assert!(
        store
            .user_sessions(a_type, &user, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Revoking a user deletes their sessions of one type in batches of at
/// most `limit`, all but the session that asked; another type's and
/// another user's stay.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn revoking_a_user_deletes_in_batches_all_but_the_session_that_asked<S: UserIndex>(
    store: &S,
) {
    let (user, other_user) = (fresh_user(), fresh_user());
    let (a_type, b_type) = ("__Host-a", "__Host-b");
    let mut sessions = Vec::new();
    for at in 0..5 {
        sessions.push(session_of(store, a_type, Some(&user), NOW + at, NOW + 60).await);
    }
    let other_type = session_of(store, b_type, Some(&user), NOW, NOW + 60).await;
    let others = session_of(store, a_type, Some(&other_user), NOW, NOW + 60).await;
    let asked = sessions[2];
    let mut batches = Vec::new();
    loop {
        let batch = store
            .revoke_user(a_type, &user, Some(&asked), 2)
            .await
            .unwrap();
        batches.push(batch);
        if batch < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 0], "four sessions, two a batch");
    for key in &sessions {
        let kept = store.load(key, NOW).await.unwrap().is_some();
        assert_eq!(kept, *key == asked, "only the session that asked stays");
    }
    let listed = store.user_sessions(a_type, &user, NOW).await.unwrap();
    assert_eq!(keys(&listed), [asked]);
    assert!(store.load(&other_type, NOW).await.unwrap().is_some());
    assert!(store.load(&others, NOW).await.unwrap().is_some());
    // without an exception, the last one goes too
    assert_eq!(store.revoke_user(a_type, &user, None, 10).await.unwrap(), 1);
    assert_eq!(store.load(&asked, NOW).await.unwrap(), None);
    for key in [other_type, others] {
        store.delete(&key).await.unwrap();
    }
}

/// What the layer lists and revokes through [`SessionStore::user_index`]
/// is the store's [`UserIndex`].
///
/// # Panics
///
/// When the store hands out no index or another one, or on a store error.
pub async fn the_user_index_is_handed_to_the_layer<S: UserIndex>(store: &S) {
    let index = store
        .user_index()
        .expect("a store with a user index hands it to the layer");
    let user = fresh_user();
    let key = session_of(store, "__Host-a", Some(&user), NOW, NOW + 60).await;
    let listed = index.user_sessions("__Host-a", &user, NOW).await.unwrap();
    assert_eq!(
        listed,
        store.user_sessions("__Host-a", &user, NOW).await.unwrap()
    );
    assert_eq!(keys(&listed), [key]);
    assert_eq!(
        index
            .revoke_user("__Host-a", &user, None, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
}

/// A store that has no index in its configuration (Redis Cluster) says so.
///
/// # Panics
///
/// When it answers anything else.
pub async fn a_user_index_it_cannot_keep_is_unsupported<S: UserIndex>(store: &S) {
    let user = fresh_user();
    assert!(matches!(
        store.user_sessions("__Host-a", &user, NOW).await,
        Err(StoreError::Unsupported { .. })
    ));
    assert!(matches!(
        store.revoke_user("__Host-a", &user, None, 10).await,
        Err(StoreError::Unsupported { .. })
    ));
}

/// A user's revocation time only moves forward, and two revocations never
/// share one: the second in the same second is one past the first, and
/// each call reports the time it replaced.
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn revocations_never_share_a_time<S: RevocationTimes>(store: &S) {
    let user = fresh_user();
    assert_eq!(
        store.revoked_before(&user).await.unwrap(),
        None,
        "no revocation yet"
    );
    let keep = 3_600;
    let first = store.revoke_before(&user, NOW, keep).await.unwrap();
    assert_eq!((first.previous, first.before), (None, NOW));
    let same_second = store.revoke_before(&user, NOW, keep).await.unwrap();
    assert_eq!(
        (same_second.previous, same_second.before),
        (Some(NOW), NOW + 1)
    );
    let earlier = store.revoke_before(&user, NOW - 100, keep).await.unwrap();
    assert_eq!((earlier.previous, earlier.before), (Some(NOW + 1), NOW + 2));
    let later = store.revoke_before(&user, NOW + 50, keep).await.unwrap();
    assert_eq!((later.previous, later.before), (Some(NOW + 2), NOW + 50));
    assert_eq!(store.revoked_before(&user).await.unwrap(), Some(NOW + 50));
}

/// Revocation times are per user, and what the layer reads and raises
/// through [`SessionStore::revocation_times`] is the store's
/// [`RevocationTimes`].
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn revocation_times_are_per_user_and_handed_to_the_layer<S: RevocationTimes>(store: &S) {
    let times = store
        .revocation_times()
        .expect("a store with revocation times hands them to the layer");
    let (alice, bob) = (fresh_user(), fresh_user());
    store.revoke_before(&alice, NOW, 3_600).await.unwrap();
    assert_eq!(times.revoked_before(&alice).await.unwrap(), Some(NOW));
    assert_eq!(times.revoked_before(&bob).await.unwrap(), None, "per user");
    assert_eq!(
        times.revoke_before(&bob, NOW + 5, 3_600).await.unwrap(),
        Revoked::new(None, NOW + 5)
    );
    assert_eq!(store.revoked_before(&bob).await.unwrap(), Some(NOW + 5));
    assert_eq!(store.revoked_before(&alice).await.unwrap(), Some(NOW));
}

/// Revocation times kept past their `keep_for` go in batches of at most
/// `limit`; the others stay. (It removes every lapsed time of the store:
/// the store must be the scenario's own.)
///
/// # Panics
///
/// When the store gets it wrong, or on a store error.
pub async fn lapsed_revocation_times_are_removed_in_batches<S: RevocationTimes>(store: &S) {
    let lapsed: Vec<String> = (0..3).map(|_| fresh_user()).collect();
    for user in &lapsed {
        store.revoke_before(user, NOW, 0).await.unwrap();
    }
    let kept = fresh_user();
    store.revoke_before(&kept, NOW, 10_000_000).await.unwrap();
    let mut batches = Vec::new();
    loop {
        let batch = store.delete_expired_revocations(NOW + 1, 2).await.unwrap();
        batches.push(batch);
        if batch < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 1], "three lapsed times, two a batch");
    for user in &lapsed {
        assert_eq!(store.revoked_before(user).await.unwrap(), None);
    }
    assert_eq!(store.revoked_before(&kept).await.unwrap(), Some(NOW));
    let reaped = store
        .revocation_times()
        .expect("handed to the reaper")
        .delete_expired_revocations(NOW + 1, 2)
        .await
        .unwrap();
    assert_eq!(reaped, 0, "nothing else lapsed");
}

/// A server that expires revocation times by itself (Redis): the reaper
/// has nothing to do, and a time kept stays.
///
/// # Panics
///
/// When the store removes something, or on a store error.
pub async fn revocation_times_expire_by_themselves<S: RevocationTimes>(store: &S) {
    let user = fresh_user();
    store.revoke_before(&user, NOW, 3_600).await.unwrap();
    assert_eq!(
        store
            .delete_expired_revocations(NOW + 10_000_000, 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.revoked_before(&user).await.unwrap(), Some(NOW));
}
