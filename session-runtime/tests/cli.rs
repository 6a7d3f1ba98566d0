//! The `sessionkit` command, run as a process.
#![cfg(feature = "cli")]

use session_runtime::id::SessionId;
use session_runtime::store::{PostgresStore, SqliteStore};
use session_runtime::{KeyRing, MasterKey, Meta, Mode, RevocationTimes, Sealer, SessionStore};
use std::process::{Command, Output};

fn sessionkit(args: &[&str], env: &[(&str, &str)]) -> Output {
    sessionkit_with_input(args, env, "")
}

/// `sessionkit args` with `input` on its standard input.
fn sessionkit_with_input(args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    use std::io::Write as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessionkit"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("sessionkit runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("sessionkit runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "sessionkit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn sqlite_url(name: &str) -> (String, std::path::PathBuf) {
    let path =
        std::env::temp_dir().join(format!("sessionkit-cli-{name}-{}.db", std::process::id()));
    std::fs::remove_file(&path).ok();
    (format!("sqlite://{}?mode=rwc", path.display()), path)
}

#[test]
fn keygen_prints_fresh_usable_secrets() {
    let first = stdout(&sessionkit(&["keygen"], &[]));
    let second = stdout(&sessionkit(&["keygen"], &[]));
    assert_ne!(first, second);
    MasterKey::from_base64(first.trim()).expect("a usable secret");
}

/// 100,000 expired rows and 10 live ones, inserted in one statement.
const FILL_SQLITE: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100010) \
     INSERT INTO sessionkit_sessions (id, data, expires_at, version) \
     SELECT randomblob(32), x'00', CASE WHEN i <= 100000 THEN 1000 ELSE 4000000000 END, 1 FROM n";
const FILL_POSTGRES: &str = "INSERT INTO reap_test (id, data, expires_at, version) \
     SELECT sha256(int8send(i)), '\\x00', CASE WHEN i <= 100000 THEN 1000 ELSE 4000000000 END, 1 \
     FROM generate_series(1, 100010) AS i";

#[tokio::test(flavor = "multi_thread")]
async fn reap_deletes_100000_expired_rows_in_batches_and_keeps_live_ones() {
    let (url, path) = sqlite_url("reap");
    assert!(stdout(&sessionkit(&["migrate", "--database-url", &url], &[])).contains("ready"));
    // idempotent
    stdout(&sessionkit(&["migrate", "--database-url", &url], &[]));
    let store = SqliteStore::connect(&url).await.unwrap();
    sqlx::query(FILL_SQLITE)
        .execute(store.pool())
        .await
        .unwrap();
    let before = store.stats(2_000).await.unwrap().unwrap();
    assert_eq!((before.records, before.expired), (100_010, 100_000));
    // one user's revocation time kept past its time, one still live
    store.revoke_before("lapsed", 100, 10).await.unwrap();
    store
        .revoke_before("live", 100, u64::from(u32::MAX))
        .await
        .unwrap();

    let out = stdout(&sessionkit(
        &["reap", "--database-url", &url, "--limit", "5000"],
        &[],
    ));
    assert!(
        out.contains("removed 100000 expired sessions in 21 batches of at most 5000"),
        "{out}"
    );
    assert!(
        out.contains("removed 1 user revocation times past their keep"),
        "{out}"
    );
    assert_eq!(store.revoked_before("lapsed").await.unwrap(), None);
    assert_eq!(store.revoked_before("live").await.unwrap(), Some(100));
    let after = store.stats(2_000).await.unwrap().unwrap();
    assert_eq!(
        (after.records, after.expired),
        (10, 0),
        "live rows untouched"
    );

    let stats = stdout(&sessionkit(&["stats"], &[("DATABASE_URL", &url)]));
    assert!(stats.contains("sessions: 10"), "{stats}");
    store.pool().close().await;
    std::fs::remove_file(path).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn reap_on_postgres_respects_dormant_for() {
    let Ok(url) = std::env::var("SESSIONKIT_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have postgres: run tests/run.sh"
        );
        eprintln!("SKIPPED: SESSIONKIT_POSTGRES_URL is not set");
        return;
    };
    let args = ["--database-url", &url, "--table", "reap_test"];
    stdout(&sessionkit(&[&["migrate"][..], &args].concat(), &[]));
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table("reap_test")
        .unwrap();
    sqlx::query("TRUNCATE reap_test")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(FILL_POSTGRES)
        .execute(store.pool())
        .await
        .unwrap();

    // expired in 1970, but not dormant for 100 years: nothing goes
    let kept = stdout(&sessionkit(
        &[
            &["reap", "--dormant-for", "36500d", "--limit", "10000"][..],
            &args,
        ]
        .concat(),
        &[],
    ));
    assert!(
        kept.contains("removed 0 expired sessions in 1 batches"),
        "{kept}"
    );
    let out = stdout(&sessionkit(
        &[&["reap", "--limit", "10000"][..], &args].concat(),
        &[],
    ));
    assert!(
        out.contains("removed 100000 expired sessions in 11 batches of at most 10000"),
        "{out}"
    );
    assert_eq!(store.stats(2_000).await.unwrap().unwrap().records, 10);
    sqlx::query("DROP TABLE reap_test")
        .execute(store.pool())
        .await
        .unwrap();
}

#[test]
fn inspect_opens_cookies_and_ids_with_a_key_from_the_environment() {
    let secret = stdout(&sessionkit(&["keygen"], &[]));
    let secret = secret.trim();
    let keys = KeyRing::new(MasterKey::from_base64(secret).unwrap());
    let meta = Meta {
        issued_at: 1_700_000_000,
        expires_at: 4_000_000_000,
        lifetime: 0,
        browser_session: false,
    };
    for mode in [Mode::Encrypted, Mode::Signed] {
        let value = Sealer::new(keys.clone(), mode)
            .seal_body::<session_runtime::Bincode>("cart", 0xfeed, &meta, b"hello");
        // the cookie on standard input, never on the command line
        let out = stdout(&sessionkit_with_input(
            &["inspect", "--key-env", "TEST_SECRET"],
            &[("TEST_SECRET", secret)],
            &format!("cart={value}\n"),
        ));
        assert!(out.contains(&format!("{mode:?}")), "{out}");
        assert!(out.contains("body (5 bytes): 68656c6c6f"), "{out}");
        // the envelope carries the fingerprint's folded 32 bits
        assert!(out.contains("schema shape: 0x0000feed"), "{out}");
        assert!(out.contains("issued at: 1700000000"), "{out}");

        // under another name the binding fails: refused, with a reason
        let refused = sessionkit_with_input(
            &["inspect", "--key-env", "TEST_SECRET"],
            &[("TEST_SECRET", secret)],
            &format!("other={value}"),
        );
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("error:"));
    }
    // or in a file
    let id = SessionId::generate().unwrap();
    let file = std::env::temp_dir().join(format!("sessionkit-cli-cookie-{}", std::process::id()));
    std::fs::write(&file, id.sign(&keys, "account")).unwrap();
    let out = stdout(&sessionkit(
        &[
            "inspect",
            "--cookie-file",
            file.to_str().unwrap(),
            "--cookie-name",
            "account",
            "--key-env",
            "TEST_SECRET",
        ],
        &[("TEST_SECRET", secret)],
    ));
    std::fs::remove_file(&file).ok();
    assert!(out.contains(&id.store_key().to_hex()), "{out}");
    // a cookie on the command line is refused: it would show in `ps`
    let on_argv = sessionkit(
        &["inspect", "cart=abc", "--key-env", "TEST_SECRET"],
        &[("TEST_SECRET", secret)],
    );
    assert!(!on_argv.status.success());
    // and nothing piped in says how to give one
    let nothing = sessionkit(
        &["inspect", "--key-env", "TEST_SECRET"],
        &[("TEST_SECRET", secret)],
    );
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("no cookie given"));
    let missing = sessionkit_with_input(&["inspect", "--key-env", "NOT_SET_ANYWHERE"], &[], "a=b");
    assert!(!missing.status.success());
}

