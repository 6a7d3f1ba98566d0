//! `sessionkit`: operate session stores and debug session cookies.
//!
//! ```text
//! sessionkit keygen
//! sessionkit migrate --database-url sqlite://sessions.db
//! sessionkit reap --database-url postgres://app@db/app --dormant-for 1d --limit 1000
//! sessionkit inspect --key-env SESSION_SECRET < cookie.txt   (or --cookie-file cookie.txt)
//! sessionkit stats --database-url mysql://app@db/app
//! sessionkit sessions --user 42 --cookie-name __Host-account --database-url postgres://app@db/app --key-env SESSION_SECRET
//! sessionkit revoke --user 42 --cookie-name __Host-account --cookie-name __Host-admin --database-url postgres://app@db/app
//! sessionkit keys --root-key-env SESSION_ROOT --database-url postgres://app@db/app list
//! sessionkit keys --root-key-env SESSION_ROOT --database-url postgres://app@db/app rotate
//! sessionkit keys --root-key-env SESSION_ROOT --database-url postgres://app@db/app revoke 3
//! ```
//!
//! The user index is kept per session type: `sessions` and `revoke` name
//! the types by their cookie names as browsers send them (`__Host-account`
//! for `#[session(cookie = "account")]` under the default `Secure`,
//! `Path=/` settings, `account` on a layer without the prefix), once each
//! with a repeated `--cookie-name`.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use session_runtime::cleanup::delete_expired_in_batches;
use session_runtime::id::{self, SessionId};
use session_runtime::store::{DEFAULT_TABLE, MySqlStore, PostgresStore, SqliteStore};
use session_runtime::{
    KeyPolicy, KeyRing, KeyStore, ManagedKeys, MasterKey, Mode, RevocationTimes, SessionStore,
    StoreError, UserIndex,
};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "sessionkit",
    version,
    about = "Operate sessionkit session stores and debug session cookies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a fresh 64-byte secret (base64url) for `MasterKey::from_env`.
    Keygen,
    /// Create the sessions table and its index, if missing (idempotent).
    Migrate(Database),
    /// Delete expired sessions in batches of `--limit` rows, then user
    /// revocation times kept past their time.
    Reap {
        #[command(flatten)]
        database: Database,
        /// Only sessions expired at least this long ago (`90`, `90s`, `15m`, `12h`, `7d`).
        #[arg(long, default_value = "0", value_parser = parse_duration)]
        dormant_for: Duration,
        /// Rows per batch: each batch is one short DELETE.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// Open a session cookie with the key in an environment variable and
    /// print what it holds (times, codec, schema shape, encoded body). The
    /// cookie is read from standard input or a file, never the command
    /// line, where `ps` and the shell's history would keep it.
    Inspect {
        /// A file holding the cookie as `name=value`, or its value with
        /// `--cookie-name`; `-` (the default): standard input.
        #[arg(long, default_value = "-")]
        cookie_file: std::path::PathBuf,
        /// The environment variable holding the secret (base64).
        #[arg(long)]
        key_env: String,
        /// The cookie's name, when COOKIE is only the value.
        #[arg(long)]
        cookie_name: Option<String>,
        /// Another environment variable with the previous secret, during a
        /// key rotation.
        #[arg(long)]
        previous_key_env: Option<String>,
    },
    /// Count sessions, live and expired, and live ones by schema shape
    /// (fingerprint), to tell when a `#[session(previous = ..)]` can go.
    Stats(Database),
    /// List a user's live sessions (those whose `#[session(user)]` field
    /// holds USER) of each session type named: log tag, created, last
    /// saved, expiry. Never the IDs.
    Sessions {
        #[command(flatten)]
        database: Database,
        /// The user, as the session's user field holds it (`42`, `ada`).
        #[arg(long)]
        user: String,
        #[command(flatten)]
        types: SessionTypes,
        /// The environment variable holding the secret: sessions are then
        /// shown by the log tag the application's logs use.
        #[arg(long)]
        key_env: Option<String>,
    },
    /// Log a user out everywhere: delete every server-side session of
    /// theirs of each session type named, in batches of `--limit` rows,
    /// and refuse from now on those in cookies of layers with user
    /// revocation on this database, whatever their type (a password reset,
    /// a stolen account).
    Revoke {
        #[command(flatten)]
        database: Database,
        /// The user, as the session's user field holds it.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        types: SessionTypes,
        /// Rows per batch: each batch is one short DELETE.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
    /// A managed key ring (`ManagedKeys`) kept in the database: list its
    /// keys, make the next one ahead of its schedule, or revoke one. The
    /// timing options must be the instances' own.
    Keys {
        #[command(flatten)]
        database: Database,
        /// The environment variable holding the root secret (base64) the
        /// keys are sealed under.
        #[arg(long)]
        root_key_env: String,
        /// Another environment variable with a previous root secret,
        /// during a rotation of the root itself.
        #[arg(long)]
        previous_root_key_env: Option<String>,
        /// The instances' refresh interval.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        refresh: Duration,
        /// How long after it is made a key starts sealing.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        activation_delay: Duration,
        /// How long a key seals before the next replaces it.
        #[arg(long, default_value = "30d", value_parser = parse_duration)]
        rotate_every: Duration,
        /// How long a replaced key keeps verifying.
        #[arg(long, default_value = "30d", value_parser = parse_duration)]
        retain: Duration,
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Every key: number, state, times, and the key byte of what it seals
    /// (as `inspect` shows it). Changes nothing.
    List,
    /// Make the next key now; it starts sealing after the activation
    /// delay, once every instance has read it.
    Rotate,
    /// Revoke key KID: every instance refuses what it sealed from its next
    /// refresh. If it sealed, the previous key seals again (or a new one at
    /// once).
    Revoke {
        /// The key's number, from `list`.
        kid: u32,
    },
}

#[derive(Args)]
struct Database {
    /// `sqlite://file.db`, `postgres://…` or `mysql://…` (MariaDB too).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The sessions table.
    #[arg(long, default_value = DEFAULT_TABLE)]
    table: String,
}

/// The session types whose user index `sessions` and `revoke` read.
#[derive(Args)]
struct SessionTypes {
    /// A session type's cookie name, as browsers send it: `__Host-account`
    /// for `#[session(cookie = "account")]` with the default settings
    /// (`Secure`, `Path=/`, no `Domain`), `account` on a layer without the
    /// `__Host-` prefix. The user index is kept per session type; repeat
    /// the option for each type.
    #[arg(long = "cookie-name", value_name = "NAME", required = true)]
    cookie_names: Vec<String>,
}

impl SessionTypes {
    /// Each name as given and as the index keys it.
    fn index_names(&self) -> Vec<(&str, String)> {
        self.cookie_names
            .iter()
            .map(|name| {
                (
                    name.as_str(),
                    session_runtime::user::index_key(name.clone()),
                )
            })
            .collect()
    }
}

enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
    MySql(MySqlStore),
}

/// Runs `$body` with `$store` bound to the concrete store.
macro_rules! with_store {
    ($any:expr, |$store:ident| $body:expr) => {
        match $any {
            Store::Sqlite($store) => $body,
            Store::Postgres($store) => $body,
            Store::MySql($store) => $body,
        }
    };
}

impl Database {
    async fn connect(&self) -> Result<Store, Box<dyn std::error::Error>> {
        let url = self.database_url.as_str();
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "sqlite" => Store::Sqlite(SqliteStore::connect(url).await?.with_table(&self.table)?),
            "postgres" | "postgresql" => {
                Store::Postgres(PostgresStore::connect(url).await?.with_table(&self.table)?)
            }
            "mysql" | "mariadb" => Store::MySql(
                MySqlStore::connect(&url.replacen("mariadb:", "mysql:", 1))
                    .await?
                    .with_table(&self.table)?,
            ),
            other => {
                // a usage mistake, not a store failure
                return Err(format!(
                    "unsupported database scheme `{other}`: use sqlite, postgres or mysql"
                )
                .into());
            }
        })
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 15m, 12h or 7d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(scale)))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&*err),
    }
}

