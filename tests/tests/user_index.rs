//! The user index, keyed exactly: user ids compared byte for byte on every
//! SQL dialect (MariaDB's default collations fold case and pad spaces),
//! tables of an earlier release migrated to that, and one session type's
//! index kept apart from another's over one store.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_runtime::id::{SessionId, StoreKey};
use session_runtime::store::MySqlStore;
use session_runtime::{
    CacheStore, Entry, MemoryStore, RevocationTimes, Session, SessionLayer, SessionStore,
    StoreError, Tiered, UserIndex,
};
use sessionkit_tests::http::send;
use sessionkit_tests::key;
use sessionkit_tests::servers::table;
use sessionkit_tests::stores;

const NOW: u64 = 1_800_000_000;
/// The cookie name of the sessions the store API writes here.
const COOKIE: &str = "__Host-exact";
const KEEP: u64 = 3_600;

fn fresh_key() -> StoreKey {
    SessionId::generate().unwrap().store_key()
}

/// A random suffix, so reruns over the same databases use fresh users.
fn rand_suffix() -> String {
    fresh_key().to_hex()[..8].to_owned()
}

async fn create_sessions<S: SessionStore>(store: &S, user: &str, count: usize) -> Vec<StoreKey> {
    let mut keys = Vec::new();
    for _ in 0..count {
        let key = fresh_key();
        let entry = Entry::new(b"sealed", NOW + 3_600).with_user(COOKIE, Some(user), NOW);
        assert!(store.create(&key, entry).await.unwrap());
        keys.push(key);
    }
    keys
}

/// Users whose ids differ only by case, by a trailing space, or that are
/// not Latin-1 are distinct users: their sessions are listed and revoked
/// apart, and so are their revocation times.
async fn ids_are_exact<S: UserIndex + RevocationTimes>(name: &str, store: &S) {
    let r = rand_suffix();
    let users = [
        format!("Alice-{r}"),
        format!("alice-{r}"),
        format!("alice-{r} "),
        format!("ALICE-{r}"),
        format!("ユーザー-{r}"),
        format!("ユーザー-{r}-2"),
    ];
    for (i, user) in users.iter().enumerate() {
        create_sessions(store, user, i + 1).await;
    }
    for (i, user) in users.iter().enumerate() {
        assert_eq!(
            store.user_sessions(COOKIE, user, NOW).await.unwrap().len(),
            i + 1,
            "{name}: {user:?} lists only their own sessions"
        );
    }
    assert_eq!(
        store
            .revoke_user(COOKIE, &users[0], None, 100)
            .await
            .unwrap(),
        1,
        "{name}: revoking {:?} deletes theirs only",
        users[0]
    );
    for (i, user) in users.iter().enumerate().skip(1) {
        assert_eq!(
            store.user_sessions(COOKIE, user, NOW).await.unwrap().len(),
            i + 1,
            "{name}: {user:?} keeps every session after {:?} was revoked",
            users[0]
        );
    }
    let first = store.revoke_before(&users[0], NOW, KEEP).await.unwrap();
    assert_eq!((first.previous, first.before), (None, NOW), "{name}");
    for user in &users[1..] {
        assert_eq!(
            store.revoked_before(user).await.unwrap(),
            None,
            "{name}: {user:?} is not revoked with {:?}",
            users[0]
        );
    }
    let second = store
        .revoke_before(&users[1], NOW - 50, KEEP)
        .await
        .unwrap();
    assert_eq!(
        (second.previous, second.before),
        (None, NOW - 50),
        "{name}: {:?} has no revocation time of {:?}'s",
        users[1],
        users[0]
    );
    assert_eq!(store.revoked_before(&users[0]).await.unwrap(), Some(NOW));
    assert_eq!(
        store.revoked_before(&users[1]).await.unwrap(),
        Some(NOW - 50)
    );
    sessionkit_tests::figure(&format!(
        "exact user ids store={name}: {} ids differing by case, trailing space or script listed, revoked and timed apart",
        users.len()
    ));
}

#[tokio::test]
async fn user_ids_are_compared_byte_for_byte_on_every_sql_store() {
    ids_are_exact("sqlite", &stores::sqlite_memory("exact_sqlite").await).await;
    if let Some(store) = stores::postgres("exact_pg").await {
        ids_are_exact("postgres", &store).await;
    }
    if let Some(store) = stores::mysql("exact_my").await {
        ids_are_exact("mariadb", &store).await;
    }
}

