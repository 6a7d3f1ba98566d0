//! [`Guarded`]: the one way the core calls a store. Every call runs under
//! the layer's timeout and the store's circuit breaker, is timed for the
//! `sessionkit_store_seconds` histogram, and is traced in a
//! `session_store` span (store, operation, outcome) under the request's.

use crate::store::guard::Breaker;
use crate::store::{ErasedStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A store behind the layer's timeout and a circuit breaker shared by
/// every request that uses it.
#[derive(Clone)]
pub(crate) struct Guarded {
    pub(crate) store: Arc<dyn ErasedStore>,
    /// Skips the store for a short while when it keeps failing.
    breaker: Arc<Breaker>,
    /// The longest one call may take.
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("store", &self.store.name())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Guarded {
    /// `store` with a breaker of its own.
    pub(crate) fn new(store: Arc<dyn ErasedStore>, timeout: Duration) -> Self {
        Self {
            store,
            breaker: Arc::default(),
            timeout,
        }
    }

    /// The store's name, for logs and metrics.
    pub(crate) fn name(&self) -> &'static str {
        self.store.name()
    }

    /// Runs `call`, the store's `operation`, under the guard.
    pub(crate) async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        use tracing::Instrument as _;
        let store = self.store.name();
        let span = tracing::debug_span!(
            "session_store",
            store,
            operation,
            outcome = tracing::field::Empty
        );
        let began = Instant::now();
        let result = self
            .breaker
            .call(store, self.timeout, call)
            .instrument(span.clone())
            .await;
        crate::telemetry::store_call(store, operation, began.elapsed());
        span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_store_and_its_timeout() {
        let guarded = Guarded::new(
            crate::store::erase(crate::MemoryStore::default()),
            Duration::from_millis(250),
        );
        let shown = format!("{guarded:?}");
        assert!(
            shown.contains("\"memory\"") && shown.contains("250ms"),
            "{shown}"
        );
    }
}
