//! What the near-cache tests share: real times (Redis expires keys by its
//! own clock, so the suite's fixed `NOW` would be long past), entries of
//! one user, and a bounded wait for what another process should see soon.

use session_runtime::Entry;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The time the test binary started, in Unix seconds.
pub static NOW: LazyLock<u64> = LazyLock::new(|| {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
});

/// An entry of `user`'s (cookie name `sid`), live for an hour from [`NOW`].
#[must_use]
pub fn user_entry<'a>(data: &'a [u8], user: &'a str) -> Entry<'a> {
    Entry::new(data, *NOW + 3600).with_user("sid", Some(user), *NOW)
}

/// An entry of `alice`'s: see [`user_entry`].
#[must_use]
pub fn entry(data: &[u8]) -> Entry<'_> {
    user_entry(data, "alice")
}

/// Polls `check`, yielding between tries, until it holds or `limit`
/// passed; how long it took.
pub async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let began = Instant::now();
    while began.elapsed() < limit {
        if check().await {
            return Some(began.elapsed());
        }
        tokio::task::yield_now().await;
    }
    None
}

/// [`within`] a second.
pub async fn within_a_second(check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    within(Duration::from_secs(1), check).await
}