/// How many of `table`'s columns named `column` are not `varbinary`.
async fn not_binary(store: &MySqlStore, table: &str, column: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name = ? AND column_name = ? AND data_type <> 'varbinary'",
    )
    .bind(table)
    .bind(column)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// Tables as the previous release made them on MariaDB (`user_id` a
/// `VARCHAR` in the database's default, case-insensitive collation) keep
/// their rows and compare ids exactly once `migrate` has run (twice: it is
/// idempotent).
#[tokio::test]
async fn migrate_makes_old_mariadb_user_columns_binary() {
    let Some(url) = sessionkit_tests::servers::address("SESSIONKIT_MYSQL_URL") else {
        return;
    };
    let name = table("old_users");
    let store = MySqlStore::connect(&url)
        .await
        .unwrap()
        .with_table(&name)
        .unwrap();
    for statement in [
        format!("DROP TABLE IF EXISTS {name}"),
        format!("DROP TABLE IF EXISTS {name}_revoked"),
        format!(
            "CREATE TABLE {name} (id BINARY(32) NOT NULL PRIMARY KEY, data LONGBLOB NOT NULL, \
             expires_at BIGINT NOT NULL, version BIGINT NOT NULL, shape BIGINT NOT NULL DEFAULT 0, \
             user_id VARCHAR(160), created_at BIGINT NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL DEFAULT 0, \
             INDEX {name}_expires_at (expires_at), INDEX {name}_user_id (user_id))"
        ),
        format!(
            "CREATE TABLE {name}_revoked (user_id VARCHAR(160) NOT NULL PRIMARY KEY, \
             not_before BIGINT NOT NULL, keep_until BIGINT NOT NULL, previous BIGINT)"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(store.pool())
            .await
            .unwrap();
    }
    let old = [fresh_key(), fresh_key(), fresh_key()];
    for (key, user) in old.iter().zip(["Alice", "alice", "Alice"]) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {name} (id, data, expires_at, version, user_id, created_at, updated_at) \
             VALUES (?, 'sealed', ?, 1, ?, ?, ?)"
        )))
        .bind(key.as_bytes().as_slice())
        .bind(i64::try_from(NOW + 3_600).unwrap())
        .bind(user)
        .bind(i64::try_from(NOW).unwrap())
        .bind(i64::try_from(NOW).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {name}_revoked (user_id, not_before, keep_until) VALUES ('Bob', 100, 99999999999)"
    )))
    .execute(store.pool())
    .await
    .unwrap();
    assert_eq!(
        not_binary(&store, &name, "user_id").await,
        1,
        "an old table"
    );

    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    assert_eq!(not_binary(&store, &name, "user_id").await, 0);
    assert_eq!(
        not_binary(&store, &format!("{name}_revoked"), "user_id").await,
        0
    );

    // the rows are kept, and told apart by case
    assert_eq!(
        store
            .user_sessions(COOKIE, "Alice", NOW)
            .await
            .unwrap()
            .len(),
        2
    );
    let lower = store.user_sessions(COOKIE, "alice", NOW).await.unwrap();
    assert_eq!(lower.len(), 1);
    assert_eq!(lower[0].key, old[1]);
    assert_eq!(
        store.revoke_user(COOKIE, "alice", None, 10).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .user_sessions(COOKIE, "Alice", NOW)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.revoked_before("Bob").await.unwrap(), Some(100));
    assert_eq!(store.revoked_before("bob").await.unwrap(), None);
    let bob = store.revoke_before("bob", NOW, KEEP).await.unwrap();
    assert_eq!((bob.previous, bob.before), (None, NOW), "a row of its own");
    assert_eq!(store.revoked_before("Bob").await.unwrap(), Some(100));
    // and new sessions are written and listed exactly
    create_sessions(&store, "ALICE", 2).await;
    assert_eq!(
        store
            .user_sessions(COOKIE, "ALICE", NOW)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .user_sessions(COOKIE, "Alice", NOW)
            .await
            .unwrap()
            .len(),
        2
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT index_name FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? ORDER BY index_name",
    )
    .bind(&name)
    .fetch_all(store.pool())
    .await
    .unwrap();
    old_rows_join_every_type("mariadb", &store, &old[0], "Alice", indexes, &name).await;
    sessionkit_tests::figure(
        "old mariadb tables migrated: user_id binary in sessions and revocations, 4 old rows kept, ids told apart by case",
    );
}

