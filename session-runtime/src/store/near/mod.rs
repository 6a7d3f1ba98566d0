//! [`NearCache`]: records and revocation times served from process memory,
//! kept coherent by the store's own notifications.

mod cache;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

use self::cache::{Cached, Near, NearKey};
use super::views::BoxFuture;
use super::{
    CacheStore, Entry, Lookup, Record, RevocationTimes, RevocationTimesRef, Revoked, Saved,
    SessionStore, StoreError, StoreStats, TOMBSTONE_TTL, UserIndex, UserIndexRef, UserSession,
};
use crate::id::StoreKey;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the notification channel is checked end to end (a ping that
/// must come back through it; on Redis also the read of a marker that
/// tells a database swapped in place, `SWAPDB` or a restore, which Redis
/// does not report), and how long an answer may take before the channel
/// counts as broken: a channel that dies without closing its socket is
/// found within about three times this (1.5 s).
pub const NEAR_HEARTBEAT: Duration = Duration::from_millis(500);

/// The longest a read waits for another request of the same key already
/// asking the store (see [`NearCache`]); past it, it asks the store too.
const NEAR_WAIT: Duration = Duration::from_millis(50);

/// A store's notification channel, as the near cache needs it.
pub(crate) trait Channel: Send + Sync + std::fmt::Debug + 'static {
    /// Returns once every notification of a change the store made before
    /// the call has been applied, or the channel went down (and the cache
    /// with it).
    fn barrier(&self) -> BoxFuture<'_, ()>;
}

