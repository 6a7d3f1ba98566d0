//! Failing fast: a timeout on every store call and a circuit breaker that
//! skips a store which keeps failing.
//!
//! Without them a store outage stalls every request for as long as the
//! backend's own connect and I/O timeouts (seconds, or until the server
//! comes back). With them a call waits at most its timeout; after
//! [`FAILURES_TO_OPEN`] failures in a row the store is skipped for
//! [`OPEN_FOR`] — calls fail at once with [`StoreError::CircuitOpen`] —
//! then one call at a time probes it until one succeeds.

use super::StoreError;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Consecutive failures that open the breaker.
pub(crate) const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker skips the store before probing it again.
pub(crate) const OPEN_FOR: Duration = Duration::from_millis(500);

/// Shared by every request that calls one store.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    /// Open at the first timeout rather than after [`FAILURES_TO_OPEN`]
    /// failures: for a cache, whose every timeout delays a request that
    /// the durable store could have served, so that a request pays at most
    /// one cache timeout (its next cache call finds the breaker open).
    open_on_timeout: bool,
    failures: AtomicU32,
    /// Set while open: calls before this instant are refused.
    open_until: Mutex<Option<Instant>>,
    /// One probe at a time once the open period is over.
    probing: AtomicBool,
}

enum Admission {
    Pass,
    Probe,
}

impl Breaker {
    /// A breaker that opens at the first timeout (see `open_on_timeout`).
    pub(crate) fn opening_on_timeout() -> Self {
        Self {
            open_on_timeout: true,
            ..Self::default()
        }
    }

    fn admit(&self, store: &'static str) -> Result<Admission, StoreError> {
        let open_until = *self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match open_until {
            None => Ok(Admission::Pass),
            Some(until) if Instant::now() < until => Err(StoreError::CircuitOpen { store }),
            Some(_) => {
                if self.probing.swap(true, Ordering::AcqRel) {
                    Err(StoreError::CircuitOpen { store })
                } else {
                    Ok(Admission::Probe)
                }
            }
        }
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Release);
        let mut open = self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.take().is_some() {
            tracing::info!("session store answers again: circuit closed");
        }
    }

    fn failed(&self, store: &'static str, timed_out: bool) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= FAILURES_TO_OPEN || (timed_out && self.open_on_timeout) {
            let mut open = self
                .open_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if open.is_none() {
                tracing::warn!(
                    store,
                    failures,
                    "session store keeps failing: skipped for {OPEN_FOR:?}"
                );
            }
            *open = Some(Instant::now() + OPEN_FOR);
        }
    }

    /// Whether calls are being refused right now.
    pub(crate) fn is_open(&self) -> bool {
        self.open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Runs `call` under `timeout` unless the breaker is open, and records
    /// how it went. Only failures of the store count
    /// ([`StoreError::is_outage`]): a record that is too large or a call
    /// the store does not support is the caller's problem, and one user's
    /// request must not open the breaker for everyone.
    pub(crate) async fn call<T>(
        &self,
        store: &'static str,
        timeout: Duration,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let admission = self.admit(store)?;
        let result = with_timeout(store, timeout, call).await;
        if matches!(admission, Admission::Probe) {
            self.probing.store(false, Ordering::Release);
        }
        match &result {
            Ok(_) => self.succeeded(),
            Err(err) if err.is_outage() => {
                self.failed(store, matches!(err, StoreError::Timeout { .. }));
            }
            // the store answered, or was not asked: no news about its health
            Err(_) => {}
        }
        result
    }
}

