//! [`StoreError`]: how a store call fails.

use super::Entry;
use std::time::Duration;

/// A store failed. The request that hit it fails according to the layer's
/// outage policy; what was saved before stays saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend reported an error (connection, query, protocol).
    #[error("session store `{store}` failed")]
    Backend {
        /// Which store.
        store: &'static str,
        /// What the backend said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store did not answer within its timeout.
    #[error("session store `{store}` did not answer within {after:?}")]
    Timeout {
        /// Which store.
        store: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The store failed repeatedly and is skipped for a short while (its
    /// circuit breaker is open): the request fails at once instead of
    /// waiting for it.
    #[error("session store `{store}` is failing and skipped for now")]
    CircuitOpen {
        /// Which store.
        store: &'static str,
    },
    /// The store cannot do what was asked (a memcached store keeps no
    /// user index).
    #[error("session store `{store}` does not support {what}")]
    Unsupported {
        /// Which store.
        store: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
    /// A record larger than the store accepts.
    #[error("session record of {len} bytes exceeds the store's limit of {max}")]
    TooLarge {
        /// The record's size.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl StoreError {
    /// Whether the store itself failed (it errored, did not answer, or is
    /// being skipped): what the outage policy, the circuit breaker and a
    /// `503` are about. A request the store cannot serve by design
    /// ([`Unsupported`](Self::Unsupported), [`TooLarge`](Self::TooLarge)) is
    /// the caller's problem, not an outage.
    #[must_use]
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Backend { .. } | Self::Timeout { .. } | Self::CircuitOpen { .. }
        )
    }

    /// The short text a client is shown for this error: never the store's
    /// name, the backend's message or a size (those go to the log).
    #[must_use]
    pub fn public_message(&self) -> &'static str {
        if self.is_outage() {
            "the session store is unavailable; please retry"
        } else {
            "the session could not be handled"
        }
    }

    /// The HTTP status this error answers with: `503` for an outage (with
    /// `Retry-After: 1`), `500` otherwise.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        if self.is_outage() {
            http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            http::StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    /// A backend error from `store`.
    pub fn backend(
        store: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            store,
            source: source.into(),
        }
    }

    /// [`StoreError::TooLarge`] unless `entry` fits `max` bytes.
    ///
    /// # Errors
    ///
    /// [`StoreError::TooLarge`].
    pub fn check_size(entry: &Entry<'_>, max: usize) -> Result<(), Self> {
        if entry.len() > max {
            return Err(Self::TooLarge {
                len: entry.len(),
                max,
            });
        }
        Ok(())
    }
}
