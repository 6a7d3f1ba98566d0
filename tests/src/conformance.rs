//! One conformance suite for every `SessionStore`: each backend's test calls
//! [`run`] against a real instance. Keys are fresh random IDs, so a shared
//! server can run several suites at once.

use session_runtime::id::{SessionId, StoreKey};
use session_runtime::{Entry, Lookup, Saved, SessionStore};

/// The suite's idea of "now": a fixed time, so expiry is decided by the
/// caller's clock and not the server's.
pub const NOW: u64 = 1_800_000_000;

/// A key no store has seen.
#[must_use]
pub fn fresh_key() -> StoreKey {
    SessionId::generate().expect("OS randomness").store_key()
}

fn entry(data: &[u8], expires_at: u64) -> Entry<'_> {
    Entry::new(data, expires_at)
}

/// A record with durable data and quick fields, as a tiered store writes it.
fn entry_with_quick(quick: &[u8]) -> Entry<'_> {
    Entry::new(b"durable", NOW + 60).with_quick(quick)
}

/// Runs every scenario against `store`.
///
/// # Panics
///
/// On the first scenario the store gets wrong, or on a store error.
pub async fn run<S: SessionStore>(store: &S) {
    create_then_load(store).await;
    create_refuses_a_taken_key(store).await;
    save_is_compare_and_set(store).await;
    save_never_resurrects(store).await;
    expired_records_are_not_loaded(store).await;
    delete_reports_what_it_removed(store).await;
    put_never_goes_back_in_time(store).await;
    deletes_leave_a_tombstone_in_caches(store).await;
    quick_only_saves_touch_the_quick_blob_alone(store).await;
    quick_fields_follow_the_store_kind(store).await;
    revocations_never_share_a_time(store).await;
    if S::EXPIRES_ITSELF {
        assert_eq!(store.delete_expired(NOW, 0, 10).await.unwrap(), 0);
    } else {
        delete_expired_works_in_bounded_batches(store).await;
    }
    binary_data_round_trips(store).await;
}

async fn create_then_load<S: SessionStore>(store: &S) {
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

async fn create_refuses_a_taken_key<S: SessionStore>(store: &S) {
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

async fn save_is_compare_and_set<S: SessionStore>(store: &S) {
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

async fn save_never_resurrects<S: SessionStore>(store: &S) {
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

async fn expired_records_are_not_loaded<S: SessionStore>(store: &S) {
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

async fn delete_reports_what_it_removed<S: SessionStore>(store: &S) {
    let key = fresh_key();
    store.create(&key, entry(b"v1", NOW + 60)).await.unwrap();
    assert!(store.delete(&key).await.unwrap());
    assert!(!store.delete(&key).await.unwrap());
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
}

async fn put_never_goes_back_in_time<S: SessionStore>(store: &S) {
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

async fn deletes_leave_a_tombstone_in_caches<S: SessionStore>(store: &S) {
    let key = fresh_key();
    assert!(store.create(&key, entry(b"live", NOW + 60)).await.unwrap());
    assert!(store.delete(&key).await.unwrap(), "a live record was there");
    assert!(!store.delete(&key).await.unwrap(), "only once");
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
    if S::TOMBSTONES {
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
        if S::NAME != "tiered" {
            // a cache alone refuses it too; a tiered store creates in its
            // durable store, which keeps no tombstones (IDs are random and
            // never reused, so no real create meets a tombstone)
            assert!(!store.create(&key, entry(b"again", NOW + 60)).await.unwrap());
        }
        assert_eq!(
            store.load(&key, NOW).await.unwrap(),
            None,
            "nothing revived"
        );
    } else {
        assert_eq!(store.lookup(&key, NOW, None).await.unwrap(), Lookup::Miss);
    }
}

async fn quick_fields_follow_the_store_kind<S: SessionStore>(store: &S) {
    let key = fresh_key();
    let with_quick = entry_with_quick(b"quick");
    store.create(&key, with_quick).await.unwrap();
    let record = store.load(&key, NOW).await.unwrap().unwrap();
    assert_eq!(record.data, b"durable");
    let expected: &[u8] = if S::KEEPS_QUICK { b"quick" } else { b"" };
    assert_eq!(record.quick, expected, "{}", S::NAME);
    store.delete(&key).await.unwrap();
}

async fn delete_expired_works_in_bounded_batches<S: SessionStore>(store: &S) {
    // far in the future, so other scenarios' records are not in the way
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
    let mut removed = 0;
    loop {
        let batch = store.delete_expired(base, 50, 10).await.unwrap();
        assert!(batch <= 10, "a batch never exceeds its limit");
        removed += batch;
        if batch < 10 {
            break;
        }
    }
    assert!(
        removed >= 25,
        "all 25 dormant records removed (removed {removed})"
    );
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

async fn binary_data_round_trips<S: SessionStore>(store: &S) {
    let key = fresh_key();
    let data: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    store.create(&key, entry(&data, NOW + 60)).await.unwrap();
    assert_eq!(store.load(&key, NOW).await.unwrap().unwrap().data, data);
    store.delete(&key).await.unwrap();
}

async fn quick_only_saves_touch_the_quick_blob_alone<S: SessionStore>(store: &S) {
    let key = fresh_key();
    let with_quick = entry_with_quick(b"old quick");
    store.create(&key, with_quick).await.unwrap();
    let written = store.save_quick(&key, b"new quick", 1, NOW).await.unwrap();
    if !S::KEEPS_QUICK {
        // a durable store has no quick blob: the caller saves in full
        assert!(!written);
        store.delete(&key).await.unwrap();
        return;
    }
    assert!(written, "the record is at version 1");
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
        !store.save_quick(&key, b"stale", 7, NOW).await.unwrap(),
        "not at another version"
    );
    store.delete(&key).await.unwrap();
    assert!(
        !store.save_quick(&key, b"revived", 1, NOW).await.unwrap(),
        "never on a deleted session"
    );
    assert_eq!(store.load(&key, NOW).await.unwrap(), None);
}

/// A user's revocation time only moves forward, and two revocations never
/// share one: the second in the same second is one past the first, and
/// each call reports the time it replaced (stores that keep no revocation
/// times say `Unsupported`).
async fn revocations_never_share_a_time<S: SessionStore>(store: &S) {
    let user = format!("conformance-{}", fresh_key().to_hex());
    match store.revoked_before(&user).await {
        Err(session_runtime::StoreError::Unsupported { .. }) => return,
        other => assert_eq!(other.unwrap(), None, "no revocation yet"),
    }
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
