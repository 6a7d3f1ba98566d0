//! The durable SQL stores over sqlx: [`SqliteStore`] (the embedded default),
//! [`PostgresStore`] and [`MySqlStore`] (MySQL and MariaDB).
//!
//! # The tables
//!
#![doc = include_str!("sql_schema.md")]
//!
//! # Migrations
//!
//! `migrate()` creates them with plain idempotent DDL (`IF NOT EXISTS`),
//! and brings a table made by an earlier release up to date (the columns
//! added since, the `(user_id, cookie_name)` index in place of the one on
//! `user_id` alone, and on MySQL binary `user_id` columns), so it is safe to
//! call at every start. The three stores share one implementation (a macro
//! over the sqlx pool type); only the SQL dialect differs.

use super::{Entry, Record, Revoked, Saved, StoreError, StoreStats};
use std::sync::Arc;

/// The default name of the sessions table; the revocation times are in
/// `<table>_revoked`:
///
#[doc = include_str!("sql_schema.md")]
pub const DEFAULT_TABLE: &str = "sessionkit_sessions";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MySql,
}

/// Every statement a store runs, rendered once for its table and dialect.
#[derive(Clone, Debug)]
struct Statements {
    /// The sessions table's name.
    table: Arc<str>,
    ddl: Vec<Arc<str>>,
    create: Arc<str>,
    load: Arc<str>,
    save: Arc<str>,
    current: Arc<str>,
    delete: Arc<str>,
    delete_expired: Arc<str>,
    /// Revocation times past their keep, in a bounded batch.
    delete_expired_revocations: Arc<str>,
    count: Arc<str>,
    count_expired: Arc<str>,
    count_shapes: Arc<str>,
    /// Counts the column named by the bound parameter (0 in a table made
    /// before it existed).
    has_column: Arc<str>,
    /// Columns added since the first release, with their `ALTER TABLE`.
    added_columns: Vec<(&'static str, Arc<str>)>,
    /// MySQL: for the sessions and the revocation table, a count of its
    /// `user_id` columns that are not yet [`MYSQL_USER_ID`] (a table made
    /// by an earlier release, in a text collation) and the `ALTER TABLE`
    /// that makes them so. Empty for the other dialects, which compare
    /// text byte for byte.
    binary_user_ids: Vec<(Arc<str>, Arc<str>)>,
    /// Creates the user index on `(user_id, cookie_name)` (SQLite,
    /// PostgreSQL: `IF NOT EXISTS`).
    user_index: Arc<str>,
    /// Drops the index on `user_id` alone that earlier releases made
    /// (SQLite, PostgreSQL: `IF EXISTS`).
    old_user_index: Arc<str>,
    /// MySQL, which has neither `IF` form: counts of the user index's and
    /// the old index's rows in `information_schema`.
    user_indexes: Option<(Arc<str>, Arc<str>)>,
    user_sessions: Arc<str>,
    revoke_user: Arc<str>,
    revoked_before: Arc<str>,
    revoke_before: Arc<str>,
    /// MySQL: the revocation times after `revoke_before`, in its transaction.
    read_revoked: Arc<str>,
    /// As `has_column`, for the revocation table.
    has_revoked_column: Arc<str>,
    /// The revocation table's `previous` column, for tables made before it.
    add_revoked_previous: Arc<str>,
    /// A managed key ring's keys (`<table>_keys`, see [`super::KeyStore`]).
    load_keys: Arc<str>,
    add_key: Arc<str>,
    revoke_key: Arc<str>,
    remove_key: Arc<str>,
}

/// The type of MySQL's `user_id` (and `cookie_name`) columns: bytes,
/// compared byte for byte.
/// A `VARCHAR` compares in its collation: the server's default ones
/// (`latin1_swedish_ci`, `utf8mb4_general_ci`, …) fold case, so `Alice`
/// would list and revoke `alice`'s sessions, and even the `_bin` ones pad
/// spaces (`alice ` is `alice`); a Latin-1 column cannot hold most ids at
/// all. `VARBINARY` has no collation, no padding and no character set, on
/// MySQL and MariaDB alike; ids are bound as the UTF-8 bytes of their text.
/// 160 bytes hold every index key ([`MAX_USER_KEY_LEN`](crate::user::MAX_USER_KEY_LEN)).
const MYSQL_USER_ID: &str = "VARBINARY(160)";

/// A table name is spliced into SQL, so only plain identifiers pass, in
/// lower case: PostgreSQL folds an unquoted name to lower case (and then
/// finds no columns under the name as given), MySQL on Linux does not, so
/// a name in capitals would mean one table or two depending on the server.
fn valid_table(table: &str) -> bool {
    !table.is_empty()
        && table.len() <= 48
        && table.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && table
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Statements {
    fn new(dialect: Dialect, table: &str) -> Self {
        let t = table;
        let ddl = match dialect {
            Dialect::Sqlite => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, \
                     expires_at INTEGER NOT NULL, version INTEGER NOT NULL, shape INTEGER NOT NULL DEFAULT 0, \
                     user_id TEXT, cookie_name TEXT NOT NULL DEFAULT '', \
                     created_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID"
                ),
                format!("CREATE INDEX IF NOT EXISTS {t}_expires_at ON {t} (expires_at)"),
            ],
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (id BYTEA PRIMARY KEY NOT NULL, data BYTEA NOT NULL, \
                     expires_at BIGINT NOT NULL, version BIGINT NOT NULL, shape BIGINT NOT NULL DEFAULT 0, \
                     user_id VARCHAR(160), cookie_name VARCHAR(160) NOT NULL DEFAULT '', \
                     created_at BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL DEFAULT 0)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {t}_expires_at ON {t} (expires_at)"),
            ],
            // MySQL has no CREATE INDEX IF NOT EXISTS: the index is declared
            // with the table. User ids are bytes (see `MYSQL_USER_ID`)
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (id BINARY(32) NOT NULL PRIMARY KEY, data LONGBLOB NOT NULL, \
                 expires_at BIGINT NOT NULL, version BIGINT NOT NULL, shape BIGINT NOT NULL DEFAULT 0, \
                 user_id {MYSQL_USER_ID}, cookie_name {MYSQL_USER_ID} NOT NULL DEFAULT '', \
                 created_at BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL DEFAULT 0, \
                 INDEX {t}_expires_at (expires_at), INDEX {t}_user (user_id, cookie_name))"
            )],
        };
        // per-user revocation times, for sessions that live in a cookie
        let mut ddl = ddl;
        ddl.push(match dialect {
            // `previous`: the time before the last revocation, returned by
            // the same atomic statement that raises it
            Dialect::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS {t}_revoked (user_id TEXT PRIMARY KEY NOT NULL, \
                 not_before INTEGER NOT NULL, keep_until INTEGER NOT NULL, previous INTEGER) WITHOUT ROWID"
            ),
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {t}_revoked (user_id VARCHAR(160) NOT NULL PRIMARY KEY, \
                 not_before BIGINT NOT NULL, keep_until BIGINT NOT NULL, previous BIGINT)"
            ),
            Dialect::MySql => format!(
                "CREATE TABLE IF NOT EXISTS {t}_revoked (user_id {MYSQL_USER_ID} NOT NULL PRIMARY KEY, \
                 not_before BIGINT NOT NULL, keep_until BIGINT NOT NULL, previous BIGINT)"
            ),
        });
        // a managed key ring's keys, one row per key (see `KeyStore`)
        ddl.push(match dialect {
            Dialect::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS {t}_keys (kid INTEGER PRIMARY KEY NOT NULL, \
                 created_at INTEGER NOT NULL, activates_at INTEGER NOT NULL, revoked_at INTEGER, \
                 sealed BLOB NOT NULL)"
            ),
            Dialect::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {t}_keys (kid BIGINT PRIMARY KEY NOT NULL, \
                 created_at BIGINT NOT NULL, activates_at BIGINT NOT NULL, revoked_at BIGINT, \
                 sealed BYTEA NOT NULL)"
            ),
            Dialect::MySql => format!(
                "CREATE TABLE IF NOT EXISTS {t}_keys (kid BIGINT NOT NULL PRIMARY KEY, \
                 created_at BIGINT NOT NULL, activates_at BIGINT NOT NULL, revoked_at BIGINT, \
                 sealed VARBINARY(255) NOT NULL)"
            ),
        });
        if dialect == Dialect::Postgres {
            // every change to the keys notifies `<table>_keys`, so managed
            // rings read them at once (see `KeyStore::watch_keys`)
            ddl.push(format!(
                "CREATE OR REPLACE FUNCTION {t}_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $keys$ \
                 BEGIN PERFORM pg_notify('{t}_keys', ''); RETURN NULL; END $keys$"
            ));
            ddl.push(format!(
                "CREATE OR REPLACE TRIGGER {t}_keys_changed AFTER INSERT OR UPDATE OR DELETE ON {t}_keys \
                 FOR EACH STATEMENT EXECUTE FUNCTION {t}_keys_changed()"
            ));
        }
        let create = match dialect {
            Dialect::MySql => format!(
                "INSERT IGNORE INTO {t} (id, data, expires_at, shape, cookie_name, user_id, created_at, updated_at, version) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
            ),
            _ => format!(
                "INSERT INTO {t} (id, data, expires_at, shape, cookie_name, user_id, created_at, updated_at, version) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING"
            ),
        };
        let delete_expired = match dialect {
            Dialect::MySql => {
                format!("DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
            }
            _ => format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
            ),
        };
        let delete_expired_revocations = match dialect {
            Dialect::MySql => format!("DELETE FROM {t}_revoked WHERE keep_until <= ? LIMIT ?"),
            _ => format!(
                "DELETE FROM {t}_revoked WHERE user_id IN \
                 (SELECT user_id FROM {t}_revoked WHERE keep_until <= ? LIMIT ?)"
            ),
        };
        // user ids and cookie names, in the columns added since the first
        // release
        let key_text = match dialect {
            Dialect::MySql => MYSQL_USER_ID,
            _ => "VARCHAR(160)",
        };
        let render = |sql: String| -> Arc<str> {
            match dialect {
                Dialect::Postgres => numbered_placeholders(&sql).into(),
                _ => sql.into(),
            }
        };
        Self {
            table: Arc::from(t),
            ddl: ddl.into_iter().map(render).collect(),
            create: render(create),
            load: render(format!(
                "SELECT data, expires_at, version FROM {t} WHERE id = ? AND expires_at > ?"
            )),
            save: render(format!(
                "UPDATE {t} SET data = ?, expires_at = ?, shape = ?, cookie_name = ?, user_id = ?, updated_at = ?, \
                 version = version + 1 \
                 WHERE id = ? AND version = ? AND expires_at > ?"
            )),
            current: render(format!(
                "SELECT data, expires_at, version FROM {t} WHERE id = ?"
            )),
            delete: render(format!("DELETE FROM {t} WHERE id = ?")),
            delete_expired: render(delete_expired),
            delete_expired_revocations: render(delete_expired_revocations),
            count: render(format!("SELECT COUNT(*) FROM {t}")),
            count_expired: render(format!("SELECT COUNT(*) FROM {t} WHERE expires_at <= ?")),
            count_shapes: render(format!(
                "SELECT shape, COUNT(*) FROM {t} WHERE expires_at > ? GROUP BY shape ORDER BY COUNT(*) DESC, shape"
            )),
            has_column: render(has_column(dialect, t)),
            added_columns: [
                ("shape", "shape BIGINT NOT NULL DEFAULT 0".to_owned()),
                ("user_id", format!("user_id {key_text}")),
                ("cookie_name", format!("cookie_name {key_text} NOT NULL DEFAULT ''")),
                ("created_at", "created_at BIGINT NOT NULL DEFAULT 0".to_owned()),
                ("updated_at", "updated_at BIGINT NOT NULL DEFAULT 0".to_owned()),
            ]
            .into_iter()
            .map(|(name, column)| (name, render(format!("ALTER TABLE {t} ADD COLUMN {column}"))))
            .collect(),
            binary_user_ids: match dialect {
                Dialect::MySql => [(t.to_owned(), ""), (format!("{t}_revoked"), " NOT NULL")]
                    .into_iter()
                    .map(|(table, null)| {
                        (
                            render(format!(
                                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                                 AND table_name = '{table}' AND column_name = 'user_id' AND data_type <> 'varbinary'"
                            )),
                            render(format!(
                                "ALTER TABLE {table} MODIFY COLUMN user_id {MYSQL_USER_ID}{null}"
                            )),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            },
            user_index: render(match dialect {
                Dialect::MySql => {
                    format!("ALTER TABLE {t} ADD INDEX {t}_user (user_id, cookie_name)")
                }
                _ => format!("CREATE INDEX IF NOT EXISTS {t}_user ON {t} (user_id, cookie_name)"),
            }),
            old_user_index: render(match dialect {
                Dialect::MySql => format!("ALTER TABLE {t} DROP INDEX {t}_user_id"),
                _ => format!("DROP INDEX IF EXISTS {t}_user_id"),
            }),
            user_indexes: (dialect == Dialect::MySql).then(|| {
                let count = |index: String| {
                    render(format!(
                        "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
                         AND table_name = '{t}' AND index_name = '{index}'"
                    ))
                };
                (count(format!("{t}_user")), count(format!("{t}_user_id")))
            }),
            user_sessions: render(format!(
                "SELECT id, created_at, updated_at, expires_at FROM {t} WHERE user_id = ? AND cookie_name IN (?, '') \
                 AND expires_at > ? ORDER BY updated_at DESC, id"
            )),
            revoked_before: render(format!(
                "SELECT not_before FROM {t}_revoked WHERE user_id = ?"
            )),
            load_keys: render(format!(
                "SELECT kid, created_at, activates_at, revoked_at, sealed FROM {t}_keys"
            )),
            add_key: render(match dialect {
                Dialect::MySql => format!(
                    "INSERT IGNORE INTO {t}_keys (kid, created_at, activates_at, sealed) VALUES (?, ?, ?, ?)"
                ),
                _ => format!(
                    "INSERT INTO {t}_keys (kid, created_at, activates_at, sealed) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (kid) DO NOTHING"
                ),
            }),
            revoke_key: render(format!(
                "UPDATE {t}_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL"
            )),
            remove_key: render(format!("DELETE FROM {t}_keys WHERE kid = ?")),
            // two revocations never share a time: the new one is the later
            // of `at` and one past the kept one (see `RevocationTimes::revoke_before`)
            revoke_before: render(match dialect {
                // MySQL assigns left to right: `previous` takes the old time
                // before `not_before` changes; the caller reads both back in
                // the same transaction
                Dialect::MySql => format!(
                    "INSERT INTO {t}_revoked (user_id, not_before, keep_until) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE previous = not_before, \
                     not_before = GREATEST(not_before + 1, VALUES(not_before)), \
                     keep_until = GREATEST(keep_until, VALUES(keep_until))"
                ),
                Dialect::Sqlite => format!(
                    "INSERT INTO {t}_revoked (user_id, not_before, keep_until) VALUES (?, ?, ?) \
                     ON CONFLICT (user_id) DO UPDATE SET previous = not_before, \
                     not_before = max(not_before + 1, excluded.not_before), \
                     keep_until = max(keep_until, excluded.keep_until) RETURNING previous, not_before"
                ),
                Dialect::Postgres => format!(
                    "INSERT INTO {t}_revoked (user_id, not_before, keep_until) VALUES (?, ?, ?) \
                     ON CONFLICT (user_id) DO UPDATE SET previous = {t}_revoked.not_before, \
                     not_before = GREATEST({t}_revoked.not_before + 1, excluded.not_before), \
                     keep_until = GREATEST({t}_revoked.keep_until, excluded.keep_until) RETURNING previous, not_before"
                ),
            }),
            read_revoked: render(format!(
                "SELECT previous, not_before FROM {t}_revoked WHERE user_id = ?"
            )),
            has_revoked_column: render(has_column(dialect, &format!("{t}_revoked"))),
            add_revoked_previous: render(match dialect {
                Dialect::Sqlite => format!("ALTER TABLE {t}_revoked ADD COLUMN previous INTEGER"),
                _ => format!("ALTER TABLE {t}_revoked ADD COLUMN previous BIGINT"),
            }),
            revoke_user: render(match dialect {
                Dialect::MySql => format!(
                    "DELETE FROM {t} WHERE user_id = ? AND cookie_name IN (?, '') AND id <> ? LIMIT ?"
                ),
                _ => format!(
                    "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE user_id = ? AND cookie_name IN (?, '') \
                     AND id <> ? LIMIT ?)"
                ),
            }),
        }
    }
}

/// Counts the column of `table` named by the bound parameter (0 in a
/// table made before it existed).
fn has_column(dialect: Dialect, table: &str) -> String {
    match dialect {
        Dialect::Sqlite => {
            format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?")
        }
        Dialect::Postgres => format!(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = '{table}' AND column_name = ?"
        ),
        Dialect::MySql => format!(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = '{table}' AND column_name = ?"
        ),
    }
}

/// `?` placeholders as PostgreSQL's `$1, $2, …` (our statements hold no
/// other question marks).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unix seconds as a signed SQL integer (saturating: no expiry is that far).
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A fingerprint in a signed 64-bit column: the same 64 bits.
fn shape_to_sql(shape: u64) -> i64 {
    i64::from_ne_bytes(shape.to_ne_bytes())
}

fn shape_from_sql(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

fn record(data: Vec<u8>, expires_at: i64, version: i64) -> Record {
    Record {
        data,
        quick: Vec::new(),
        expires_at: from_sql(expires_at),
        version: from_sql(version),
    }
}

fn stats(records: i64, expired: i64) -> StoreStats {
    StoreStats {
        records: from_sql(records),
        expired: from_sql(expired),
        shapes: Vec::new(),
    }
}

/// How long a pooled PostgreSQL connection may sit idle and still be
/// handed out without a check: 1 s.
///
/// sqlx's pool tests a connection with a round trip (`Sync`, answered by
/// `ReadyForQuery`) when it goes back to the pool, and by default once more
/// before handing it out again: every statement paid three round trips,
/// two of them pings, which under load cost the server and PostgreSQL more
/// CPU than the statement (see BENCHMARKS.md, "PostgresStore under load").
/// A connection released less than this long ago answered its release
/// ping that recently, so [`PostgresStore::connect`] skips the second
/// ping for it; one idle longer (where a restart of the server, a proxy's
/// or a firewall's idle timeout may have cut it) is still checked, and a
/// dead one is closed and replaced before any statement runs on it.
#[cfg(feature = "postgres")]
const IDLE_CHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// PostgreSQL's pool options: the acquire ping only after
/// [`IDLE_CHECK_AFTER`] idle.
#[cfg(feature = "postgres")]
fn postgres_pool(options: sqlx::postgres::PgPoolOptions) -> sqlx::postgres::PgPoolOptions {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK_AFTER {
                    // an error closes the connection; the pool takes another
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// SQLite and MySQL have no notifications: managed rings poll.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn no_key_notifications<S>(_: &S, _: std::sync::Weak<tokio::sync::Notify>) -> bool {
    false
}

/// A listener on `<table>_keys` (the trigger `migrate` installs notifies
/// it), waking `wake` at each notification and once at each (re)connection
/// (a change may have gone by while it was down); it reconnects after a
/// second, and ends with `wake`.
#[cfg(feature = "postgres")]
fn postgres_key_notifications(
    store: &PostgresStore,
    wake: std::sync::Weak<tokio::sync::Notify>,
) -> bool {
    let pool = store.pool().clone();
    let channel = format!("{}_keys", store.table());
    tokio::spawn(async move {
        while wake.strong_count() > 0 {
            if let Ok(mut listener) = sqlx::postgres::PgListener::connect_with(&pool).await
                && listener.listen(&channel).await.is_ok()
            {
                // (re)connected: a change may have gone by meanwhile
                let Some(ring) = wake.upgrade() else { return };
                ring.notify_one();
                drop(ring);
                loop {
                    // a bounded wait, so an idle listener notices its ring
                    // has gone
                    match tokio::time::timeout(IDLE_CHECK_AFTER * 5, listener.try_recv()).await {
                        Ok(Ok(Some(_))) => match wake.upgrade() {
                            Some(ring) => ring.notify_one(),
                            None => return,
                        },
                        Err(_) if wake.strong_count() == 0 => return,
                        Err(_) => {}
                        Ok(Ok(None) | Err(_)) => break,
                    }
                }
            }
            tokio::time::sleep(IDLE_CHECK_AFTER).await;
        }
    });
    true
}

macro_rules! sql_store {
    (
        $(#[$doc:meta])*
        $name:ident, feature = $feature:literal, pool = $pool:ty, options = $options:ty,
        dialect = $dialect:expr, store = $store_name:literal, tune = $tune:path,
        watch_keys = $watch_keys:path
    ) => {
        $(#[$doc])*
        ///
        /// A durable [`SessionStore`](super::SessionStore) with a
        /// [`UserIndex`](super::UserIndex) and
        /// [`RevocationTimes`](super::RevocationTimes); quick fields
        /// belong to a cache tier, so it drops them. Its two tables are
        /// described at [`DEFAULT_TABLE`].
        #[cfg(feature = $feature)]
        #[derive(Clone, Debug)]
        pub struct $name {
            pool: $pool,
            sql: Arc<Statements>,
            max_record: usize,
        }

        #[cfg(feature = $feature)]
        impl $name {
            /// A store over an existing pool, on the default table.
            #[must_use]
            pub fn from_pool(pool: $pool) -> Self {
                Self {
                    pool,
                    sql: Arc::new(Statements::new($dialect, DEFAULT_TABLE)),
                    max_record: crate::codec::DECODE_LIMIT,
                }
            }

            /// Connects a pool to `url`, with sqlx's defaults but one:
            /// PostgreSQL's pool checks a connection with a round trip
            /// before handing it out only when it sat idle for a second or
            /// more (sqlx checks every one as it goes back to the pool;
            /// the second check of one just released halved what the
            /// store could serve under load).
            ///
            /// # Errors
            ///
            /// [`StoreError::Backend`] when the URL is invalid or the
            /// database cannot be reached.
            pub async fn connect(url: &str) -> Result<Self, StoreError> {
                let pool = $tune(<$options>::new())
                    .connect(url)
                    .await
                    .map_err(|err| StoreError::backend($store_name, err))?;
                Ok(Self::from_pool(pool))
            }

            /// Uses another table (default `sessionkit_sessions`).
            ///
            /// # Errors
            ///
            /// [`ConfigError::TableName`](crate::ConfigError::TableName)
            /// unless the name is a plain SQL identifier (lower-case ASCII letters,
            /// digits, `_`; at most 48).
            pub fn with_table(mut self, table: &str) -> Result<Self, crate::ConfigError> {
                if !valid_table(table) {
                    return Err(crate::ConfigError::TableName(table.to_owned()));
                }
                self.sql = Arc::new(Statements::new($dialect, table));
                Ok(self)
            }

            /// Refuses records larger than `bytes` (default 1 MiB,
            /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT)).
            #[must_use]
            pub fn with_max_record(mut self, bytes: std::num::NonZeroUsize) -> Self {
                self.max_record = bytes.get();
                self
            }

            /// The connection pool.
            #[must_use]
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// The sessions table's name (the revocation times are in
            /// `<table>_revoked`).
            #[must_use]
            pub fn table(&self) -> &str {
                &self.sql.table
            }

            /// Creates the sessions table, the `<table>_revoked` table of
            /// users' revocation times and their indexes if they do not
            /// exist, and brings tables made by an earlier release up to
            /// date: the columns added since (`shape`, `user_id`,
            /// `cookie_name`, `created_at`, `updated_at`, `previous`), the
            /// user index on `(user_id, cookie_name)` in place of the one
            /// on `user_id` alone, and on MySQL `user_id` columns of bytes
            /// (`VARBINARY`) in place of text in a collation that folds
            /// case, which rebuilds those tables, once. Idempotent: call it
            /// at every start.
            ///
            /// # Errors
            ///
            /// [`StoreError::Backend`] when the DDL fails.
            pub async fn migrate(&self) -> Result<(), StoreError> {
                for statement in &self.sql.ddl {
                    sqlx::query(sqlx::AssertSqlSafe(Arc::clone(statement)))
                        .execute(&self.pool)
                        .await
                        .map_err(Self::error)?;
                }
                // tables made by an earlier release lack the newer columns
                for (name, alter) in &self.sql.added_columns {
                    let present: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(Arc::clone(&self.sql.has_column)))
                        .bind(*name)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::error)?;
                    if present == 0 {
                        Self::query(alter).execute(&self.pool).await.map_err(Self::error)?;
                    }
                }
                // MySQL: ids compared in a collation before are bytes now
                // (a rebuild of the table, once)
                for (text, alter) in &self.sql.binary_user_ids {
                    let text: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(Arc::clone(text)))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::error)?;
                    if text > 0 {
                        Self::query(alter).execute(&self.pool).await.map_err(Self::error)?;
                    }
                }
                let present: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(Arc::clone(&self.sql.has_revoked_column)))
                    .bind("previous")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(Self::error)?;
                if present == 0 {
                    Self::query(&self.sql.add_revoked_previous)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::error)?;
                }
                // the user index on (user_id, cookie_name) replaces the one
                // on user_id alone
                let (create, drop) = match &self.sql.user_indexes {
                    Some((new, old)) => (
                        self.count(new, None).await? == 0,
                        self.count(old, None).await? > 0,
                    ),
                    None => (true, true),
                };
                if create {
                    Self::query(&self.sql.user_index)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::error)?;
                }
                if drop {
                    Self::query(&self.sql.old_user_index)
                        .execute(&self.pool)
                        .await
                        .map_err(Self::error)?;
                }
                Ok(())
            }

            fn error(err: sqlx::Error) -> StoreError {
                StoreError::backend($store_name, err)
            }

            fn query(
                sql: &Arc<str>,
            ) -> sqlx::query::Query<'static, <$pool as PoolDatabase>::Db, <<$pool as PoolDatabase>::Db as sqlx::Database>::Arguments> {
                sqlx::query(sqlx::AssertSqlSafe(Arc::clone(sql)))
            }

            async fn fetch(
                &self,
                sql: &Arc<str>,
                key: &crate::id::StoreKey,
                now: Option<u64>,
            ) -> Result<Option<Record>, StoreError> {
                use sqlx::Row as _;
                let mut query = Self::query(sql).bind(key.as_bytes().as_slice());
                if let Some(now) = now {
                    query = query.bind(to_sql(now));
                }
                let row = query.fetch_optional(&self.pool).await.map_err(Self::error)?;
                row.map(|row| {
                    Ok(record(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
                })
                .transpose()
                .map_err(Self::error)
            }

            async fn count(&self, sql: &Arc<str>, now: Option<u64>) -> Result<i64, StoreError> {
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(Arc::clone(sql)));
                if let Some(now) = now {
                    query = query.bind(to_sql(now));
                }
                query.fetch_one(&self.pool).await.map_err(Self::error)
            }
        }

        #[cfg(feature = $feature)]
        impl super::SessionStore for $name {
            const NAME: &'static str = $store_name;

            async fn create(
                &self,
                key: &crate::id::StoreKey,
                entry: Entry<'_>,
            ) -> Result<bool, StoreError> {
                // quick fields belong to a cache tier
                let entry = entry.without_quick();
                StoreError::check_size(&entry, self.max_record)?;
                let done = Self::query(&self.sql.create)
                    .bind(key.as_bytes().as_slice())
                    .bind(entry.data)
                    .bind(to_sql(entry.expires_at))
                    .bind(shape_to_sql(entry.shape))
                    .bind(entry.cookie_name)
                    .bind(entry.user)
                    .bind(to_sql(entry.updated_at))
                    .bind(to_sql(entry.updated_at))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn load(
                &self,
                key: &crate::id::StoreKey,
                now: u64,
            ) -> Result<Option<Record>, StoreError> {
                self.fetch(&self.sql.load, key, Some(now)).await
            }

            async fn save(
                &self,
                key: &crate::id::StoreKey,
                entry: Entry<'_>,
                version: u64,
                now: u64,
            ) -> Result<Saved, StoreError> {
                // quick fields belong to a cache tier
                let entry = entry.without_quick();
                StoreError::check_size(&entry, self.max_record)?;
                let done = Self::query(&self.sql.save)
                    .bind(entry.data)
                    .bind(to_sql(entry.expires_at))
                    .bind(shape_to_sql(entry.shape))
                    .bind(entry.cookie_name)
                    .bind(entry.user)
                    .bind(to_sql(entry.updated_at))
                    .bind(key.as_bytes().as_slice())
                    .bind(to_sql(version))
                    .bind(to_sql(now))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                if done.rows_affected() == 1 {
                    return Ok(Saved::Saved { version: version + 1 });
                }
                // lost the race, or the row is gone: tell which
                Ok(match self.fetch(&self.sql.current, key, None).await? {
                    Some(current) if current.expires_at > now => Saved::Conflict(current),
                    _ => Saved::Missing,
                })
            }

            async fn delete(&self, key: &crate::id::StoreKey) -> Result<bool, StoreError> {
                let done = Self::query(&self.sql.delete)
                    .bind(key.as_bytes().as_slice())
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_expired(
                &self,
                now: u64,
                dormant_for: u64,
                limit: usize,
            ) -> Result<usize, StoreError> {
                let cutoff = now.saturating_sub(dormant_for);
                let done = Self::query(&self.sql.delete_expired)
                    .bind(to_sql(cutoff))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
            }

            async fn stats(&self, now: u64) -> Result<Option<StoreStats>, StoreError> {
                use sqlx::Row as _;
                let records = self.count(&self.sql.count, None).await?;
                let expired = self.count(&self.sql.count_expired, Some(now)).await?;
                let rows = Self::query(&self.sql.count_shapes)
                    .bind(to_sql(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::error)?;
                let shapes = rows
                    .iter()
                    .map(|row| Ok((shape_from_sql(row.try_get(0)?), from_sql(row.try_get(1)?))))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Self::error)?;
                Ok(Some(StoreStats {
                    shapes,
                    ..stats(records, expired)
                }))
            }

            fn user_index(&self) -> Option<super::UserIndexRef<'_>> {
                Some(super::UserIndexRef::new(self))
            }

            fn revocation_times(&self) -> Option<super::RevocationTimesRef<'_>> {
                Some(super::RevocationTimesRef::new(self))
            }
        }

        #[cfg(feature = $feature)]
        impl super::UserIndex for $name {
            async fn user_sessions(
                &self,
                cookie_name: &str,
                user: &str,
                now: u64,
            ) -> Result<Vec<super::UserSession>, StoreError> {
                use sqlx::Row as _;
                let rows = Self::query(&self.sql.user_sessions)
                    .bind(user)
                    .bind(cookie_name)
                    .bind(to_sql(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::error)?;
                rows.into_iter()
                    .map(|row| {
                        let id: Vec<u8> = row.try_get(0)?;
                        let key = <[u8; 32]>::try_from(id.as_slice()).map_err(|_| {
                            sqlx::Error::Decode("a session id of another length".into())
                        })?;
                        Ok(super::UserSession::new(
                            crate::id::StoreKey::from_bytes(key),
                            from_sql(row.try_get(1)?),
                            from_sql(row.try_get(2)?),
                            from_sql(row.try_get(3)?),
                        ))
                    })
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(Self::error)
            }

            async fn revoke_user(
                &self,
                cookie_name: &str,
                user: &str,
                except: Option<&crate::id::StoreKey>,
                limit: usize,
            ) -> Result<usize, StoreError> {
                // no real key is all zeros (SHA-256 output)
                let except = except.map_or([0u8; 32], |key| *key.as_bytes());
                let done = Self::query(&self.sql.revoke_user)
                    .bind(user)
                    .bind(cookie_name)
                    .bind(except.as_slice())
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
            }
        }

        #[cfg(feature = $feature)]
        impl super::KeyStore for $name {
            async fn load_keys(&self) -> Result<Vec<super::StoredKey>, StoreError> {
                use sqlx::Row as _;
                let rows = Self::query(&self.sql.load_keys)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::error)?;
                let mut keys = Vec::with_capacity(rows.len());
                for row in rows {
                    let kid: i64 = row.try_get(0).map_err(Self::error)?;
                    let created_at: i64 = row.try_get(1).map_err(Self::error)?;
                    let activates_at: i64 = row.try_get(2).map_err(Self::error)?;
                    let revoked_at: Option<i64> = row.try_get(3).map_err(Self::error)?;
                    let sealed: Vec<u8> = row.try_get(4).map_err(Self::error)?;
                    // a number out of range is no key of ours
                    let Ok(kid) = u32::try_from(kid) else { continue };
                    keys.push(super::StoredKey {
                        kid,
                        created_at: from_sql(created_at),
                        activates_at: from_sql(activates_at),
                        revoked_at: revoked_at.map(from_sql),
                        sealed,
                    });
                }
                Ok(keys)
            }

            async fn add_key(&self, key: &super::StoredKey) -> Result<bool, StoreError> {
                let done = Self::query(&self.sql.add_key)
                    .bind(i64::from(key.kid))
                    .bind(to_sql(key.created_at))
                    .bind(to_sql(key.activates_at))
                    .bind(key.sealed.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_key(&self, kid: u32, at: u64) -> Result<bool, StoreError> {
                let done = Self::query(&self.sql.revoke_key)
                    .bind(to_sql(at))
                    .bind(i64::from(kid))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_key(&self, kid: u32) -> Result<bool, StoreError> {
                let done = Self::query(&self.sql.remove_key)
                    .bind(i64::from(kid))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(done.rows_affected() == 1)
            }

            fn watch_keys(&self, wake: std::sync::Weak<tokio::sync::Notify>) -> bool {
                $watch_keys(self, wake)
            }
        }

        #[cfg(feature = $feature)]
        impl super::RevocationTimes for $name {
            async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
                let at: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(Arc::clone(&self.sql.revoked_before)))
                    .bind(user)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(at.map(from_sql))
            }

            async fn revoke_before(&self, user: &str, at: u64, keep_for: u64) -> Result<Revoked, StoreError> {
                use sqlx::Row as _;
                let revoke = Self::query(&self.sql.revoke_before)
                    .bind(user)
                    .bind(to_sql(at))
                    .bind(to_sql(at.saturating_add(keep_for)));
                let row = if $dialect == Dialect::MySql {
                    // no RETURNING on MySQL: read back under the row lock
                    // the upsert holds until the commit
                    let mut tx = self.pool.begin().await.map_err(Self::error)?;
                    revoke.execute(&mut *tx).await.map_err(Self::error)?;
                    let row = Self::query(&self.sql.read_revoked)
                        .bind(user)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(Self::error)?;
                    tx.commit().await.map_err(Self::error)?;
                    row
                } else {
                    revoke.fetch_one(&self.pool).await.map_err(Self::error)?
                };
                let previous: Option<i64> = row.try_get(0).map_err(Self::error)?;
                let before: i64 = row.try_get(1).map_err(Self::error)?;
                Ok(Revoked::new(previous.map(from_sql), from_sql(before)))
            }

            async fn delete_expired_revocations(
                &self,
                now: u64,
                limit: usize,
            ) -> Result<usize, StoreError> {
                let done = Self::query(&self.sql.delete_expired_revocations)
                    .bind(to_sql(now))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
            }
        }
    };
}

