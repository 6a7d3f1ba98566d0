//! The Redis channel: server-assisted client-side caching. One connection
//! of the near cache's own, in RESP3, asks Redis to tell it of every key
//! changed under the store's prefix (`CLIENT TRACKING ON BCAST PREFIX`);
//! each invalidation is applied as the connection reads it.

use super::cache::{Near, NearKey};
use super::{Channel, NEAR_HEARTBEAT, NearCache, Writes};
use crate::id::StoreKey;
use crate::store::redis_store::error;
use crate::store::views::BoxFuture;
use crate::store::{RedisStore, StoreError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

impl RedisStore {
    /// Puts a [`NearCache`] of at most `max_bytes` in front of the store:
    /// records, tombstones and revocation times read or written here are
    /// served from memory, and dropped as soon as Redis says they changed,
    /// whichever process changed them (Redis 6 or later; one more
    /// connection per process).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] on Redis Cluster (tracking is per node),
    /// [`StoreError::Backend`] when the tracking connection cannot be
    /// opened (the server is unreachable, or older than Redis 6).
    pub async fn with_near_cache(
        self,
        max_bytes: NonZeroUsize,
    ) -> Result<NearCache<Self>, StoreError> {
        let Some(client) = self.client.clone() else {
            return Err(StoreError::Unsupported {
                store: "redis",
                what: "a near cache on Redis Cluster",
            });
        };
        let client = crate::store::redis_store::resp3_client(&client)?;
        let near = Arc::new(Near::new("redis", max_bytes.get()));
        let tracking = Arc::new(Tracking {
            client,
            prefix: Arc::clone(&self.prefix),
            near: Arc::clone(&near),
            current: Mutex::new(None),
            switch: Arc::new(Mutex::new(())),
            wake: Arc::new(Notify::new()),
            marker_key: format!("{}near:db", self.prefix),
            marker: Mutex::new(None),
        });
        let (connection, alive) = tracking.open().await?;
        tracking.went_up(connection, alive);
        // learns the database's marker
        if !tracking.ping().await {
            return Err(StoreError::backend(
                "redis",
                "the tracking connection does not answer",
            ));
        }
        tokio::spawn(supervise(
            Arc::downgrade(&tracking),
            Arc::clone(&tracking.wake),
        ));
        Ok(NearCache::new(self, near, tracking, Writes::Reported))
    }
}

/// The tracking connection and what it keeps coherent.
struct Tracking {
    client: redis::Client,
    prefix: Arc<str>,
    near: Arc<Near>,
    /// The connection tracking is on for, while it is up, with the flag
    /// its disconnection clears.
    current: Mutex<Option<(MultiplexedConnection, Arc<AtomicBool>)>>,
    /// Held while the channel goes up or down, so a disconnection reported
    /// by the connection and the supervisor bringing it up never cross.
    switch: Arc<Mutex<()>>,
    /// Wakes the supervisor when the connection reports it closed.
    wake: Arc<Notify>,
    /// `<prefix>near:db`, and the value last read there (see [`Tracking::ping`]).
    marker_key: String,
    marker: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("prefix", &self.prefix)
            .field("up", &self.near.is_up())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Tracking {
    /// A new connection with tracking on, and the flag its disconnection
    /// clears.
    async fn open(&self) -> Result<(MultiplexedConnection, Arc<AtomicBool>), StoreError> {
        let alive = Arc::new(AtomicBool::new(true));
        let sink = Sink {
            near: Arc::downgrade(&self.near),
            prefix: Arc::clone(&self.prefix),
            alive: Arc::clone(&alive),
            switch: Arc::clone(&self.switch),
            wake: Arc::clone(&self.wake),
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(NEAR_HEARTBEAT * 2))
            .set_response_timeout(Some(NEAR_HEARTBEAT * 2))
            .set_push_sender(move |push: PushInfo| {
                sink.apply(push);
                Ok::<(), std::convert::Infallible>(())
            });
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(error)?;
        let mut tracking = redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("BCAST");
        if !self.prefix.is_empty() {
            tracking.arg("PREFIX").arg(&*self.prefix);
        }
        tracking
            .query_async::<()>(&mut connection)
            .await
            .map_err(error)?;
        Ok((connection, alive))
    }

    /// Tracking is on for `connection`: serve and fill again, unless it
    /// already closed.
    fn went_up(&self, connection: MultiplexedConnection, alive: Arc<AtomicBool>) {
        let _switch = lock(&self.switch);
        if alive.load(Ordering::Acquire) {
            *lock(&self.current) = Some((connection, alive));
            self.near.up();
            tracing::info!(prefix = %self.prefix, "near cache: Redis tracking on");
        }
    }

    fn went_down(&self) {
        let _switch = lock(&self.switch);
        if let Some((_, alive)) = lock(&self.current).take() {
            // its closing, now or later, is no news
            alive.store(false, Ordering::Release);
        }
        self.near.down();
    }

    /// The tracking connection, while tracking is on.
    fn connection(&self) -> Option<MultiplexedConnection> {
        lock(&self.current).as_ref().map(|(c, _)| c.clone())
    }

    /// A read of the database's marker on the tracking connection: its
    /// reply comes after every invalidation Redis sent before it, which
    /// the connection applied as it read them. `false` when there is no
    /// connection or no reply.
    ///
    /// The marker (`<prefix>near:db`, a random value the first process
    /// sets) tells the database apart from one put in its place without a
    /// word to tracking clients (`SWAPDB`, a restore): a value that is not
    /// the one read before flushes the cache, and the marker is set again.
    async fn ping(&self) -> bool {
        let Some(mut connection) = self.connection() else {
            return false;
        };
        let marker = async {
            let read = redis::cmd("GET")
                .arg(&self.marker_key)
                .query_async::<Option<Vec<u8>>>(&mut connection)
                .await?;
            let known = lock(&self.marker).clone();
            if read.is_some() && read == known {
                return Ok(());
            }
            if known.is_some() {
                tracing::warn!(prefix = %self.prefix, "near cache: the Redis database was replaced, cache flushed");
                self.near.flush();
            }
            let mut token = [0u8; 16];
            getrandom::fill(&mut token).map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Client, "no random source"))
            })?;
            let () = redis::cmd("SET")
                .arg(&self.marker_key)
                .arg(&token[..])
                .arg("NX")
                .query_async::<Option<()>>(&mut connection)
                .await
                .map(|_| ())?;
            let now = redis::cmd("GET")
                .arg(&self.marker_key)
                .query_async::<Option<Vec<u8>>>(&mut connection)
                .await?;
            *lock(&self.marker) = now;
            Ok::<(), redis::RedisError>(())
        };
        matches!(
            tokio::time::timeout(NEAR_HEARTBEAT * 2, marker).await,
            Ok(Ok(()))
        )
    }
}