fn fail(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::FAILURE
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Keygen => println!("{}", MasterKey::generate_secret()?),
        Command::Migrate(database) => {
            with_store!(database.connect().await?, |store| store.migrate().await?);
            println!("table `{}` is ready", database.table);
        }
        Command::Reap {
            database,
            dormant_for,
            limit,
        } => {
            let limit = usize::try_from(limit)?;
            let now = now();
            let reaped = with_store!(database.connect().await?, |store| {
                reap(&store, now, dormant_for, limit).await?
            });
            println!(
                "removed {} expired sessions in {} batches of at most {limit}",
                reaped.removed, reaped.batches
            );
            if reaped.revocations > 0 {
                println!(
                    "removed {} user revocation times past their keep",
                    reaped.revocations
                );
            }
        }
        Command::Inspect {
            cookie_file,
            key_env,
            cookie_name,
            previous_key_env,
        } => {
            let cookie = read_secret_input(&cookie_file)?;
            inspect(&cookie, &key_env, cookie_name, previous_key_env)?;
        }
        Command::Stats(database) => {
            let stats = with_store!(database.connect().await?, |store| store
                .stats(now())
                .await?);
            if let Some(stats) = stats {
                println!("sessions: {}", stats.records);
                println!("expired (waiting for reap): {}", stats.expired);
                println!("live: {}", stats.records.saturating_sub(stats.expired));
                // compare with `YourSession::FINGERPRINT` and the types of
                // its `previous` chain: a shape nobody has any more can go
                for (shape, count) in &stats.shapes {
                    let label = if *shape == 0 { " (not recorded)" } else { "" };
                    // the tag is what `inspect` shows of a cookie's shape
                    let tag = session_runtime::seal::envelope::shape_tag(*shape);
                    println!(
                        "live sessions of shape {shape:#018x} (tag {tag:#010x}){label}: {count}"
                    );
                }
            }
        }
        Command::Sessions {
            database,
            user,
            types,
            key_env,
        } => {
            let keys = key_env
                .map(|name| MasterKey::from_env(&name).map(KeyRing::new))
                .transpose()?;
            let user = session_runtime::user::index_key(user);
            let now = now();
            let store = database.connect().await?;
            for (cookie_name, indexed) in types.index_names() {
                let sessions = with_store!(&store, |store| store
                    .user_sessions(&indexed, &user, now)
                    .await?);
                println!(
                    "{} live sessions of user {user} in cookie {cookie_name}",
                    sessions.len()
                );
                for session in &sessions {
                    let name = match &keys {
                        Some(keys) => format!("tag {}", session.key.log_tag(keys)),
                        // without the key: a prefix of the row key, which
                        // reveals nothing of the ID either
                        None => format!("row {}…", &session.key.to_hex()[..12]),
                    };
                    println!(
                        "{name}  created {}  last saved {}  expires in {}",
                        ago(now, session.created_at),
                        ago(now, session.updated_at),
                        span(session.expires_at.saturating_sub(now)),
                    );
                }
            }
        }
        Command::Revoke {
            database,
            user,
            types,
            limit,
        } => {
            let limit = usize::try_from(limit)?;
            let user = session_runtime::user::index_key(user);
            let now = now();
            let store = database.connect().await?;
            // sessions that live in cookies (`with_user_revocation` on this
            // database) are refused from their next request, whatever
            // their type
            with_store!(&store, |store| store
                .revoke_before(
                    &user,
                    // as the layer revokes: other processes' clocks may run ahead
                    now + session_runtime::user::REVOCATION_CLOCK_TOLERANCE.as_secs(),
                    session_runtime::user::KEEP_REVOCATIONS.as_secs(),
                )
                .await?);
            for (cookie_name, indexed) in types.index_names() {
                // a Server type's own time, read by its logins around their
                // writes (a login racing this scan does not keep its ID)
                with_store!(&store, |store| store
                    .revoke_before(
                        &session_runtime::user::type_revocation_key(&indexed, &user),
                        now + session_runtime::user::REVOCATION_CLOCK_TOLERANCE.as_secs(),
                        session_runtime::user::KEEP_REVOCATIONS.as_secs(),
                    )
                    .await?);
                let mut revoked = 0;
                let mut batches = 0;
                loop {
                    let batch = with_store!(&store, |store| store
                        .revoke_user(&indexed, &user, None, limit)
                        .await?);
                    revoked += batch;
                    batches += 1;
                    if batch < limit {
                        break;
                    }
                }
                println!(
                    "revoked {revoked} sessions of user {user} in cookie {cookie_name} in {batches} batches of at most {limit}"
                );
            }
        }
        Command::Keys {
            database,
            root_key_env,
            previous_root_key_env,
            refresh,
            activation_delay,
            rotate_every,
            retain,
            action,
        } => {
            let mut root = KeyRing::new(MasterKey::from_env(&root_key_env)?);
            if let Some(previous) = previous_root_key_env {
                root = root.with_previous(MasterKey::from_env(&previous)?);
            }
            let policy = KeyPolicy::default()
                .with_refresh(refresh)
                .with_activation_delay(activation_delay)
                .with_rotation(rotate_every)
                .with_retention(retain);
            with_store!(database.connect().await?, |store| {
                keys(store, root, policy, action).await?;
            });
        }
    }
    Ok(())
}

