//! The store conformance suite against every backend available here.
//! `MemoryStore` needs no server; its own bounds are tested below.

use session_runtime::id::SessionId;
use session_runtime::{MemoryStore, SessionStore, StoreError};
use sessionkit_tests::conformance;

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(&MemoryStore::default()).await;
}

#[tokio::test]
async fn memory_store_is_bounded() {
    let store = MemoryStore::new(3);
    let keys: Vec<_> = (0..5)
        .map(|_| SessionId::generate().unwrap().store_key())
        .collect();
    for (i, key) in keys.iter().enumerate() {
        // later keys expire later
        assert!(store.create(key, b"x", 1_000 + i as u64).await.unwrap());
    }
    assert_eq!(store.len(), 3, "never more than its capacity");
    // the records closest to expiry were dropped first
    assert!(store.load(&keys[0], 0).await.unwrap().is_none());
    assert!(store.load(&keys[1], 0).await.unwrap().is_none());
    assert!(store.load(&keys[4], 0).await.unwrap().is_some());

    let small = MemoryStore::new(10).with_max_record(4);
    let err = small.create(&keys[0], b"12345", 1_000).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { len: 5, max: 4 }),
        "{err:?}"
    );
    assert!(small.is_empty());
}