impl Channel for Tracking {
    fn barrier(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.near.is_up() && !self.ping().await {
                self.went_down();
                self.wake.notify_one();
            }
        })
    }
}

/// Pings the tracking connection every [`NEAR_HEARTBEAT`], and replaces it
/// when it closed or stopped answering; ends with the cache.
async fn supervise(tracking: Weak<Tracking>, wake: Arc<Notify>) {
    loop {
        // a beat, or sooner when the connection reports it closed
        let _ = tokio::time::timeout(NEAR_HEARTBEAT, wake.notified()).await;
        let Some(tracking) = tracking.upgrade() else {
            return;
        };
        if tracking.ping().await {
            continue;
        }
        tracking.went_down();
        match tracking.open().await {
            Ok((connection, alive)) => tracking.went_up(connection, alive),
            Err(err) => {
                tracing::warn!(error = %err, "near cache: Redis tracking connection failed, retrying");
            }
        }
    }
}

/// Where the tracking connection's pushes go.
struct Sink {
    near: Weak<Near>,
    prefix: Arc<str>,
    alive: Arc<AtomicBool>,
    switch: Arc<Mutex<()>>,
    wake: Arc<Notify>,
}

impl Sink {
    fn apply(&self, push: PushInfo) {
        let Some(near) = self.near.upgrade() else {
            return;
        };
        match push.kind {
            PushKind::Invalidate => match push.data.as_slice() {
                // RESP3: `invalidate [key …]`, or `invalidate nil` after a
                // flush of the database
                [Value::Array(keys)] => {
                    for key in keys {
                        match key {
                            Value::BulkString(name) => self.invalidate(&near, name),
                            _ => near.flush(),
                        }
                    }
                }
                _ => near.flush(),
            },
            PushKind::Disconnection => {
                let _switch = lock(&self.switch);
                if self.alive.swap(false, Ordering::AcqRel) {
                    near.down();
                    self.wake.notify_one();
                }
            }
            _ => {}
        }
    }

    fn invalidate(&self, near: &Near, name: &[u8]) {
        let Some(rest) = name.strip_prefix(self.prefix.as_bytes()) else {
            return;
        };
        if let Some(user) = rest.strip_prefix(b"revoked:") {
            // user ids are text: a key that is not is none of ours
            if let Ok(user) = std::str::from_utf8(user) {
                near.invalidate(&NearKey::Revoked(user.into()), None);
            }
        } else if let Some(key) = StoreKey::from_hex(rest) {
            near.invalidate(&NearKey::Session(key), None);
        }
    }
}