#[test]
fn bad_arguments_are_clear_errors() {
    let out = sessionkit(
        &["reap", "--database-url", "oracle://x", "--limit", "5"],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database scheme"));
    let out = sessionkit(
        &["reap", "--database-url", "sqlite://x", "--limit", "0"],
        &[],
    );
    assert!(!out.status.success(), "a zero limit is refused");
    let out = sessionkit(
        &[
            "reap",
            "--database-url",
            "sqlite://x",
            "--dormant-for",
            "3w",
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_counts_live_sessions_by_shape_and_migrate_adds_the_column_to_old_tables() {
    let (url, path) = sqlite_url("shapes");
    // a table made before the `shape` column existed, with one old row
    let store = SqliteStore::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TABLE sessionkit_sessions (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, \
         expires_at INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO sessionkit_sessions VALUES (randomblob(32), x'00', 4000000000, 1)")
        .execute(store.pool())
        .await
        .unwrap();
    stdout(&sessionkit(&["migrate", "--database-url", &url], &[]));
    stdout(&sessionkit(&["migrate", "--database-url", &url], &[]));

    let key = || SessionId::generate().unwrap().store_key();
    let entry = session_runtime::Entry::new(b"sealed", 4_000_000_000);
    for _ in 0..3 {
        store.create(&key(), entry.with_shape(0xaa)).await.unwrap();
    }
    store.create(&key(), entry.with_shape(0xbb)).await.unwrap();
    // expired sessions do not count as a shape still in use
    let expired = session_runtime::Entry::new(b"sealed", 1_000).with_shape(0xcc);
    store.create(&key(), expired).await.unwrap();

    let stats = stdout(&sessionkit(&["stats", "--database-url", &url], &[]));
    assert!(
        stats.contains("live sessions of shape 0x00000000000000aa (tag 0x000000aa): 3"),
        "{stats}"
    );
    assert!(
        stats.contains("live sessions of shape 0x00000000000000bb (tag 0x000000bb): 1"),
        "{stats}"
    );
    assert!(
        stats.contains(
            "live sessions of shape 0x0000000000000000 (tag 0x00000000) (not recorded): 1"
        ),
        "{stats}"
    );
    assert!(!stats.contains("0x00000000000000cc"), "{stats}");
    store.pool().close().await;
    std::fs::remove_file(path).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_lists_a_user_and_revoke_logs_them_out_everywhere() {
    let (url, path) = sqlite_url("users");
    stdout(&sessionkit(&["migrate", "--database-url", &url], &[]));
    let store = SqliteStore::connect(&url).await.unwrap();
    let now = now_secs();
    let secret = MasterKey::generate_secret().unwrap();
    let keys = KeyRing::new(MasterKey::from_base64(&secret).unwrap());
    let mut tags = Vec::new();
    // user 42 in two session types, user 7 in one
    for (cookie, user) in [
        ("__Host-account", "42"),
        ("__Host-account", "42"),
        ("__Host-account", "42"),
        ("__Host-admin", "42"),
        ("__Host-account", "7"),
    ] {
        let key = SessionId::generate().unwrap().store_key();
        let entry =
            session_runtime::Entry::new(b"sealed", now + 3600).with_user(cookie, Some(user), now);
        assert!(store.create(&key, entry).await.unwrap());
        if (cookie, user) == ("__Host-account", "42") {
            tags.push(key.log_tag(&keys));
        }
    }
    let sessions = |user: &str, cookies: &[&str]| {
        let mut args = vec!["sessions", "--user", user, "--database-url", url.as_str()];
        for cookie in cookies {
            args.extend(["--cookie-name", cookie]);
        }
        args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>()
    };
    let args = sessions("42", &["__Host-account", "__Host-admin"]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--key-env", "CLI_SECRET"]);
    let listed = stdout(&sessionkit(&args, &[("CLI_SECRET", &secret)]));
    assert!(
        listed.contains("3 live sessions of user 42 in cookie __Host-account"),
        "{listed}"
    );
    assert!(
        listed.contains("1 live sessions of user 42 in cookie __Host-admin"),
        "{listed}"
    );
    for tag in &tags {
        assert!(listed.contains(&format!("tag {tag}")), "{listed}");
    }
    // the session type is named: without it, nothing is listed or revoked
    let unnamed = sessionkit(&["sessions", "--user", "42", "--database-url", &url], &[]);
    assert!(!unnamed.status.success());
    assert!(
        String::from_utf8_lossy(&unnamed.stderr).contains("--cookie-name"),
        "{unnamed:?}"
    );
    let revoked = stdout(&sessionkit(
        &[
            "revoke",
            "--user",
            "42",
            "--cookie-name",
            "__Host-account",
            "--limit",
            "2",
            "--database-url",
            &url,
        ],
        &[],
    ));
    assert!(
        revoked.contains(
            "revoked 3 sessions of user 42 in cookie __Host-account in 2 batches of at most 2"
        ),
        "{revoked}"
    );
    let list = |user: &str, cookie: &str| {
        let args = sessions(user, &[cookie]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stdout(&sessionkit(&args, &[]))
    };
    let after = list("42", "__Host-account");
    assert!(after.contains("0 live sessions of user 42"), "{after}");
    let admin = list("42", "__Host-admin");
    assert!(
        admin.contains("1 live sessions of user 42"),
        "another session type's are kept: {admin}"
    );
    let other = list("7", "__Host-account");
    assert!(other.contains("1 live sessions of user 7"), "{other}");
    store.pool().close().await;
    std::fs::remove_file(path).ok();
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `keys list | rotate | revoke` against the ring an instance holds: what
/// the operator changes, the instance follows at its next refresh.
#[tokio::test(flavor = "multi_thread")]
async fn keys_lists_rotates_and_revokes_a_managed_ring() {
    use session_runtime::{Bincode, KeyPolicy, ManagedKeys};
    let (url, path) = sqlite_url("keys");
    let root = MasterKey::generate_secret().unwrap();
    let env = [("SESSION_ROOT", root.as_str())];
    let args = [
        "--database-url",
        url.as_str(),
        "--root-key-env",
        "SESSION_ROOT",
    ];
    let keys = |action: &[&str]| sessionkit(&[&["keys"][..], &args, action].concat(), &env);
    stdout(&sessionkit(&["migrate", "--database-url", &url], &[]));
    assert!(
        stdout(&keys(&["list"])).contains("no keys"),
        "list makes no key"
    );

    // an instance starts: the first key
    let store = SqliteStore::connect(&url).await.unwrap();
    let ring = ManagedKeys::load(
        store,
        MasterKey::from_base64(&root).unwrap(),
        KeyPolicy::default(),
    )
    .await
    .unwrap();
    let meta = Meta {
        issued_at: 1,
        expires_at: u64::MAX,
        ..Meta::default()
    };
    let sealer = Sealer::new(ring.ring(), Mode::Encrypted);
    let first = sealer.seal_body::<Bincode>("c", 0, &meta, b"");
    let listed = stdout(&keys(&["list"]));
    assert!(listed.contains("key 1  Current"), "{listed}");

    let rotated = stdout(&keys(&["rotate"]));
    assert!(rotated.contains("key 2 is the next key"), "{rotated}");
    let listed = stdout(&keys(&["list"]));
    assert!(
        listed.contains("key 2  Pending") && listed.contains("activates in"),
        "{listed}"
    );

    // revoked from the command line: the instance refuses it once it reads
    stdout(&keys(&["revoke", "1"]));
    assert!(
        sealer.open_body::<Bincode>("c", &first, 0).is_ok(),
        "not read yet"
    );
    ring.refresh().await.unwrap();
    assert!(
        sealer.open_body::<Bincode>("c", &first, 0).is_err(),
        "refused after a refresh"
    );
    let listed = stdout(&keys(&["list"]));
    assert!(listed.contains("key 1  Revoked"), "{listed}");

    // mistakes are clear
    let missing = keys(&["revoke", "99"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no key 99"));
    let other = MasterKey::generate_secret().unwrap();
    let foreign = sessionkit(
        &[&["keys"][..], &args, &["list"]].concat(),
        &[("SESSION_ROOT", other.as_str())],
    );
    assert!(stdout(&foreign).contains("does not open under this root secret"));
    let too_quick = keys(&["--refresh", "10m", "rotate"]);
    assert!(
        !too_quick.status.success(),
        "an activation delay shorter than two refreshes"
    );
    std::fs::remove_file(path).ok();
}