/// A shopper's session.
#[derive(Session, Default, Debug)]
#[session(cookie = "user_s", storage = "server")]
struct Shopper {
    #[session(user)]
    user: Option<u64>,
}

/// The same people's back-office session, in the same store.
#[derive(Session, Default, Debug)]
#[session(cookie = "admin_s", storage = "server")]
struct Admin {
    #[session(user)]
    user: Option<u64>,
}

fn status_of(err: &StoreError) -> StatusCode {
    match err {
        StoreError::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Log in, who am I, my devices (count and tags), log out everywhere but
/// here, log out one device by tag.
macro_rules! user_routes {
    ($session:ty, $layer:expr) => {
        Router::new()
            .route(
                "/login/{user}",
                post(
                    |mut s: Session<$session>, Path(user): Path<u64>| async move {
                        s.set_user(Some(user));
                        s.cycle_id();
                        "ok"
                    },
                ),
            )
            .route(
                "/whoami",
                get(|s: Session<$session>| async move { format!("{:?}", s.user()) }),
            )
            .route(
                "/devices",
                get(|s: Session<$session>| async move {
                    match s.user_sessions().await {
                        Ok(devices) => {
                            let tags: Vec<&str> = devices.iter().map(|d| d.tag.as_str()).collect();
                            (
                                StatusCode::OK,
                                format!("{}|{}", devices.len(), tags.join(",")),
                            )
                        }
                        Err(err) => (status_of(&err), err.to_string()),
                    }
                }),
            )
            .route(
                "/logout-everywhere",
                post(|mut s: Session<$session>| async move {
                    match s.revoke_user_sessions(true).await {
                        Ok(n) => (StatusCode::OK, n.to_string()),
                        Err(err) => (status_of(&err), err.to_string()),
                    }
                }),
            )
            .route(
                "/logout-device/{tag}",
                post(|s: Session<$session>, Path(tag): Path<String>| async move {
                    match s.revoke_device(&tag).await {
                        Ok(found) => (StatusCode::OK, found.to_string()),
                        Err(err) => (status_of(&err), err.to_string()),
                    }
                }),
            )
            .layer($layer)
    };
}

const SHOPPER: &str = "__Host-user_s";
const ADMIN: &str = "__Host-admin_s";

async fn logins(app: &Router, user: u64, count: usize) -> Vec<String> {
    let mut cookies = Vec::new();
    for _ in 0..count {
        let reply = send(app, "POST", &format!("/login/{user}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        cookies.push(reply.set_cookie.expect("a new session"));
    }
    cookies
}

async fn whoami(app: &Router, cookie: &str, value: &str) -> String {
    send(app, "GET", "/whoami", Some((cookie, value)))
        .await
        .body
}

/// Devices listed: how many, and their tags.
async fn devices(name: &str, app: &Router, cookie: &str, value: &str) -> (usize, Vec<String>) {
    let reply = send(app, "GET", "/devices", Some((cookie, value))).await;
    assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
    let (count, tags) = reply.body.split_once('|').unwrap();
    let tags = tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned);
    (count.parse().unwrap(), tags.collect())
}

/// User 1 has three shopper sessions and two admin sessions over `store`;
/// each type lists and revokes only its own.
async fn types_apart<St: SessionStore + Clone>(name: &str, store: St) {
    let shop = user_routes!(
        Shopper,
        SessionLayer::<Shopper>::with_store(key(), store.clone())
    );
    let admin = user_routes!(Admin, SessionLayer::<Admin>::with_store(key(), store));
    let user = 10_000 + u64::from(u16::from_str_radix(&rand_suffix()[..4], 16).unwrap());
    let shopper = logins(&shop, user, 3).await;
    let admins = logins(&admin, user, 2).await;

    let (listed, shop_tags) = devices(name, &shop, SHOPPER, &shopper[0]).await;
    assert_eq!(
        listed, 3,
        "{name}: the shopper sessions, not the admin ones"
    );
    let (listed, admin_tags) = devices(name, &admin, ADMIN, &admins[0]).await;
    assert_eq!(
        listed, 2,
        "{name}: the admin sessions, not the shopper ones"
    );
    assert!(
        shop_tags.iter().all(|tag| !admin_tags.contains(tag)),
        "{name}"
    );

    // a tag of the other type's is not one of this type's devices
    let other = send(
        &shop,
        "POST",
        &format!("/logout-device/{}", admin_tags[1]),
        Some((SHOPPER, &shopper[0])),
    )
    .await;
    assert_eq!(other.body, "false", "{name}: {}", other.body);
    assert_eq!(
        whoami(&admin, ADMIN, &admins[1]).await,
        format!("Some({user})")
    );

    // log out everywhere as a shopper: the admin sessions stay
    let revoked = send(
        &shop,
        "POST",
        "/logout-everywhere",
        Some((SHOPPER, &shopper[0])),
    )
    .await;
    assert_eq!(
        (revoked.status, revoked.body.as_str()),
        (StatusCode::OK, "2"),
        "{name}: the other two shopper sessions"
    );
    // the shopper that asked stays, under a new ID (a copy of its old
    // cookie is one of the other devices)
    let kept = revoked
        .set_cookie
        .clone()
        .filter(|value| !value.is_empty() && *value != shopper[0])
        .expect("the kept session is re-issued under a new ID");
    for value in &shopper {
        assert_eq!(whoami(&shop, SHOPPER, value).await, "None", "{name}");
    }
    for value in &admins {
        assert_eq!(
            whoami(&admin, ADMIN, value).await,
            format!("Some({user})"),
            "{name}: an admin session survives the shopper's log out everywhere"
        );
    }
    assert_eq!(
        devices(name, &admin, ADMIN, &admins[0]).await.0,
        2,
        "{name}"
    );
    assert_eq!(devices(name, &shop, SHOPPER, &kept).await.0, 1, "{name}");

    // and the other way round
    let revoked = send(
        &admin,
        "POST",
        "/logout-everywhere",
        Some((ADMIN, &admins[0])),
    )
    .await;
    assert_eq!(
        (revoked.status, revoked.body.as_str()),
        (StatusCode::OK, "1"),
        "{name}"
    );
    assert_eq!(whoami(&admin, ADMIN, &admins[1]).await, "None", "{name}");
    assert_eq!(
        whoami(&shop, SHOPPER, &kept).await,
        format!("Some({user})"),
        "{name}: the shopper session survives the admin's log out everywhere"
    );
    sessionkit_tests::figure(&format!(
        "user index per session type store={name}: 3 shopper + 2 admin sessions of one user, each type lists and revokes its own, the other's survive"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_session_types_over_one_store_keep_their_users_apart() {
    types_apart("memory", std::sync::Arc::new(MemoryStore::default())).await;
    types_apart("sqlite", stores::sqlite_file("types_sqlite").await).await;
    types_apart(
        "tiered memory+sqlite",
        std::sync::Arc::new(Tiered::new(
            MemoryStore::default(),
            stores::sqlite_file("types_tsqlite").await,
        )),
    )
    .await;
    if let Some(store) = stores::postgres("types_pg").await {
        types_apart("postgres", store).await;
    }
    if let Some(store) = stores::mysql("types_my").await {
        types_apart("mariadb", store).await;
    }
    if let Some(store) = stores::redis().await {
        types_apart("redis", store).await;
    }
    if let (Some(cache), Some(durable)) =
        (stores::redis().await, stores::postgres("types_tpg").await)
    {
        types_apart(
            "tiered redis+postgres",
            std::sync::Arc::new(Tiered::new(cache, durable)),
        )
        .await;
    }
}

/// After `migrate`, rows of an earlier release (no cookie name) are
/// listed and revoked with every session type's, as they were, until a
/// save names their type; the user index is `(user_id, cookie_name)`.
async fn old_rows_join_every_type<S: UserIndex>(
    name: &str,
    store: &S,
    old: &StoreKey,
    user: &str,
    indexes: Vec<String>,
    table: &str,
) {
    assert!(
        indexes.contains(&format!("{table}_user")),
        "{name}: the (user_id, cookie_name) index: {indexes:?}"
    );
    assert!(
        !indexes.contains(&format!("{table}_user_id")),
        "{name}: the index on user_id alone is gone: {indexes:?}"
    );
    for cookie in ["__Host-one", "__Host-other"] {
        let listed = store.user_sessions(cookie, user, NOW).await.unwrap();
        assert!(
            listed.iter().any(|session| session.key == *old),
            "{name}: an old row is every type's"
        );
    }
    let record = store.load(old, NOW).await.unwrap().unwrap();
    let entry = Entry::new(&record.data, NOW + 3_600).with_user("__Host-one", Some(user), NOW + 1);
    assert!(matches!(
        store.save(old, entry, record.version, NOW).await.unwrap(),
        session_runtime::Saved::Saved { .. }
    ));
    let other = store
        .user_sessions("__Host-other", user, NOW)
        .await
        .unwrap();
    assert!(
        other.iter().all(|session| session.key != *old),
        "{name}: once saved, the row is its own type's"
    );
    assert_eq!(
        store
            .revoke_user("__Host-other", user, None, 100)
            .await
            .unwrap(),
        other.len()
    );
    assert!(store.load(old, NOW).await.unwrap().is_some(), "{name}");
    assert_eq!(
        store
            .revoke_user("__Host-one", user, None, 100)
            .await
            .unwrap(),
        1
    );
    assert!(store.load(old, NOW).await.unwrap().is_none(), "{name}");
    sessionkit_tests::figure(&format!(
        "old rows store={name}: listed with every session type's until saved, then only with their own; (user_id, cookie_name) index replaces user_id's"
    ));
}

/// The sessions table as the previous release made it (a `user_id`
/// column and its index, no `cookie_name`).
fn old_table(table: &str, sqlite: bool) -> [String; 2] {
    let (blob, int) = if sqlite {
        ("BLOB", "INTEGER")
    } else {
        ("BYTEA", "BIGINT")
    };
    [
        format!(
            "CREATE TABLE {table} (id {blob} PRIMARY KEY NOT NULL, data {blob} NOT NULL, \
             expires_at {int} NOT NULL, version {int} NOT NULL, shape {int} NOT NULL DEFAULT 0, \
             user_id VARCHAR(160), created_at {int} NOT NULL DEFAULT 0, updated_at {int} NOT NULL DEFAULT 0)"
        ),
        format!("CREATE INDEX {table}_user_id ON {table} (user_id)"),
    ]
}

/// One row of `user` in an old table.
fn old_row(table: &str) -> String {
    format!(
        "INSERT INTO {table} (id, data, expires_at, version, user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, 1, $4, $5, $5)"
    )
}

#[tokio::test]
async fn migrate_names_old_rows_types_on_sqlite_and_postgres() {
    let user = format!("old-{}", rand_suffix());
    let key = fresh_key();
    let name = table("old_types");
    let sqlite = session_runtime::store::SqliteStore::in_memory()
        .await
        .unwrap()
        .with_table(&name)
        .unwrap();
    for statement in old_table(&name, true) {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(sqlite.pool())
            .await
            .unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(old_row(&name)))
        .bind(key.as_bytes().as_slice())
        .bind(&b"sealed"[..])
        .bind(i64::try_from(NOW + 3_600).unwrap())
        .bind(&user)
        .bind(i64::try_from(NOW).unwrap())
        .execute(sqlite.pool())
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    sqlite.migrate().await.unwrap();
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?")
            .bind(&name)
            .fetch_all(sqlite.pool())
            .await
            .unwrap();
    old_rows_join_every_type("sqlite", &sqlite, &key, &user, indexes, &name).await;

    let Some(url) = sessionkit_tests::servers::address("SESSIONKIT_POSTGRES_URL") else {
        return;
    };
    let pg = session_runtime::store::PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&name)
        .unwrap();
    for statement in [
        format!("DROP TABLE IF EXISTS {name}"),
        format!("DROP TABLE IF EXISTS {name}_revoked"),
    ]
    .into_iter()
    .chain(old_table(&name, false))
    {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(pg.pool())
            .await
            .unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(old_row(&name)))
        .bind(key.as_bytes().as_slice())
        .bind(&b"sealed"[..])
        .bind(i64::try_from(NOW + 3_600).unwrap())
        .bind(&user)
        .bind(i64::try_from(NOW).unwrap())
        .execute(pg.pool())
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    pg.migrate().await.unwrap();
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1",
    )
    .bind(&name)
    .fetch_all(pg.pool())
    .await
    .unwrap();
    old_rows_join_every_type("postgres", &pg, &key, &user, indexes, &name).await;
}

/// A record written with no cookie name (as the store API allows, and as
/// every record of an earlier release is) is in every type's index.
async fn unnamed_is_every_types<S: UserIndex>(name: &str, store: &S) {
    let user = format!("unnamed-{}", rand_suffix());
    for cookie in ["", "", "__Host-a", "__Host-b"] {
        let entry = Entry::new(b"sealed", NOW + 3_600).with_user(cookie, Some(&user), NOW);
        assert!(store.create(&fresh_key(), entry).await.unwrap());
    }
    for cookie in ["__Host-a", "__Host-b"] {
        assert_eq!(
            store.user_sessions(cookie, &user, NOW).await.unwrap().len(),
            3,
            "{name}: {cookie}'s own and the two unnamed"
        );
    }
    assert_eq!(
        store.user_sessions("", &user, NOW).await.unwrap().len(),
        2,
        "{name}"
    );
    assert_eq!(
        store
            .revoke_user("__Host-a", &user, None, 100)
            .await
            .unwrap(),
        3,
        "{name}"
    );
    let left = store.user_sessions("__Host-b", &user, NOW).await.unwrap();
    assert_eq!(left.len(), 1, "{name}: b's own is left");
}

#[tokio::test]
async fn records_without_a_cookie_name_are_in_every_types_index() {
    unnamed_is_every_types("memory", &MemoryStore::default()).await;
    unnamed_is_every_types("sqlite", &stores::sqlite_memory("unnamed_sqlite").await).await;
    if let Some(store) = stores::postgres("unnamed_pg").await {
        unnamed_is_every_types("postgres", &store).await;
    }
    if let Some(store) = stores::mysql("unnamed_my").await {
        unnamed_is_every_types("mariadb", &store).await;
    }
    if let Some(store) = stores::redis().await {
        unnamed_is_every_types("redis", &store).await;
    }
}

/// A session as the previous release wrote it to Redis (a hash without a
/// cookie name, in the set `sessionkit:user:<user>`) is listed and revoked
/// with every type's until a save names its type, and then leaves that set.
#[tokio::test]
async fn old_redis_sessions_join_every_type_until_saved() {
    let Some(url) = sessionkit_tests::servers::address("SESSIONKIT_REDIS_URL") else {
        return;
    };
    let store = stores::redis().await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let user = format!("old-{}", rand_suffix());
    let (old, older) = (fresh_key(), fresh_key());
    let set = format!("sessionkit:user:{user}");
    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    for key in [old, older] {
        let hash = format!("sessionkit:{}", key.to_hex());
        redis::pipe()
            .cmd("HSET")
            .arg(&hash)
            .arg(&[
                "d", "sealed", "q", "", "v", "1", "c", "5", "u", "5", "w", &user,
            ])
            .arg("e")
            .arg(expires_at)
            .cmd("EXPIREAT")
            .arg(&hash)
            .arg(expires_at)
            .cmd("SADD")
            .arg(&set)
            .arg(&hash)
            .cmd("EXPIREAT")
            .arg(&set)
            .arg(expires_at)
            .exec_async(&mut raw)
            .await
            .unwrap();
    }
    for cookie in ["__Host-one", "__Host-other"] {
        let listed = store.user_sessions(cookie, &user, 0).await.unwrap();
        assert_eq!(
            listed.len(),
            2,
            "{cookie}: the old sessions are every type's"
        );
    }
    let record = store.load(&old, 0).await.unwrap().unwrap();
    let entry = Entry::new(&record.data, expires_at).with_user("__Host-one", Some(&user), 6);
    assert!(matches!(
        store.save(&old, entry, 1, 0).await.unwrap(),
        session_runtime::Saved::Saved { .. }
    ));
    let other = store.user_sessions("__Host-other", &user, 0).await.unwrap();
    assert_eq!(other.len(), 1, "once saved, a session is its own type's");
    assert_eq!(other[0].key, older);
    let member: bool = redis::cmd("SISMEMBER")
        .arg(&set)
        .arg(format!("sessionkit:{}", old.to_hex()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!member, "and is pruned from the old set as it is read");
    assert_eq!(
        store
            .revoke_user("__Host-other", &user, None, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.lookup(&older, 0, None).await.unwrap(),
        session_runtime::Lookup::Gone,
        "revoked with a tombstone"
    );
    assert!(
        store.load(&old, 0).await.unwrap().is_some(),
        "the other type's stays"
    );
    assert_eq!(
        store
            .revoke_user("__Host-one", &user, None, 10)
            .await
            .unwrap(),
        1
    );
    assert!(store.load(&old, 0).await.unwrap().is_none());
    sessionkit_tests::figure(
        "old redis sessions: listed and revoked with every session type's until a save names their type, then pruned from the old set",
    );
}
