//! The PostgreSQL channel: `LISTEN`/`NOTIFY`. Triggers on the two tables
//! send a notification from every write, in its transaction, on the
//! channel named after the sessions table:
//!
//! * `s<id in hex>:<version>` for a session created or saved, `s<id>:` for
//!   one deleted;
//! * `r<time>:<user>` for a user's revocation time raised, `r:<user>` for
//!   one removed (and `s<id>:`, `r:<user>` for a row changed by hand
//!   without raising its version or time: see [`triggers`]);
//! * `f:` for a table truncated: every key changed;
//! * `p<instance>:<n>`: a process's heartbeat, sent through the pool and
//!   awaited on its listener, which proves the channel delivers (and
//!   orders: everything committed before it arrived before it).

use super::cache::{Near, NearKey};
use super::{Channel, NEAR_HEARTBEAT, NearCache, Writes};
use crate::id::StoreKey;
use crate::store::views::BoxFuture;
use crate::store::{Entry, PostgresStore, Record, StoreError};
use sqlx::postgres::PgListener;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

fn error(err: sqlx::Error) -> StoreError {
    StoreError::backend("postgres", err)
}

/// The triggers' functions and the triggers, for table `t`; replaced in
/// place, so every release installs its own.
///
/// A change is announced with the version (or revocation time) it wrote
/// only when it raised it, as every write of the library does: a write by
/// hand that keeps or lowers it (`UPDATE … SET expires_at = 0`) is
/// announced without one, which drops the entry everywhere. A row whose
/// key changes is announced under both keys, and a `TRUNCATE` of either
/// table flushes every near cache.
fn triggers(t: &str) -> [String; 7] {
    [
        format!(
            "CREATE OR REPLACE FUNCTION {t}_near_session() RETURNS trigger LANGUAGE plpgsql AS $near$ \
             BEGIN \
               IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR NEW.id <> OLD.id) THEN \
                 PERFORM pg_notify('{t}', 's' || encode(OLD.id, 'hex') || ':'); \
               END IF; \
               IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.version > OLD.version) THEN \
                 PERFORM pg_notify('{t}', 's' || encode(NEW.id, 'hex') || ':' || NEW.version); \
               ELSIF TG_OP = 'UPDATE' THEN \
                 PERFORM pg_notify('{t}', 's' || encode(NEW.id, 'hex') || ':'); \
               END IF; \
               RETURN NULL; \
             END $near$"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER {t}_near AFTER INSERT OR UPDATE OR DELETE ON {t} \
             FOR EACH ROW EXECUTE FUNCTION {t}_near_session()"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {t}_near_revoked() RETURNS trigger LANGUAGE plpgsql AS $near$ \
             BEGIN \
               IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR NEW.user_id <> OLD.user_id) THEN \
                 PERFORM pg_notify('{t}', 'r:' || OLD.user_id); \
               END IF; \
               IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.user_id = OLD.user_id AND NEW.not_before > OLD.not_before) THEN \
                 PERFORM pg_notify('{t}', 'r' || NEW.not_before || ':' || NEW.user_id); \
               ELSIF TG_OP = 'UPDATE' THEN \
                 PERFORM pg_notify('{t}', 'r:' || NEW.user_id); \
               END IF; \
               RETURN NULL; \
             END $near$"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER {t}_revoked_near AFTER INSERT OR UPDATE OR DELETE ON {t}_revoked \
             FOR EACH ROW EXECUTE FUNCTION {t}_near_revoked()"
        ),
        format!(
            "CREATE OR REPLACE FUNCTION {t}_near_truncate() RETURNS trigger LANGUAGE plpgsql AS $near$ \
             BEGIN PERFORM pg_notify('{t}', 'f:'); RETURN NULL; END $near$"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER {t}_near_truncate AFTER TRUNCATE ON {t} \
             FOR EACH STATEMENT EXECUTE FUNCTION {t}_near_truncate()"
        ),
        format!(
            "CREATE OR REPLACE TRIGGER {t}_revoked_near_truncate AFTER TRUNCATE ON {t}_revoked \
             FOR EACH STATEMENT EXECUTE FUNCTION {t}_near_truncate()"
        ),
    ]
}