/// `call`, or [`StoreError::Timeout`] after `timeout`. Outside a Tokio
/// runtime there is no timer to use: the call then runs unbounded.
pub(crate) async fn with_timeout<T>(
    store: &'static str,
    timeout: Duration,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return call.await;
    }
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout {
            store,
            after: timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn failing() -> Result<(), StoreError> {
        Err(StoreError::backend("test", "down"))
    }

    #[tokio::test]
    async fn opens_after_repeated_failures_then_probes_and_closes() {
        let breaker = Breaker::default();
        let timeout = Duration::from_secs(1);
        for _ in 0..FAILURES_TO_OPEN {
            assert!(matches!(
                breaker.call("test", timeout, failing()).await,
                Err(StoreError::Backend { .. })
            ));
        }
        assert!(breaker.is_open());
        let mut ran = false;
        let refused = breaker
            .call("test", timeout, async {
                ran = true;
                Ok(())
            })
            .await;
        assert!(matches!(refused, Err(StoreError::CircuitOpen { .. })));
        assert!(!ran, "an open breaker does not call the store");

        tokio::time::sleep(OPEN_FOR + Duration::from_millis(20)).await;
        breaker
            .call("test", timeout, async { Ok(()) })
            .await
            .unwrap();
        assert!(!breaker.is_open(), "a successful probe closes it");
    }

    #[tokio::test]
    async fn callers_mistakes_never_open_the_breaker() {
        let breaker = Breaker::default();
        let timeout = Duration::from_secs(1);
        for _ in 0..FAILURES_TO_OPEN * 4 {
            let unsupported = breaker
                .call("test", timeout, async {
                    Err::<(), _>(StoreError::Unsupported {
                        store: "test",
                        what: "a user index",
                    })
                })
                .await;
            assert!(matches!(unsupported, Err(StoreError::Unsupported { .. })));
            let too_large = breaker
                .call("test", timeout, async {
                    Err::<(), _>(StoreError::TooLarge { len: 2, max: 1 })
                })
                .await;
            assert!(matches!(too_large, Err(StoreError::TooLarge { .. })));
        }
        assert!(!breaker.is_open(), "no store failure, no open breaker");
        // and they do not reset the count of real failures either
        for _ in 0..FAILURES_TO_OPEN - 1 {
            let _ = breaker.call("test", timeout, failing()).await;
        }
        let _ = breaker
            .call("test", timeout, async {
                Err::<(), _>(StoreError::TooLarge { len: 2, max: 1 })
            })
            .await;
        let _ = breaker.call("test", timeout, failing()).await;
        assert!(breaker.is_open());
    }

    #[tokio::test]
    async fn a_cache_breaker_opens_at_the_first_timeout() {
        let breaker = Breaker::opening_on_timeout();
        let hang = std::future::pending::<Result<(), StoreError>>();
        let result = breaker.call("cache", Duration::from_millis(10), hang).await;
        assert!(matches!(result, Err(StoreError::Timeout { .. })));
        assert!(breaker.is_open(), "one timeout is enough");
        // a fast error still needs FAILURES_TO_OPEN in a row
        let quick = Breaker::opening_on_timeout();
        let _ = quick.call("cache", Duration::from_secs(1), failing()).await;
        assert!(!quick.is_open());
    }

    #[tokio::test]
    async fn a_call_that_hangs_times_out() {
        let breaker = Breaker::default();
        let hang = std::future::pending::<Result<(), StoreError>>();
        let result = breaker.call("test", Duration::from_millis(20), hang).await;
        assert!(matches!(result, Err(StoreError::Timeout { .. })));
    }

    #[tokio::test]
    async fn a_success_resets_the_count_of_failures() {
        let breaker = Breaker::default();
        let timeout = Duration::from_secs(1);
        for _ in 0..FAILURES_TO_OPEN - 1 {
            let _ = breaker.call("test", timeout, failing()).await;
        }
        breaker
            .call("test", timeout, async { Ok(()) })
            .await
            .unwrap();
        for _ in 0..FAILURES_TO_OPEN - 1 {
            let _ = breaker.call("test", timeout, failing()).await;
        }
        assert!(!breaker.is_open(), "never three in a row");
        let _ = breaker.call("test", timeout, failing()).await;
        assert!(breaker.is_open());
    }

    #[tokio::test]
    async fn a_durable_stores_breaker_takes_three_timeouts_to_open() {
        let breaker = Breaker::default();
        for n in 1..=FAILURES_TO_OPEN {
            let hang = std::future::pending::<Result<(), StoreError>>();
            let result = breaker.call("db", Duration::from_millis(5), hang).await;
            assert!(matches!(result, Err(StoreError::Timeout { .. })));
            assert_eq!(breaker.is_open(), n == FAILURES_TO_OPEN, "after {n}");
        }
    }

    #[tokio::test]
    async fn one_probe_at_a_time_and_a_failed_probe_opens_it_again() {
        let breaker = Breaker::default();
        let timeout = Duration::from_secs(5);
        for _ in 0..FAILURES_TO_OPEN {
            let _ = breaker.call("test", timeout, failing()).await;
        }
        tokio::time::sleep(OPEN_FOR + Duration::from_millis(20)).await;
        assert!(!breaker.is_open(), "the open period is over");
        // a probe is running: every other call is refused meanwhile
        let (done, wait) = tokio::sync::oneshot::channel::<()>();
        let probe = breaker.call("test", timeout, async {
            let _ = wait.await;
            Err::<(), _>(StoreError::backend("test", "still down"))
        });
        let other = async {
            let refused = breaker.call("test", timeout, async { Ok(()) }).await;
            done.send(()).unwrap();
            refused
        };
        let (probed, refused) = tokio::join!(probe, other);
        assert!(matches!(refused, Err(StoreError::CircuitOpen { .. })));
        assert!(matches!(probed, Err(StoreError::Backend { .. })));
        // the probe failed: open again, for another period
        assert!(breaker.is_open());
        assert!(matches!(
            breaker.call("test", timeout, async { Ok(()) }).await,
            Err(StoreError::CircuitOpen { .. })
        ));
        tokio::time::sleep(OPEN_FOR + Duration::from_millis(20)).await;
        breaker
            .call("test", timeout, async { Ok(()) })
            .await
            .unwrap();
        // and after a probe, the next calls pass
        breaker
            .call("test", timeout, async { Ok(()) })
            .await
            .unwrap();
        assert!(!breaker.is_open());
    }

    #[tokio::test]
    async fn a_call_that_answers_in_time_passes_its_result_through() {
        let breaker = Breaker::opening_on_timeout();
        let answer = breaker
            .call("cache", Duration::from_secs(5), async { Ok(42) })
            .await
            .unwrap();
        assert_eq!(answer, 42);
        // outside a runtime there is no timer: the call runs unbounded
        let value = std::thread::spawn(|| {
            block_on(with_timeout("x", Duration::from_millis(1), async { Ok(7) }))
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(value, 7);
    }

    /// Polls a future to completion on this thread, without a runtime.
    fn block_on<F: Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }
}
