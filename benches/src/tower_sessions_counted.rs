//! A tower-sessions 0.14 store wrapper that counts the calls reaching the
//! real store, as `sessionkit_tests::probe::Probe` does for sessionkit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower_sessions_014::session::{Id, Record};
use tower_sessions_014::session_store::{Result, SessionStore};

/// Calls that reached the store.
#[derive(Debug, Default)]
pub struct Calls {
    /// `load`.
    pub loads: AtomicUsize,
    /// `create` and `save`.
    pub writes: AtomicUsize,
    /// `delete`.
    pub deletes: AtomicUsize,
}

/// Counts the calls to `S`.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    /// Shared by clones.
    pub calls: Arc<Calls>,
}

impl<S> Counted<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl<S: SessionStore + Clone> SessionStore for Counted<S> {
    async fn create(&self, record: &mut Record) -> Result<()> {
        self.calls.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.calls.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        self.calls.loads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.calls.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(id).await
    }
}