/// Names the database type of a sqlx pool, for the macro's signatures.
trait PoolDatabase {
    type Db: sqlx::Database;
}

impl<Db: sqlx::Database> PoolDatabase for sqlx::Pool<Db> {
    type Db = Db;
}

sql_store! {
    /// Sessions in SQLite: the embedded durable store, in a file or in
    /// memory ([`SqliteStore::in_memory`]). SQLite is compiled in
    /// (`sqlite-bundled`): nothing to install.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use session_runtime::store::SqliteStore;
    ///
    /// let store = SqliteStore::connect("sqlite://sessions.db?mode=rwc").await?;
    /// store.migrate().await?; // idempotent
    /// # std::fs::remove_file("sessions.db").ok();
    /// # Ok::<(), session_runtime::StoreError>(())
    /// # }).unwrap();
    /// ```
    SqliteStore, feature = "sqlite", pool = sqlx::SqlitePool,
    options = sqlx::sqlite::SqlitePoolOptions, dialect = Dialect::Sqlite, store = "sqlite", tune = std::convert::identity,
    watch_keys = no_key_notifications
}

sql_store! {
    /// Sessions in PostgreSQL.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), session_runtime::StoreError> {
    /// use session_runtime::store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://app@localhost/app").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    PostgresStore, feature = "postgres", pool = sqlx::PgPool,
    options = sqlx::postgres::PgPoolOptions, dialect = Dialect::Postgres, store = "postgres", tune = postgres_pool,
    watch_keys = postgres_key_notifications
}