async fn keys<K: KeyStore>(
    store: K,
    root: KeyRing,
    policy: KeyPolicy,
    action: KeysAction,
) -> Result<(), Box<dyn std::error::Error>> {
    match action {
        KeysAction::List => {
            let keys = ManagedKeys::list(&store, root, &policy).await?;
            if keys.is_empty() {
                println!("no keys: the first instance makes the first one");
            }
            let now = now();
            for key in keys {
                let secs = |at: SystemTime| {
                    at.duration_since(UNIX_EPOCH)
                        .map_or(0, |since| since.as_secs())
                };
                let activates = secs(key.activates_at);
                let activation = if activates > now {
                    format!("activates in {}", span(activates - now))
                } else {
                    format!("active since {}", ago(now, activates))
                };
                let mut line = format!(
                    "key {}  {:?}  made {}  {activation}",
                    key.kid,
                    key.state,
                    ago(now, secs(key.created_at))
                );
                if let Some(at) = key.replaced_at {
                    line.push_str(&format!("  replaced {}", ago(now, secs(at))));
                }
                if let Some(at) = key.revoked_at {
                    line.push_str(&format!("  revoked {}", ago(now, secs(at))));
                }
                match key.envelope_id {
                    Some(byte) => line.push_str(&format!("  key byte {byte}")),
                    None => line.push_str("  (does not open under this root secret)"),
                }
                println!("{line}");
            }
        }
        KeysAction::Rotate => {
            let kid = ManagedKeys::make_next(&store, &root, &policy).await?;
            let pending = ManagedKeys::list(&store, root, &policy)
                .await?
                .into_iter()
                .find(|key| key.kid == kid)
                .and_then(|key| key.activates_at.duration_since(SystemTime::now()).ok())
                .map_or(0, |left| left.as_secs());
            println!(
                "key {kid} is the next key: it starts sealing in {}, once every instance has read it",
                span(pending)
            );
        }
        KeysAction::Revoke { kid } => {
            ManagedKeys::revoke_in(&store, kid, SystemTime::now()).await?;
            println!(
                "key {kid} revoked: every instance refuses what it sealed from its next refresh (within {}, at once where the store notifies)",
                span(policy.refresh().as_secs().max(1)),
            );
        }
    }
    Ok(())
}

