//! The user index, keyed exactly: user ids compared byte for byte on every
//! SQL dialect (MariaDB's default collations fold case and pad spaces),
//! tables of an earlier release migrated to that, and one session type's
//! index kept apart from another's over one store.

use session_runtime::id::{SessionId, StoreKey};
use session_runtime::store::MySqlStore;
use session_runtime::{Entry, SessionStore};
use sessionkit_tests::servers::table;
use sessionkit_tests::stores;

const NOW: u64 = 1_800_000_000;
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
        let entry = Entry::new(b"sealed", NOW + 3_600).with_user(Some(user), NOW);
        assert!(store.create(&key, entry).await.unwrap());
        keys.push(key);
    }
    keys
}

/// Users whose ids differ only by case, by a trailing space, or that are
/// not Latin-1 are distinct users: their sessions are listed and revoked
/// apart, and so are their revocation times.
async fn ids_are_exact<S: SessionStore>(name: &str, store: &S) {
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
            store.user_sessions(user, NOW).await.unwrap().len(),
            i + 1,
            "{name}: {user:?} lists only their own sessions"
        );
    }
    assert_eq!(
        store.revoke_user(&users[0], None, 100).await.unwrap(),
        1,
        "{name}: revoking {:?} deletes theirs only",
        users[0]
    );
    for (i, user) in users.iter().enumerate().skip(1) {
        assert_eq!(
            store.user_sessions(user, NOW).await.unwrap().len(),
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
    assert_eq!(store.user_sessions("Alice", NOW).await.unwrap().len(), 2);
    let lower = store.user_sessions("alice", NOW).await.unwrap();
    assert_eq!(lower.len(), 1);
    assert_eq!(lower[0].key, old[1]);
    assert_eq!(store.revoke_user("alice", None, 10).await.unwrap(), 1);
    assert_eq!(store.user_sessions("Alice", NOW).await.unwrap().len(), 2);
    assert_eq!(store.revoked_before("Bob").await.unwrap(), Some(100));
    assert_eq!(store.revoked_before("bob").await.unwrap(), None);
    let bob = store.revoke_before("bob", NOW, KEEP).await.unwrap();
    assert_eq!((bob.previous, bob.before), (None, NOW), "a row of its own");
    assert_eq!(store.revoked_before("Bob").await.unwrap(), Some(100));
    // and new sessions are written and listed exactly
    create_sessions(&store, "ALICE", 2).await;
    assert_eq!(store.user_sessions("ALICE", NOW).await.unwrap().len(), 2);
    assert_eq!(store.user_sessions("Alice", NOW).await.unwrap().len(), 2);
    sessionkit_tests::figure(
        "old mariadb tables migrated: user_id binary in sessions and revocations, 4 old rows kept, ids told apart by case",
    );
}
