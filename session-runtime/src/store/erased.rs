//! [`ErasedStore`]: a [`SessionStore`] behind `dyn`, so the layer's types do
//! not grow a store parameter. One boxed future per store call: noise next
//! to a network round trip.

use super::{Entry, Record, Saved, SessionStore, StoreError, UserSession};
use crate::id::StoreKey;
use std::future::Future;
use std::pin::Pin;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

impl<T: SessionStore> ErasedStore for T {
    fn revoked_before<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(SessionStore::revoked_before(self, user))
    }

    fn revoke_before<'a>(
        &'a self,
        user: &'a str,
        at: u64,
        keep_for: u64,
    ) -> BoxFuture<'a, Result<crate::user::Revoked, StoreError>> {
        Box::pin(SessionStore::revoke_before(self, user, at, keep_for))
    }

    fn user_sessions<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        now: u64,
    ) -> BoxFuture<'a, Result<Vec<UserSession>, StoreError>> {
        Box::pin(SessionStore::user_sessions(self, cookie_name, user, now))
    }

    fn revoke_user<'a>(
        &'a self,
        cookie_name: &'a str,
        user: &'a str,
        except: Option<&'a StoreKey>,
        limit: usize,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(SessionStore::revoke_user(
            self,
            cookie_name,
            user,
            except,
            limit,
        ))
    }

    fn name(&self) -> &'static str {
        T::NAME
    }

    fn splits_quick(&self) -> bool {
        T::SPLITS_QUICK
    }

    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = entry.updated_at;
        Box::pin(SessionStore::create(self, key, entry.capped(now)))
    }

    fn load<'a>(
        &'a self,
        key: &'a StoreKey,
        now: u64,
    ) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, key, now))
    }

    fn save<'a>(
        &'a self,
        key: &'a StoreKey,
        entry: Entry<'a>,
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<Saved, StoreError>> {
        Box::pin(SessionStore::save(
            self,
            key,
            entry.capped(now),
            version,
            now,
        ))
    }

    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::delete(self, key))
    }

    fn save_quick<'a>(
        &'a self,
        key: &'a StoreKey,
        quick: &'a [u8],
        version: u64,
        now: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::save_quick(self, key, quick, version, now))
    }
}