/// What a save leaves in the table: the entry without its quick fields
/// (a durable store keeps none), at the version it announces.
fn written(entry: Entry<'_>, version: u64, _now: u64) -> Record {
    entry.without_quick().to_record(version)
}

impl PostgresStore {
    /// Puts a [`NearCache`] of at most `max_bytes` in front of the store:
    /// records and revocation times read or written here are served from
    /// memory, and dropped as soon as PostgreSQL notifies that another
    /// process changed them. Installs (or replaces) the triggers that send
    /// those notifications on the two tables, so call it after
    /// [`migrate`](Self::migrate). Once installed, every write to the
    /// tables notifies (a `pg_notify` in its transaction), whichever
    /// process or tool makes it; one more connection per process listens.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the triggers cannot be installed (the
    /// tables do not exist, or the role may not create functions) or the
    /// listening connection cannot be opened.
    pub async fn with_near_cache(
        self,
        max_bytes: NonZeroUsize,
    ) -> Result<NearCache<Self>, StoreError> {
        let table: Arc<str> = Arc::from(self.table());
        let mut tx = self.pool().begin().await.map_err(error)?;
        // instances starting together would otherwise replace the same
        // function at once ("tuple concurrently updated")
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("{table}_near"))
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        for statement in triggers(&table) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map_err(error)?;
        }
        tx.commit().await.map_err(error)?;

        let listener = open_listener(self.pool(), &table).await?;
        let near = Arc::new(Near::new("postgres", max_bytes.get()));
        near.up();
        let (seen, _) = watch::channel(0);
        let channel = Arc::new(Notifications {
            pool: self.pool().clone(),
            table,
            instance: rand::random(),
            near: Arc::clone(&near),
            sent: AtomicU64::new(0),
            seen,
            down_at: Mutex::new(0),
        });
        tokio::spawn(listen(listener, Arc::downgrade(&channel)));
        tokio::spawn(heartbeat(Arc::downgrade(&channel)));
        Ok(NearCache::new(
            self,
            near,
            channel,
            Writes::Versioned(written),
        ))
    }
}

/// The listening side of one near cache.
struct Notifications {
    pool: sqlx::PgPool,
    table: Arc<str>,
    /// Tells this process's heartbeats from other processes'.
    instance: u64,
    near: Arc<Near>,
    /// The last heartbeat sent, and the last one seen back.
    sent: AtomicU64,
    seen: watch::Sender<u64>,
    /// The heartbeat count when the channel last went down: only a
    /// heartbeat sent after it proves the channel delivers again. Held
    /// while the channel goes up or down.
    down_at: Mutex<u64>,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("channel", &self.table)
            .field("up", &self.near.is_up())
            .finish_non_exhaustive()
    }
}

async fn open_listener(pool: &sqlx::PgPool, channel: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(error)?;
    listener.listen(channel).await.map_err(error)?;
    Ok(listener)
}

impl Notifications {
    /// A new listener in place of one that went silent; none while the
    /// database cannot be reached.
    async fn listener(&self) -> Option<PgListener> {
        open_listener(&self.pool, &self.table).await.ok()
    }

    fn down_at(&self) -> std::sync::MutexGuard<'_, u64> {
        self.down_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn went_down(&self, why: &str) {
        let mut down_at = self.down_at();
        *down_at = self.sent.load(Ordering::Acquire);
        if self.near.is_up() {
            tracing::warn!(channel = %self.table, why, "near cache: PostgreSQL notifications down");
        }
        self.near.down();
    }