/// The record a write of `entry` at `version` leaves in the store, at
/// `now` (the time the store caps its expiry by; 0 for none).
type Written = fn(Entry<'_>, u64, u64) -> Record;

/// How the writes of the cache's own process can keep what they wrote
/// without a notification of their own taking it away again.
#[derive(Clone, Copy)]
enum Writes {
    /// The store's notifications carry the version written (PostgreSQL):
    /// a write's own notification leaves the value it filled, a later
    /// write's takes it away.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Versioned(Written),
    /// The store reports every write, this process's too, with no version
    /// (Redis: a script's writes are reported to the connection that ran
    /// it even with `NOLOOP`, and reports of one key within one event-loop
    /// cycle are merged, so the report of a write of ours cannot be told
    /// from that of another process's right after it): a write keeps
    /// nothing, and the next read fills again.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Reported,
}

/// A near cache in front of a [`RedisStore`](super::RedisStore) or a
/// [`PostgresStore`](super::PostgresStore): the records it read or wrote
/// and users' revocation times served from this process's memory, with no
/// round trip, and still coherent across every process that shares the
/// store. Made by the stores' `with_near_cache`.
///
/// * **Coherent by the store's own notifications.** Redis tells every
///   process of each key changed under the store's prefix (server-assisted
///   client-side caching, RESP3 `CLIENT TRACKING … BCAST`); PostgreSQL
///   sends a notification from every write, in its transaction (triggers
///   that `with_near_cache` installs, `LISTEN`/`NOTIFY`). A notification
///   drops the entry, whichever process wrote; a read whose reply a
///   concurrent write made stale is not kept, whatever order the reply and
///   the notification arrive in.
/// * **The staleness that remains is the delivery of a notification**:
///   between a write's commit in one process and its notification's
///   arrival in another (a fraction of a millisecond on one machine, a
///   network hop across machines; `benches/` and the test suite measure
///   it), the other process may still serve what it held. Within one
///   process there is none: a write or a delete replaces or drops the
///   entry before it returns, and revoking a user's sessions returns once
///   its notifications came back.
/// * **Never an entry that might have missed a notification.** When the
///   channel breaks, reconnects, or does not answer its [`NEAR_HEARTBEAT`] ping
///   in time, everything is dropped and nothing is served or kept until it
///   is up again: reads go to the store meanwhile.
/// * **One round trip for concurrent reads of a key**: a read that finds
///   another read of the same key asking the store (or, on PostgreSQL,
///   whose writes keep what they wrote, a write of it) waits for it, up
///   to 50 ms, and is then served from memory.
/// * **Bounded in bytes**, least recently used out first.
/// * **What is cached**: session records (and Redis tombstones) and users'
///   revocation times, including "never revoked", so
///   [`with_user_revocation`](crate::SessionLayer::with_user_revocation)
///   costs no round trip for sessions held in cookies. Listings of a
///   user's sessions always ask the store.
///
/// Stores without notifications (SQLite, MySQL, memcached) have no near
/// cache: a per-process [`MemoryStore`](super::MemoryStore) in front of
/// them ([`Tiered`](super::Tiered)) is trusted for a bounded staleness
/// instead.
///
/// ```no_run
/// # async fn run() -> Result<(), session_runtime::StoreError> {
/// use session_runtime::store::{PostgresStore, RedisStore};
/// use session_runtime::Tiered;
/// use std::num::NonZeroUsize;
///
/// let bytes = NonZeroUsize::new(64 << 20).unwrap(); // 64 MiB
/// let redis = RedisStore::connect("redis://127.0.0.1/").await?.with_near_cache(bytes).await?;
/// let postgres = PostgresStore::connect("postgres://localhost/app").await?;
/// postgres.migrate().await?;
/// let store = Tiered::new(redis, postgres.with_near_cache(bytes).await?);
/// # let _ = store;
/// # Ok(()) }
/// ```
pub struct NearCache<S> {
    store: S,
    near: Arc<Near>,
    channel: Arc<dyn Channel>,
    writes: Writes,
}

impl<S: Clone> Clone for NearCache<S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            near: Arc::clone(&self.near),
            channel: Arc::clone(&self.channel),
            writes: self.writes,
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for NearCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("store", &self.store)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a [`NearCache`] holds and has done, from [`NearCache::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearStats {
    /// Whether the notification channel is up (entries are served).
    pub connected: bool,
    /// Entries held, including places taken by reads in flight.
    pub entries: usize,
    /// Bytes those entries count against the bound (the places kept for
    /// writes in flight count nothing: they hold no value, and there are
    /// at most as many as writes in flight).
    pub bytes: usize,
    /// Reads answered from memory.
    pub hits: u64,
    /// Reads that asked the store.
    pub misses: u64,
    /// Notifications applied.
    pub invalidations: u64,
    /// Times everything was dropped (the channel broke, or the store was
    /// flushed).
    pub flushes: u64,
}

impl<S> NearCache<S> {
    fn new(store: S, near: Arc<Near>, channel: Arc<dyn Channel>, writes: Writes) -> Self {
        Self {
            store,
            near,
            channel,
            writes,
        }
    }

    /// The store behind the cache.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// What the cache holds and has done so far.
    #[must_use]
    pub fn stats(&self) -> NearStats {
        let (entries, bytes) = self.near.size();
        let [hits, misses, invalidations, flushes] = self.near.counts();
        NearStats {
            connected: self.near.is_up(),
            entries,
            bytes,
            hits,
            misses,
            invalidations,
            flushes,
        }
    }

    /// Returns once every notification of a change made before the call
    /// (by any process) has reached this cache, or its channel was found
    /// broken (and everything it held dropped): what a test or a job that
    /// must read its own writes elsewhere waits for.
    pub async fn sync(&self) {
        self.channel.barrier().await;
    }

    /// The key's value held in memory; otherwise a ticket to fill it. A
    /// request that finds the place taken by another (a read or a write
    /// of the same key in flight) waits for it once, up to [`NEAR_WAIT`],
    /// rather than ask the store too: concurrent requests of one session
    /// then make one round trip, not one each.
    async fn read(&self, key: &NearKey) -> Result<Cached, Option<cache::Ticket<'_>>> {
        let deadline = tokio::time::Instant::now() + NEAR_WAIT;
        loop {
            match self.near.get(key) {
                Err(None) if self.near.is_up() => {}
                found => return found,
            }
            // a place another request holds: wait for it to go (several
            // waiting for one then wait for the one of them that took the
            // place next)
            let writes_keep = matches!(self.writes, Writes::Versioned(_));
            let Some(waiters) = self.near.waiter(key, writes_keep) else {
                // a write that keeps nothing (ask the store now), or a place
                // given back meanwhile (look once more)
                let again = self.near.get(key);
                if matches!(again, Err(None)) {
                    self.near.missed();
                }
                return again;
            };
            let woken = waiters.notified();
            let mut woken = std::pin::pin!(woken);
            // listening before looking again: a wake-up in between is kept
            woken.as_mut().enable();
            if self.near.still_taken(key, &waiters)
                && tokio::time::timeout_at(deadline, woken).await.is_err()
            {
                self.near.missed();
                return Err(None);
            }
        }
    }

    /// The session's value held in memory, served if live at `now`;
    /// otherwise a ticket to fill it.
    async fn held(&self, key: &StoreKey, now: u64) -> Result<Cached, Option<cache::Ticket<'_>>> {
        let near_key = NearKey::Session(*key);
        match self.read(&near_key).await {
            Ok(Cached::Record(record)) if record.expires_at <= now => {}
            Ok(Cached::Gone(until)) if until <= Instant::now() => {}
            other => return other,
        }
        // expired in memory as in the store: ask again
        self.near.forget(&near_key);
        self.near.get(&near_key)
    }

    /// A write's ticket: the entry stops being served until the write's
    /// reply replaces it (or drops it), and a read in flight is not kept.
    fn writing(&self, key: NearKey) -> Writing<'_> {
        Writing {
            ticket: self.near.write(key),
            written: match self.writes {
                Writes::Versioned(written) => Some(written),
                Writes::Reported => None,
            },
        }
    }
}

/// A write in flight: see [`NearCache::writing`].
struct Writing<'a> {
    ticket: cache::Ticket<'a>,
    written: Option<Written>,
}

impl Writing<'_> {
    /// The write succeeded at `version`: keep what it left, where the
    /// store's notifications let it be kept.
    fn wrote(self, entry: Entry<'_>, version: u64, now: u64) {
        if let Some(written) = self.written {
            self.ticket
                .fill(Cached::Record(written(entry, version, now)));
        }
    }

    /// The write left `value` (a revocation time).
    fn left(self, value: Cached) {
        if self.written.is_some() {
            self.ticket.fill(value);
        }
    }
}

impl<S: UserIndex + RevocationTimes> SessionStore for NearCache<S> {
    const NAME: &'static str = S::NAME;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        let writing = self.writing(NearKey::Session(*key));
        let created = self.store.create(key, entry).await?;
        if created {
            writing.wrote(entry, 1, entry.updated_at);
        }
        Ok(created)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        let ticket = match self.held(key, now).await {
            Ok(held) => return Ok(held.lookup().into_record()),
            Err(ticket) => ticket,
        };
        let record = self.store.load(key, now).await?;
        if let (Some(ticket), Some(record)) = (ticket, &record) {
            ticket.fill(Cached::Record(record.clone()));
        }
        Ok(record)
    }

    async fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        let writing = self.writing(NearKey::Session(*key));
        let saved = self.store.save(key, entry, version, now).await?;
        if let Saved::Saved { version } = saved {
            writing.wrote(entry, version, now);
        }
        Ok(saved)
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        // nothing is kept: the ticket only stops the entry being served
        // and a read in flight being kept
        let _writing = self.writing(NearKey::Session(*key));
        self.store.delete(key).await
    }

    async fn delete_expired(
        &self,
        now: u64,
        dormant_for: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // expired records are never served: nothing to drop here
        self.store.delete_expired(now, dormant_for, limit).await
    }

    async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
        self.store.stats(now).await
    }

    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        self.store
            .user_index()
            .is_some()
            .then(|| UserIndexRef::new(self))
    }

    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        Some(RevocationTimesRef::new(self))
    }
}

impl<S: CacheStore + UserIndex + RevocationTimes> CacheStore for NearCache<S> {
    const SHARED: bool = S::SHARED;

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        max_staleness: Option<Duration>,
    ) -> Result<Lookup, StoreError> {
        let ticket = match self.held(key, now).await {
            Ok(held) => return Ok(held.lookup()),
            Err(ticket) => ticket,
        };
        let lookup = self.store.lookup(key, now, max_staleness).await?;
        if let Some(ticket) = ticket {
            match &lookup {
                Lookup::Hit(record) => ticket.fill(Cached::Record(record.clone())),
                // the store keeps a tombstone at most this long
                Lookup::Gone => ticket.fill(Cached::Gone(Instant::now() + TOMBSTONE_TTL)),
                Lookup::Miss => {}
            }
        }
        Ok(lookup)
    }

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        let writing = self.writing(NearKey::Session(*key));
        let written = self.store.put(key, entry, version).await?;
        if written {
            writing.wrote(entry, version, 0);
        }
        Ok(written)
    }

    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing(NearKey::Session(*key));
        self.store.save_quick(key, quick, version, now).await
    }
}

impl<S: UserIndex + RevocationTimes> UserIndex for NearCache<S> {
    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.store.user_sessions(cookie_name, user, now).await
    }

    /// Deletes in the store, then waits for its notifications: the
    /// sessions revoked are not served here once this returns.
    async fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let revoked = self
            .store
            .revoke_user(cookie_name, user, except, limit)
            .await;
        // even a failed round may have deleted some
        self.channel.barrier().await;
        revoked
    }
}

impl<S: UserIndex + RevocationTimes> RevocationTimes for NearCache<S> {
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let key = NearKey::Revoked(user.into());
        let ticket = match self.read(&key).await {
            Ok(Cached::Revoked(at)) => return Ok(at),
            Ok(_) => None,
            Err(ticket) => ticket,
        };
        let at = self.store.revoked_before(user).await?;
        if let Some(ticket) = ticket {
            ticket.fill(Cached::Revoked(at));
        }
        Ok(at)
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<Revoked, StoreError> {
        let writing = self.writing(NearKey::Revoked(user.into()));
        let revoked = self.store.revoke_before(user, at, keep_for).await?;
        writing.left(Cached::Revoked(Some(revoked.before)));
        Ok(revoked)
    }

    async fn delete_expired_revocations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // a time past its keep covers no live session: one still held
        // here refuses nothing the store would not
        self.store.delete_expired_revocations(now, limit).await
    }
}

/// The store's own: keys are read at start and then polled, never served
/// from the near cache.
impl<S: super::KeyStore> super::KeyStore for NearCache<S> {
    fn load_keys(&self) -> impl Future<Output = Result<Vec<super::StoredKey>, StoreError>> + Send {
        self.store.load_keys()
    }

    fn add_key(
        &self,
        key: &super::StoredKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.store.add_key(key)
    }

    fn revoke_key(
        &self,
        kid: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.store.revoke_key(kid, at)
    }

    fn remove_key(&self, kid: u32) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.store.remove_key(kid)
    }

    fn watch_keys(&self, wake: std::sync::Weak<tokio::sync::Notify>) -> bool {
        self.store.watch_keys(wake)
    }
}
