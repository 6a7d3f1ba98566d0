//! [`ErasedStore`]: a store behind `dyn`, so the layer's types do not grow
//! a store parameter. One boxed future per store call: noise next to a
//! network round trip.
//!
//! [`erase`] makes one of any [`SessionStore`], with the user index,
//! revocation times and quick tier the store hands out
//! ([`SessionStore::user_index`] and the others; [`StoreError::Unsupported`]
//! where it has none); [`erase_revocations`] one of a [`RevocationTimes`]
//! store, whose revocation times are called through that trait, as its type
//! promises.

use super::views::BoxFuture;
use super::{Entry, Record, RevocationTimes, Saved, SessionStore, StoreError, UserSession};
use crate::id::StoreKey;
use std::sync::Arc;

/// The calls the layer makes, object-safe.
pub(crate) trait ErasedStore: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn splits_quick(&self) -> bool;
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn load<'a>(
        &'a self,
        key: &'a StoreKey,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn save<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<Saved, StoreError>>;
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>>;
    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;
    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;
    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<crate::user::Revoked, StoreError>>;
}

/// `store` as the layer holds it (see the module docs).
pub(crate) fn erase(store: impl SessionStore) -> Arc<dyn ErasedStore> {
    Arc::new(Erased(store))
}

/// `store` as the layer holds the store of
/// [`with_user_revocation`](crate::SessionLayer::with_user_revocation):
/// its revocation times through [`RevocationTimes`], whatever
/// [`SessionStore::revocation_times`] says.
pub(crate) fn erase_revocations(store: impl RevocationTimes) -> Arc<dyn ErasedStore> {
    Arc::new(WithRevocations(Erased(store)))
}

/// See [`erase`].
struct Erased<S>(S);

/// See [`erase_revocations`].
struct WithRevocations<S>(Erased<S>);

fn no_user_index(store: &'static str) -> StoreError {
    StoreError::Unsupported {
        store,
        what: "a user index",
    }
}

fn no_revocation_times(store: &'static str) -> StoreError {
    StoreError::Unsupported {
        store,
        what: "user revocation times",
    }
}

impl<S: SessionStore> ErasedStore for Erased<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn splits_quick(&self) -> bool {
        self.0.quick_tier().is_some()
    }

    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = entry.updated_at;
        Box::pin(self.0.create(key, entry.capped(now)))
    }

    fn load<'a>(
        &'a self,
        key: &'a StoreKey,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(self.0.load(key, now))
    }

    fn save<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(self.0.save(key, entry.capped(now), version, now))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.0.delete(key))
    }

    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        match self.0.quick_tier() {
            Some(tier) => Box::pin(tier.save_quick(key, quick, version, now)),
            // no tier keeps quick fields apart: the caller saves in full
            None => Box::pin(async { Ok(false) }),
        }
    }

    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>> {
        match self.0.user_index() {
            Some(index) => Box::pin(index.user_sessions(cookie_name, user, now)),
            None => Box::pin(async { Err(no_user_index(S::NAME)) }),
        }
    }

    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        match self.0.user_index() {
            Some(index) => Box::pin(index.revoke_user(cookie_name, user, except, limit)),
            None => Box::pin(async { Err(no_user_index(S::NAME)) }),
        }
    }

    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        match self.0.revocation_times() {
            Some(times) => Box::pin(times.revoked_before(user)),
            None => Box::pin(async { Err(no_revocation_times(S::NAME)) }),
        }
    }

    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<crate::user::Revoked, StoreError>> {
        match self.0.revocation_times() {
            Some(times) => Box::pin(times.revoke_before(user, at, keep_for)),
            None => Box::pin(async { Err(no_revocation_times(S::NAME)) }),
        }
    }
}

impl<S: RevocationTimes> ErasedStore for WithRevocations<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn splits_quick(&self) -> bool {
        self.0.splits_quick()
    }

    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.0.create(key, entry)
    }

    fn load<'a>(
        &'a self,
        key: &'a StoreKey,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        self.0.load(key, now)
    }

    fn save<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        self.0.save(key, entry, version, now)
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.0.delete(key)
    }

    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.0.save_quick(key, quick, version, now)
    }

    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>> {
        self.0.user_sessions(cookie_name, user, now)
    }

    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.0.revoke_user(cookie_name, user, except, limit)
    }

    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(RevocationTimes::revoked_before(&self.0.0, user))
    }

    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<crate::user::Revoked, StoreError>> {
        Box::pin(RevocationTimes::revoke_before(
            &self.0.0, user, at, keep_for,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::id::SessionId;

    /// A durable store of the core trait alone: no user index, no
    /// revocation times, no quick tier.
    struct Plain(MemoryStore);

    impl SessionStore for Plain {
        const NAME: &'static str = "plain";

        async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
            self.0.create(key, entry).await
        }

        async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
            self.0.load(key, now).await
        }

        async fn save(
            &self,
            key: &StoreKey,
            entry: Entry<'_>,
            version: u64,
            now: u64,
        ) -> Result<Saved, StoreError> {
            self.0.save(key, entry, version, now).await
        }

        async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
            self.0.delete(key).await
        }

        async fn delete_expired(
            &self,
            now: u64,
            dormant_for: u64,
            limit: usize,
        ) -> Result<usize, StoreError> {
            self.0.delete_expired(now, dormant_for, limit).await
        }
    }

    #[tokio::test]
    async fn what_a_store_does_not_hand_out_is_unsupported() {
        let store = erase(Plain(MemoryStore::default()));
        let key = SessionId::generate().unwrap().store_key();
        assert!(!store.splits_quick());
        assert!(store.create(&key, Entry::new(b"x", 100)).await.unwrap());
        assert!(!store.save_quick(&key, b"q", 1, 0).await.unwrap());
        for unsupported in [
            store.user_sessions("s", "u", 0).await.map(|_| ()),
            store.revoke_user("s", "u", None, 10).await.map(|_| ()),
            store.revoked_before("u").await.map(|_| ()),
            store.revoke_before("u", 1, 1).await.map(|_| ()),
        ] {
            assert!(
                matches!(
                    unsupported,
                    Err(StoreError::Unsupported { store: "plain", .. })
                ),
                "{unsupported:?}"
            );
        }
    }

    #[tokio::test]
    async fn what_a_store_hands_out_is_called() {
        let store = erase(MemoryStore::default());
        let key = SessionId::generate().unwrap().store_key();
        let entry = Entry::new(b"x", 100).with_user("s", Some("u"), 5);
        assert!(store.create(&key, entry).await.unwrap());
        assert_eq!(store.user_sessions("s", "u", 0).await.unwrap().len(), 1);
        assert_eq!(store.revoke_before("u", 7, 60).await.unwrap().before, 7);
        assert_eq!(store.revoked_before("u").await.unwrap(), Some(7));
        assert_eq!(store.revoke_user("s", "u", None, 10).await.unwrap(), 1);
        let revocations = erase_revocations(MemoryStore::default());
        assert_eq!(revocations.revoked_before("u").await.unwrap(), None);
    }
}