sql_store! {
    /// Sessions in MySQL or MariaDB.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), session_runtime::StoreError> {
    /// use session_runtime::store::MySqlStore;
    ///
    /// let store = MySqlStore::connect("mysql://app@localhost/app").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    MySqlStore, feature = "mysql", pool = sqlx::MySqlPool,
    options = sqlx::mysql::MySqlPoolOptions, dialect = Dialect::MySql, store = "mysql", tune = std::convert::identity,
    watch_keys = no_key_notifications
}

#[cfg(feature = "sqlite")]
impl SqliteStore {
    /// A private in-memory database (one connection that lives as long as
    /// the store): for tests and single-process use. Already migrated.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when SQLite cannot open it.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await
            .map_err(|err| StoreError::backend("sqlite", err))?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "sqlite")]
    use crate::store::SessionStore as _;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            numbered_placeholders("a = ? AND b = ? LIMIT ?"),
            "a = $1 AND b = $2 LIMIT $3"
        );
    }

    #[test]
    fn only_plain_table_names_pass() {
        assert!(valid_table("sessions_2"));
        assert!(valid_table("_s"));
        for bad in [
            "",
            "1abc",
            "a b",
            "a;drop",
            "a-b",
            "ä",
            "Sessions",
            "t_Upper",
            &"x".repeat(49),
        ] {
            assert!(!valid_table(bad), "{bad:?}");
        }
    }

    #[test]
    fn times_saturate_and_fingerprints_keep_their_64_bits_in_signed_columns() {
        assert_eq!(to_sql(0), 0);
        assert_eq!(to_sql(1_800_000_000), 1_800_000_000);
        assert_eq!(to_sql(u64::MAX), i64::MAX);
        assert_eq!(from_sql(1_800_000_000), 1_800_000_000);
        assert_eq!(from_sql(-5), 0, "no negative time reads as a late one");
        for shape in [0, 1, u64::MAX, 1 << 63, 0x0123_4567_89ab_cdef] {
            assert_eq!(shape_from_sql(shape_to_sql(shape)), shape);
        }
        assert_eq!(shape_to_sql(u64::MAX), -1);
        assert_eq!(shape_to_sql(7), 7);
        assert_eq!(shape_from_sql(-2), u64::MAX - 1);
    }

    #[test]
    fn column_probes_name_the_table_in_each_dialect() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let sql = has_column(dialect, "t_1");
            assert!(sql.starts_with("SELECT COUNT(*) FROM "), "{sql}");
            assert!(sql.contains("'t_1'") && sql.ends_with('?'), "{sql}");
        }
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_versions_count_saves_and_a_save_never_recreates() {
        let store = SqliteStore::in_memory().await.unwrap();
        // migrating again changes nothing
        store.migrate().await.unwrap();
        let k = crate::id::SessionId::generate().unwrap().store_key();
        assert!(store.create(&k, Entry::new(b"a", 100)).await.unwrap());
        assert!(!store.create(&k, Entry::new(b"b", 100)).await.unwrap());
        let loaded = store.load(&k, 10).await.unwrap().unwrap();
        assert_eq!(
            (loaded.data, loaded.expires_at, loaded.version),
            (b"a".to_vec(), 100, 1)
        );
        assert_eq!(store.load(&k, 100).await.unwrap(), None, "expired at 100");
        assert_eq!(
            store.save(&k, Entry::new(b"b", 200), 1, 10).await.unwrap(),
            Saved::Saved { version: 2 }
        );
        let Saved::Conflict(current) = store.save(&k, Entry::new(b"c", 300), 1, 10).await.unwrap()
        else {
            panic!("a stale version conflicts");
        };
        assert_eq!(
            (current.data, current.expires_at, current.version),
            (b"b".to_vec(), 200, 2)
        );
        assert_eq!(
            store.save(&k, Entry::new(b"c", 300), 2, 200).await.unwrap(),
            Saved::Missing,
            "expired"
        );
        assert!(store.delete(&k).await.unwrap());
        assert_eq!(
            store.save(&k, Entry::new(b"c", 300), 2, 0).await.unwrap(),
            Saved::Missing
        );
        // an expiry past the signed column's range is kept as its maximum
        let far = crate::id::SessionId::generate().unwrap().store_key();
        store
            .create(&far, Entry::new(b"f", u64::MAX))
            .await
            .unwrap();
        assert_eq!(
            store.load(&far, 0).await.unwrap().unwrap().expires_at,
            i64::MAX as u64
        );
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_stats_count_records_and_shapes_with_the_high_bit_set() {
        let store = SqliteStore::in_memory().await.unwrap();
        let shape = 0xf123_4567_89ab_cdef;
        for expires_at in [10, 100, 100] {
            let k = crate::id::SessionId::generate().unwrap().store_key();
            store
                .create(&k, Entry::new(b"x", expires_at).with_shape(shape))
                .await
                .unwrap();
        }
        let stats = store.stats(10).await.unwrap().unwrap();
        assert_eq!((stats.records, stats.expired), (3, 1));
        assert_eq!(stats.shapes, [(shape, 2)]);
    }
}