    /// Sends heartbeat `n` through the pool; `false` when it could not.
    async fn ping(&self) -> Option<u64> {
        let n = self.sent.fetch_add(1, Ordering::AcqRel) + 1;
        let send = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&*self.table)
            .bind(format!("p{}:{n}", self.instance))
            .execute(&self.pool);
        matches!(tokio::time::timeout(NEAR_HEARTBEAT, send).await, Ok(Ok(_))).then_some(n)
    }

    /// Waits for heartbeat `n` to come back; `false` when it does not in time.
    async fn awaited(&self, n: u64) -> bool {
        let mut seen = self.seen.subscribe();
        let back = seen.wait_for(|seen| *seen >= n);
        matches!(
            tokio::time::timeout(NEAR_HEARTBEAT * 2, back).await,
            Ok(Ok(_))
        )
    }

    fn apply(&self, payload: &str) {
        let Some((head, tail)) = payload.split_once(':') else {
            self.near.flush();
            return;
        };
        let version = |digits: &str| digits.parse::<u64>().ok();
        if let Some(hex) = head.strip_prefix('s') {
            match StoreKey::from_hex(hex.as_bytes()) {
                Some(key) => self.near.invalidate(&NearKey::Session(key), version(tail)),
                None => self.near.flush(),
            }
        } else if let Some(at) = head.strip_prefix('r') {
            self.near
                .invalidate(&NearKey::Revoked(tail.into()), version(at));
        } else if head == "f" {
            self.near.flush();
        } else if let Some(instance) = head.strip_prefix('p') {
            if version(instance) == Some(self.instance)
                && let Some(n) = version(tail)
            {
                self.heard(n);
            }
        } else {
            // a notification of a release that knows more: be safe
            self.near.flush();
        }
    }

    /// Heartbeat `n` came back: the channel delivers everything committed
    /// before it was sent.
    fn heard(&self, n: u64) {
        self.seen.send_if_modified(|seen| {
            let newer = n > *seen;
            *seen = (*seen).max(n);
            newer
        });
        let down_at = self.down_at();
        if !self.near.is_up() && n > *down_at {
            self.near.up();
            tracing::info!(channel = %self.table, "near cache: PostgreSQL notifications up");
        }
    }
}

impl Channel for Notifications {
    fn barrier(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.near.is_up() {
                return;
            }
            match self.ping().await {
                Some(n) if self.awaited(n).await => {}
                _ => self.went_down("a barrier did not come back"),
            }
        })
    }
}

/// Applies notifications as they arrive; a lost connection takes the
/// cache down (the listener reconnects, and the next heartbeat brings it
/// up). Heartbeats arrive every beat: four beats with nothing is a channel
/// silent (a connection dead without closing), which takes the cache down
/// and is replaced by a new listener. Ends with the cache.
async fn listen(listener: PgListener, channel: Weak<Notifications>) {
    let mut listener = Some(listener);
    loop {
        let Some(open) = listener.as_mut() else {
            tokio::time::sleep(NEAR_HEARTBEAT).await;
            let Some(channel) = channel.upgrade() else {
                return;
            };
            listener = channel.listener().await;
            continue;
        };
        let received = tokio::time::timeout(NEAR_HEARTBEAT * 4, open.try_recv()).await;
        let Some(channel) = channel.upgrade() else {
            return;
        };
        match received {
            Ok(Ok(Some(notification))) => channel.apply(notification.payload()),
            Ok(Ok(None)) => channel.went_down("the listening connection was lost"),
            Err(_) => {
                // the wait given up may have cut a message in half
                channel.went_down("nothing arrived, not even a heartbeat");
                listener = None;
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "near cache: PostgreSQL listener");
                channel.went_down("the listening connection failed");
                listener = None;
            }
        }
    }
}

/// Every [`NEAR_HEARTBEAT`], a ping through the pool that must come back on
/// the listener within two: a channel that stopped delivering (a
/// connection dead without closing) takes the cache down. Ends with it.
async fn heartbeat(channel: Weak<Notifications>) {
    loop {
        tokio::time::sleep(NEAR_HEARTBEAT).await;
        let Some(channel) = channel.upgrade() else {
            return;
        };
        let sent = channel.ping().await;
        let seen = *channel.seen.borrow();
        match sent {
            // the one sent two beats ago is late
            Some(n) if seen + 2 >= n => {}
            Some(_) => channel.went_down("heartbeats are late"),
            None => channel.went_down("a heartbeat could not be sent"),
        }
    }
}
