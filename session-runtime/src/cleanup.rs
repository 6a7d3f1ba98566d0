//! Removing expired sessions from a store: in bounded batches, from a
//! background [`Reaper`] task (feature `tokio`) or `sessionkit reap`.
//!
//! Each batch is one short statement deleting at most `limit` rows, so
//! cleaning up a large backlog never holds long locks or a huge
//! transaction. Redis and memcached expire sessions by themselves; for
//! them a batch removes nothing.

use crate::store::{SessionStore, StoreError};
use std::time::Duration;

/// What a cleanup run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reaped {
    /// Sessions removed.
    pub removed: usize,
    /// Batches run (the last one removed less than the limit).
    pub batches: usize,
    /// User revocation times removed: kept past their `keep_for`, when
    /// every session they could refuse has expired.
    pub revocations: usize,
}

/// Removes every session that expired at least `dormant_for` before `now`
/// (Unix seconds), `limit` at a time, calling `progress` with the running
/// total after each batch; then, in batches of the same size, the user
/// revocation times kept past their time, when the store keeps them
/// ([`SessionStore::revocation_times`],
/// [`RevocationTimes::delete_expired_revocations`](crate::store::RevocationTimes::delete_expired_revocations)).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_runtime::cleanup::delete_expired_in_batches;
/// use session_runtime::{Entry, MemoryStore, SessionStore};
/// use session_runtime::id::SessionId;
/// use std::time::Duration;
///
/// let store = MemoryStore::default();
/// for _ in 0..25 {
///     let key = SessionId::generate()?.store_key();
///     store.create(&key, Entry::new(b"sealed", 1_000)).await?;
/// }
/// let reaped = delete_expired_in_batches(&store, 2_000, Duration::ZERO, 10, |_| {}).await?;
/// assert_eq!((reaped.removed, reaped.batches), (25, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Errors
///
/// The first [`StoreError`]; batches before it stay done.
pub async fn delete_expired_in_batches<S: SessionStore>(
    store: &S,
    now: u64,
    dormant_for: Duration,
    limit: usize,
    mut progress: impl FnMut(usize),
) -> Result<Reaped, StoreError> {
    let limit = limit.max(1);
    let mut reaped = Reaped::default();
    loop {
        let removed = store
            .delete_expired(now, dormant_for.as_secs(), limit)
            .await?;
        reaped.removed += removed;
        reaped.batches += 1;
        progress(reaped.removed);
        if removed < limit {
            break;
        }
    }
    let Some(times) = store.revocation_times() else {
        return Ok(reaped);
    };
    loop {
        let removed = times.delete_expired_revocations(now, limit).await?;
        reaped.revocations += removed;
        if removed < limit {
            return Ok(reaped);
        }
    }
}

#[cfg(feature = "tokio")]
pub use reaper::{Reaper, ReaperHandle};

#[cfg(feature = "tokio")]
mod reaper {
    use super::delete_expired_in_batches;
    use crate::config::{Clock, SystemClock, unix_secs};
    use crate::store::SessionStore;
    use std::sync::Arc;
    use std::time::Duration;

    /// A background task that removes expired sessions (and lapsed user
    /// revocation times) every `interval`
    /// (gae-sessions' cleanup cron, vishnu's `delete_expired_sessions`).
    /// A failing run is logged and retried at the next tick: the task never
    /// stops on a store error.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), session_runtime::StoreError> {
    /// use session_runtime::cleanup::Reaper;
    /// use session_runtime::store::SqliteStore;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let store = Arc::new(SqliteStore::connect("sqlite://sessions.db").await?);
    /// // the same store also goes to `SessionLayer::with_store`
    /// let reaper = Reaper::new()
    ///     .with_interval(Duration::from_secs(600))
    ///     .spawn(Arc::clone(&store));
    /// # reaper.stop();
    /// # Ok(()) }
    /// ```
    #[derive(Clone)]
    #[must_use]
    pub struct Reaper {
        interval: Duration,
        dormant_for: Duration,
        limit: usize,
        clock: Arc<dyn Clock>,
    }

    impl std::fmt::Debug for Reaper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Reaper")
                .field("interval", &self.interval)
                .field("dormant_for", &self.dormant_for)
                .field("limit", &self.limit)
                .finish_non_exhaustive()
        }
    }

    impl Default for Reaper {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Reaper {
        /// Every hour, sessions expired for any time, 1,000 rows a batch.
        pub fn new() -> Self {
            Self {
                interval: Duration::from_secs(3600),
                dormant_for: Duration::ZERO,
                limit: 1_000,
                clock: Arc::new(SystemClock),
            }
        }

        /// Time between runs (default one hour).
        pub fn with_interval(mut self, interval: Duration) -> Self {
            self.interval = interval.max(Duration::from_millis(1));
            self
        }

        /// Only remove sessions expired at least this long ago (vishnu's
        /// `dormant_for`).
        pub fn with_dormant_for(mut self, dormant_for: Duration) -> Self {
            self.dormant_for = dormant_for;
            self
        }

        /// Rows per batch (at least 1).
        pub fn with_limit(mut self, limit: usize) -> Self {
            self.limit = limit.max(1);
            self
        }

        /// Where the reaper reads the time.
        pub fn with_clock(mut self, clock: impl Clock) -> Self {
            self.clock = Arc::new(clock);
            self
        }

        /// Starts the task on the current tokio runtime; the first run is
        /// immediate.
        ///
        /// # Panics
        ///
        /// Outside a tokio runtime.
        pub fn spawn<S: SessionStore>(self, store: S) -> ReaperHandle {
            let task = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(self.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let now = unix_secs(&*self.clock);
                    match delete_expired_in_batches(
                        &store,
                        now,
                        self.dormant_for,
                        self.limit,
                        |_| {},
                    )
                    .await
                    {
                        Ok(reaped) if reaped.removed > 0 => {
                            tracing::info!(
                                store = S::NAME,
                                removed = reaped.removed,
                                batches = reaped.batches,
                                "expired sessions removed"
                            );
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(store = S::NAME, error = %err, source = ?std::error::Error::source(&err), "session cleanup failed; retrying at the next interval");
                        }
                    }
                }
            });
            ReaperHandle { task }
        }
    }

    /// The running reaper. Dropping the handle leaves the task running;
    /// [`stop`](Self::stop) ends it.
    #[derive(Debug)]
    pub struct ReaperHandle {
        task: tokio::task::JoinHandle<()>,
    }

    impl ReaperHandle {
        /// Stops the task.
        pub fn stop(self) {
            self.task.abort();
        }

        /// Whether the task is still running.
        #[must_use]
        pub fn is_running(&self) -> bool {
            !self.task.is_finished()
        }
    }
}