/// `when` (Unix seconds) as an age relative to `now`.
fn ago(now: u64, when: u64) -> String {
    if when == 0 {
        return "(not recorded)".to_owned();
    }
    format!("{} ago", span(now.saturating_sub(when)))
}

/// A duration in the largest whole unit.
fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m", secs / 60),
        3_600..86_400 => format!("{}h", secs / 3_600),
        _ => format!("{}d", secs / 86_400),
    }
}

async fn reap<S: SessionStore>(
    store: &S,
    now: u64,
    dormant_for: Duration,
    limit: usize,
) -> Result<session_runtime::cleanup::Reaped, StoreError> {
    let cutoff = now.saturating_sub(dormant_for.as_secs());
    let total = store.stats(cutoff).await?.map_or(0, |stats| stats.expired);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} sessions removed ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let reaped = delete_expired_in_batches(store, now, dormant_for, limit, |removed| {
        bar.set_position(removed as u64);
    })
    .await;
    bar.finish_and_clear();
    reaped
}

fn inspect(
    cookie: &str,
    key_env: &str,
    cookie_name: Option<String>,
    previous_key_env: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (name, value) = match (cookie.split_once('='), cookie_name) {
        (_, Some(name)) => (name, cookie.to_owned()),
        (Some((name, value)), None) => (name.trim().to_owned(), value.trim().to_owned()),
        (None, None) => return Err("give the cookie as `name=value`, or pass --cookie-name".into()),
    };
    let mut keys = KeyRing::new(MasterKey::from_env(key_env)?);
    if let Some(previous) = previous_key_env {
        keys = keys.with_previous(MasterKey::from_env(&previous)?);
    }
    if id::is_signed_id(value.as_bytes()) {
        return print_signed_id(&value, &keys, &name);
    }
    let mut last_error = None;
    for mode in [Mode::Encrypted, Mode::Signed] {
        let sealer = session_runtime::Sealer::new(keys.clone(), mode);
        match sealer.inspect(&name, &value) {
            Ok(opened) => {
                let now = now();
                let codec = match opened.codec_id {
                    1 => "bincode",
                    2 => "postcard",
                    _ => "unknown",
                };
                println!(
                    "cookie: {name} ({mode:?}, key id {}{})",
                    opened.key_id,
                    if opened.stale_key { ", older key" } else { "" }
                );
                println!("codec: {codec} ({})", opened.codec_id);
                println!("schema shape: {:#010x}", opened.shape);
                println!(
                    "issued at: {} ({} s ago)",
                    opened.meta.issued_at,
                    now.saturating_sub(opened.meta.issued_at)
                );
                let expiry = if opened.meta.expires_at > now {
                    format!("in {} s", opened.meta.expires_at - now)
                } else {
                    "EXPIRED".to_owned()
                };
                println!("expires at: {} ({expiry})", opened.meta.expires_at);
                if opened.meta.lifetime > 0 {
                    println!("own lifetime: {} s", opened.meta.lifetime);
                }
                println!("browser session: {}", opened.meta.browser_session);
                println!("body ({} bytes): {}", opened.body.len(), hex(&opened.body));
                return Ok(());
            }
            Err(err) => last_error = Some(err),
        }
    }
    if value.len() == id::LEGACY_SIGNED_ID_LEN {
        // an ID of the form before the format byte (a sealed value may have
        // its length too: that was tried first)
        return print_signed_id(&value, &keys, &name);
    }
    Err(match last_error {
        Some(err) => Box::new(err),
        None => "no mode to try".into(),
    })
}

fn print_signed_id(
    value: &str,
    keys: &KeyRing,
    name: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let (id, stale) = SessionId::verify(value, keys, name)?;
    println!(
        "server-side session id (signature valid{})",
        if stale { ", older key or form" } else { "" }
    );
    println!("store key: {}", id.store_key().to_hex());
    Ok(())
}

/// The whole of `path` (`-`: standard input), trimmed.
fn read_secret_input(path: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    use std::io::Read as _;
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    }
    let text = text.trim();
    if text.is_empty() {
        return Err("no cookie given: pipe it in, or pass --cookie-file".into());
    }
    Ok(text.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
