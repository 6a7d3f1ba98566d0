//! [`RedisStore`]: sessions in Redis or Redis Cluster.

use super::{
    CacheStore, Entry, Lookup, Record, RevocationTimes, RevocationTimesRef, Revoked, Saved,
    SessionStore, StoreError, TOMBSTONE_TTL, UserIndex, UserIndexRef, UserSession,
};
use crate::id::StoreKey;
use redis::Value;
use redis::aio::ConnectionManager;
use std::sync::{Arc, LazyLock};

const NAME: &str = "redis";

/// What every script that reads or writes a record starts with: the
/// record's layout, in one place.
///
/// A session is one string (one allocation in Redis, a third of the
/// memory of a hash whose data field is past `hash-max-listpack-value`):
/// `r<version>:<expires_at>:<created_at>:<updated_at>:<user len>:<cookie
/// name len>:<quick len>:` then the user, the cookie name, the quick blob
/// and the sealed data, set with `EXAT` its expiry. A tombstone is the
/// string `x`. Sessions as releases before this layout wrote them (a hash:
/// `d`, `q`, `e`, `v`, `c`, `u`, `w`, `k`; `x` for a tombstone) are read
/// the same, and written anew in the string layout.
const LAYOUT: &str = r"
local function load(k)
  local kind = redis.call('TYPE', k).ok
  if kind == 'string' then
    local s = redis.call('GET', k)
    if s == 'x' then return 'x' end
    local v, e, c, u, wl, kl, ql, at = string.match(s, '^r(%d+):(%d+):(%d+):(%d+):(%d+):(%d+):(%d+):()')
    if not v then return nil end
    local w_end = at + tonumber(wl)
    local k_end = w_end + tonumber(kl)
    local q_end = k_end + tonumber(ql)
    return {v = v, e = e, c = c, u = u, w = string.sub(s, at, w_end - 1),
      k = string.sub(s, w_end, k_end - 1), q = string.sub(s, k_end, q_end - 1), d = string.sub(s, q_end)}
  elseif kind == 'hash' then
    local f = redis.call('HMGET', k, 'd', 'q', 'e', 'v', 'c', 'u', 'w', 'k', 'x')
    if f[9] then return 'x' end
    if not f[4] then return nil end
    return {v = f[4], e = f[3], c = f[5] or '0', u = f[6] or '0', w = f[7] or '', k = f[8] or '',
      q = f[2] or '', d = f[1] or ''}
  end
  return nil
end
local function store(k, r)
  redis.call('SET', k, 'r' .. r.v .. ':' .. r.e .. ':' .. r.c .. ':' .. r.u .. ':' .. #r.w .. ':' .. #r.k
    .. ':' .. #r.q .. ':' .. r.w .. r.k .. r.q .. r.d, 'EXAT', r.e)
end
local function tombstone(k, ttl)
  redis.call('SET', k, 'x', 'EX', ttl)
end
local function indexed(set, k, e)
  if set then
    redis.call('SADD', set, k)
    if redis.call('EXPIRETIME', set) < tonumber(e) then redis.call('EXPIREAT', set, e) end
  end
end
";

/// The scripts that write a record check its expiry (ARGV[3]) before they
/// write anything: an expiry `EXAT` refuses would otherwise fail the write
/// half done.
const IN_RANGE: &str = r"
if not tonumber(ARGV[3]) or tonumber(ARGV[3]) < 0 or tonumber(ARGV[3]) > 4294967295 then return redis.error_reply('session expiry out of range') end
";

/// Creates the record unless the key exists (a live session or a
/// tombstone). KEYS[1], and KEYS[2] the user's set when the session has a
/// user; ARGV: data, quick, expires_at, version, updated_at, user, cookie
/// name.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
store(KEYS[1], {v = 1, e = ARGV[3], c = ARGV[5], u = ARGV[5], w = ARGV[6], k = ARGV[7], q = ARGV[2], d = ARGV[1]})
indexed(KEYS[2], KEYS[1], ARGV[3])
return 1
";

/// One bounded page of a user's sessions: `SSCAN` of KEYS[1] (the user's
/// set) from cursor ARGV[1] for about ARGV[2] members; ARGV[3] the user,
/// ARGV[4] now, ARGV[5] the set's cookie name (empty: the set of sessions
/// written without one). Members that are gone, tombstoned, or now another
/// user's or another session type's are pruned from the set on the way.
/// Returns the next cursor (`0`: done), then key, expiry, created and last
/// saved of each live session.
const USER_PAGE: &str = r"
local page = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = {page[1]}
for _, k in ipairs(page[2]) do
  local f = load(k)
  if type(f) == 'table' and f.w == ARGV[3] and f.k == ARGV[5] then
    if tonumber(f.e) > tonumber(ARGV[4]) then
      table.insert(out, k)
      table.insert(out, f.e)
      table.insert(out, f.c)
      table.insert(out, f.u)
    end
  else
    redis.call('SREM', KEYS[1], k)
  end
end
return out
";

/// One bounded round of revoking a user: pops ARGV[2] members of KEYS[1]
/// (the user's set) and replaces each that is a live session of ARGV[1]
/// and of the set's cookie name ARGV[5] with a tombstone living ARGV[4]
/// seconds, as [`DELETE`] does; the others (gone, tombstoned, another
/// user's or session type's) just leave the set. ARGV[3], when
/// not empty, is the key of a session to keep: it is neither popped nor
/// revoked and stays in the set, which keeps its expiry. Popped members
/// never come back, so the next round (and the next call) goes on where
/// this one stopped. Returns {revoked, popped}: fewer popped than asked
/// means the set holds nothing else.
const REVOKE_ROUND: &str = r"
local kept = false
local expiry = -1
if ARGV[3] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[3]) == 1 then
  kept = true
  expiry = redis.call('PEXPIRETIME', KEYS[1])
  redis.call('SREM', KEYS[1], ARGV[3])
end
local popped = redis.call('SPOP', KEYS[1], ARGV[2])
local revoked = 0
for _, k in ipairs(popped) do
  local f = load(k)
  if type(f) == 'table' and f.w == ARGV[1] and f.k == ARGV[5] then
    tombstone(k, ARGV[4])
    revoked = revoked + 1
  end
end
if kept then
  redis.call('SADD', KEYS[1], ARGV[3])
  if expiry > 0 then redis.call('PEXPIREAT', KEYS[1], expiry) end
end
return {revoked, #popped}
";

/// Members of a user's set one listing or revoking round trip handles at
/// most: each script call is bounded work (about a millisecond), so a user
/// with any number of sessions never holds up other clients for long.
const USER_ROUND: usize = 200;

/// A cache fill: writes the record unless the key holds this version or a
/// newer one, or a tombstone. ARGV: data, quick, expires_at, version.
const PUT: &str = r"
local cur = load(KEYS[1])
if cur == 'x' then return 0 end
if cur and tonumber(cur.v) >= tonumber(ARGV[4]) then return 0 end
store(KEYS[1], {v = ARGV[4], e = ARGV[3], c = '0', u = '0', w = '', k = '', q = ARGV[2], d = ARGV[1]})
return 1
";

/// Replaces the quick blob if the record is live at version ARGV[2] (and
/// not expired at ARGV[3]); returns 1 when written.
const SAVE_QUICK: &str = r"
local cur = load(KEYS[1])
if type(cur) ~= 'table' or cur.v ~= ARGV[2] or tonumber(cur.e) <= tonumber(ARGV[3]) then return 0 end
cur.q = ARGV[1]
store(KEYS[1], cur)
return 1
";

/// Replaces the record with a tombstone that lives ARGV[1] seconds;
/// returns whether a live session was there.
const DELETE: &str = r"
local cur = load(KEYS[1])
tombstone(KEYS[1], ARGV[1])
if type(cur) == 'table' then return 1 end
return 0
";

/// Compare-and-set on the version. KEYS[1], and KEYS[2] the user's set
/// when the session has a user; ARGV: data, quick, expires_at, expected
/// version, now, updated_at, user, cookie name. Returns {0} missing, {1, d, q, e, v}
/// conflict, {2, v} saved.
const SAVE: &str = r"
local cur = load(KEYS[1])
if type(cur) ~= 'table' or tonumber(cur.e) <= tonumber(ARGV[5]) then return {0} end
if cur.v ~= ARGV[4] then return {1, cur.d, cur.q, cur.e, cur.v} end
local v = tonumber(ARGV[4]) + 1
store(KEYS[1], {v = v, e = ARGV[3], c = cur.c, u = ARGV[6], w = ARGV[7], k = ARGV[8], q = ARGV[2], d = ARGV[1]})
indexed(KEYS[2], KEYS[1], ARGV[3])
return {2, v}
";

/// Raises a user's revocation time to the later of `at` and one past the
/// time kept: KEYS[1]; ARGV: at, keep_for seconds. Returns {previous (-1:
/// none), now kept}. Validated before anything is written.
const REVOKE_BEFORE: &str = r"
local at = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
if not at or not keep or keep < 1 then return redis.error_reply('bad revocation arguments') end
local kept = redis.call('GET', KEYS[1])
local prev = -1
local new = at
if kept then
  prev = tonumber(kept)
  if prev + 1 > new then new = prev + 1 end
end
redis.call('SET', KEYS[1], new, 'KEEPTTL')
if redis.call('TTL', KEYS[1]) < keep then redis.call('EXPIRE', KEYS[1], keep) end
return {prev, new}
";

static SCRIPTS: LazyLock<[redis::Script; 8]> = LazyLock::new(|| {
    let with_layout = |body: &str| redis::Script::new(&format!("{LAYOUT}{body}"));
    let writing = |body: &str| redis::Script::new(&format!("{IN_RANGE}{LAYOUT}{body}"));
    [
        writing(CREATE),
        writing(PUT),
        writing(SAVE),
        with_layout(DELETE),
        with_layout(SAVE_QUICK),
        with_layout(USER_PAGE),
        redis::Script::new(REVOKE_BEFORE),
        with_layout(REVOKE_ROUND),
    ]
});

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// Sessions in Redis, one string per session (version, expiry, created
/// and saved times, user, cookie name, quick fields and the sealed data;
/// the layout is `LAYOUT`'s, in this file) that Redis expires by itself
/// at the session's expiry: one allocation, as little memory as a session
/// can take (BENCHMARKS.md measures it). A deleted session leaves a
/// tombstone (`x`) for [`TOMBSTONE_TTL`](super::TOMBSTONE_TTL), which
/// refuses cache fills. Saves are Lua scripts, so the version check and
/// the write are one atomic step; a read is one `GET`. Sessions written by
/// releases that kept a hash per session are read as they are and written
/// anew as strings. A session with a user (`#[session(user)]`) is also a
/// member of the set `<prefix>index:<cookie name>/<user>`, which lives as
/// long as the user's longest session of that type; members that ended
/// are pruned when the set is read. Sessions
/// written without a cookie name (by a release before the index kept
/// one) are in `<prefix>user:<user>`, listed and revoked with every type's.
/// Listing and revoking a user's sessions take bounded rounds (`SSCAN`
/// pages, `SPOP` batches) driven from here, so no call blocks the server
/// for long however many sessions the user has.
/// On Redis Cluster ([`RedisStore::cluster`], feature `redis-cluster`)
/// every script touches one key, and there is no user index (a user's sets
/// and sessions hash to different slots): use it as the cache of a
/// [`Tiered`](crate::Tiered) store, whose durable tier keeps the index.
///
/// ```no_run
/// # async fn run() -> Result<(), session_runtime::StoreError> {
/// use session_runtime::store::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    /// The single server's client, for the near cache's own connection.
    pub(in crate::store) client: Option<redis::Client>,
    pub(in crate::store) prefix: Arc<str>,
    max_record: usize,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("mode", &mode)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

pub(in crate::store) fn error(err: redis::RedisError) -> StoreError {
    StoreError::backend(NAME, err)
}

fn malformed(what: &str) -> StoreError {
    StoreError::backend(NAME, format!("unexpected reply: {what}"))
}

fn bytes(value: &Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(bytes) => Ok(bytes.clone()),
        Value::Nil => Ok(Vec::new()),
        _ => Err(malformed("not a string")),
    }
}

fn number(value: &Value) -> Result<u64, StoreError> {
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| malformed("negative")),
        Value::BulkString(text) => std::str::from_utf8(text)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| malformed("not a number")),
        _ => Err(malformed("not a number")),
    }
}

fn record(fields: &[Value]) -> Result<Record, StoreError> {
    let [data, quick, expires_at, version] = fields else {
        return Err(malformed("wrong field count"));
    };
    Ok(Record {
        data: bytes(data)?,
        quick: bytes(quick)?,
        expires_at: number(expires_at)?,
        version: number(version)?,
    })
}

/// A record as [`LAYOUT`] keeps it: `x` (a tombstone) or
/// `r<v>:<e>:<c>:<u>:<user len>:<cookie len>:<quick len>:<user><cookie><quick><data>`.
fn stored(value: &[u8]) -> Result<Lookup, StoreError> {
    if value == b"x" {
        return Ok(Lookup::Gone);
    }
    let bad = || malformed("a record in another layout");
    let mut rest = value.strip_prefix(b"r").ok_or_else(bad)?;
    let mut fields = [0u64; 7];
    for field in &mut fields {
        let end = memchr::memchr(b':', rest).ok_or_else(bad)?;
        *field = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(bad)?;
        rest = &rest[end + 1..];
    }
    let [version, expires_at, _, _, user, cookie, quick] = fields;
    let skip = usize::try_from(user + cookie).map_err(|_| bad())?;
    let quick = usize::try_from(quick).map_err(|_| bad())?;
    let quick_end = skip.checked_add(quick).ok_or_else(bad)?;
    let (quick, data) = rest
        .get(skip..quick_end)
        .zip(rest.get(quick_end..))
        .ok_or_else(bad)?;
    Ok(Lookup::Hit(Record {
        data: data.to_vec(),
        quick: quick.to_vec(),
        expires_at,
        version,
    }))
}

impl RedisStore {
    /// A session in the hash layout of releases before [`LAYOUT`].
    async fn lookup_hash(&self, key: &StoreKey) -> Result<Lookup, StoreError> {
        let mut command = redis::cmd("HMGET");
        command.arg(self.key(key)).arg(&["d", "q", "e", "v", "x"]);
        let Value::Array(mut fields) = self.query(&command).await? else {
            return Err(malformed("HMGET"));
        };
        if fields.get(4).is_some_and(|tomb| *tomb != Value::Nil) {
            return Ok(Lookup::Gone);
        }
        fields.truncate(4);
        if fields.get(3).is_none_or(|version| *version == Value::Nil) {
            return Ok(Lookup::Miss);
        }
        Ok(Lookup::Hit(record(&fields)?))
    }

    /// Connects to one Redis server through a connection manager, which
    /// reconnects by itself after a failure.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for a bad URL or an unreachable server.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(error)?;
        let manager = ConnectionManager::new(client.clone())
            .await
            .map_err(error)?;
        Ok(Self {
            client: Some(client),
            ..Self::new(Connection::Single(manager))
        })
    }

    /// Connects to a Redis Cluster through any of its `nodes`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the cluster cannot be reached.
    #[cfg(feature = "redis-cluster")]
    pub async fn cluster(
        nodes: impl IntoIterator<Item = impl redis::IntoConnectionInfo>,
    ) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClient::new(nodes).map_err(error)?;
        let connection = client.get_async_connection().await.map_err(error)?;
        Ok(Self::new(Connection::Cluster(connection)))
    }

    fn new(connection: Connection) -> Self {
        Self {
            connection,
            client: None,
            prefix: Arc::from("sessionkit:"),
            max_record: crate::codec::DECODE_LIMIT,
        }
    }

    /// Prefixes every key (default `sessionkit:`), to share a server.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// Refuses records larger than `bytes` (default 1 MiB,
    /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT)).
    #[must_use]
    pub fn with_max_record(mut self, bytes: std::num::NonZeroUsize) -> Self {
        self.max_record = bytes.get();
        self
    }

    pub(in crate::store) fn key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.to_hex())
    }

    /// The set of `user`'s sessions of the type whose cookie is
    /// `cookie_name`: a cookie name holds no `/`, so the key is
    /// unambiguous. Without a cookie name, the set earlier releases kept
    /// for every type (its own namespace, so no user id can make the one
    /// look like the other).
    fn user_key(&self, cookie_name: &str, user: &str) -> String {
        if cookie_name.is_empty() {
            format!("{}user:{user}", self.prefix)
        } else {
            format!("{}index:{cookie_name}/{user}", self.prefix)
        }
    }

    /// The sets that hold `user`'s sessions of the type whose cookie is
    /// `cookie_name`, each with the cookie name its members carry: the
    /// type's own, then the one of sessions written without a name.
    fn user_sets<'a>(&self, cookie_name: &'a str, user: &str) -> Vec<(String, &'a str)> {
        let mut sets = vec![(self.user_key(cookie_name, user), cookie_name)];
        if !cookie_name.is_empty() {
            sets.push((self.user_key("", user), ""));
        }
        sets
    }

    /// `Unsupported` on a cluster, which keeps no user index.
    fn check_user_index(&self) -> Result<(), StoreError> {
        match self.connection {
            Connection::Single(_) => Ok(()),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(_) => Err(StoreError::Unsupported {
                store: NAME,
                what: "a user index on Redis Cluster",
            }),
        }
    }

    /// Adds the user's set as the script's second key, on a single server
    /// (a cluster keeps no user index).
    fn user_set(&self, invocation: &mut redis::ScriptInvocation<'_>, entry: &Entry<'_>) {
        if let (Some(user), Connection::Single(_)) = (entry.user, &self.connection) {
            invocation.key(self.user_key(entry.cookie_name, user));
        }
    }

    async fn run(&self, invocation: redis::ScriptInvocation<'_>) -> Result<Value, StoreError> {
        match self.connection.clone() {
            Connection::Single(mut connection) => invocation.invoke_async(&mut connection).await,
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(mut connection) => invocation.invoke_async(&mut connection).await,
        }
        .map_err(error)
    }

    async fn query(&self, command: &redis::Cmd) -> Result<Value, StoreError> {
        match self.connection.clone() {
            Connection::Single(mut connection) => command.query_async(&mut connection).await,
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(mut connection) => command.query_async(&mut connection).await,
        }
        .map_err(error)
    }

    async fn write(
        &self,
        script: &redis::Script,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<Value, StoreError> {
        // the time of the write is not known here: the 32-bit bound holds
        let entry = entry.capped(0);
        StoreError::check_size(&entry, self.max_record)?;
        let mut invocation = script.key(self.key(key));
        invocation
            .arg(entry.data)
            .arg(entry.quick)
            .arg(entry.expires_at)
            .arg(version);
        self.run(invocation).await
    }
}

impl SessionStore for RedisStore {
    const NAME: &'static str = NAME;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        let entry = entry.capped(entry.updated_at);
        StoreError::check_size(&entry, self.max_record)?;
        let mut invocation = SCRIPTS[0].key(self.key(key));
        self.user_set(&mut invocation, &entry);
        invocation
            .arg(entry.data)
            .arg(entry.quick)
            .arg(entry.expires_at)
            .arg(1)
            .arg(entry.updated_at)
            .arg(entry.user.unwrap_or_default())
            .arg(entry.cookie_name);
        let created = self.run(invocation).await?;
        Ok(number(&created)? == 1)
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        Ok(self.lookup(key, now, None).await?.into_record())
    }

    async fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        let entry = entry.capped(now);
        StoreError::check_size(&entry, self.max_record)?;
        let mut invocation = SCRIPTS[2].key(self.key(key));
        self.user_set(&mut invocation, &entry);
        invocation
            .arg(entry.data)
            .arg(entry.quick)
            .arg(entry.expires_at)
            .arg(version)
            .arg(now)
            .arg(entry.updated_at)
            .arg(entry.user.unwrap_or_default())
            .arg(entry.cookie_name);
        let Value::Array(reply) = self.run(invocation).await? else {
            return Err(malformed("save"));
        };
        match reply.split_first() {
            Some((status, _)) if number(status)? == 0 => Ok(Saved::Missing),
            Some((status, fields)) if number(status)? == 1 => Ok(Saved::Conflict(record(fields)?)),
            Some((status, [version])) if number(status)? == 2 => Ok(Saved::Saved {
                version: number(version)?,
            }),
            _ => Err(malformed("save")),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let mut invocation = SCRIPTS[3].key(self.key(key));
        invocation.arg(TOMBSTONE_TTL.as_secs());
        Ok(number(&self.run(invocation).await?)? == 1)
    }

    async fn delete_expired(&self, _: u64, _: u64, _: usize) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// None on Redis Cluster, which keeps no user index.
    fn user_index(&self) -> Option<UserIndexRef<'_>> {
        self.check_user_index()
            .is_ok()
            .then(|| UserIndexRef::new(self))
    }

    fn revocation_times(&self) -> Option<RevocationTimesRef<'_>> {
        Some(RevocationTimesRef::new(self))
    }
}

impl CacheStore for RedisStore {
    const SHARED: bool = true;

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        _: Option<std::time::Duration>,
    ) -> Result<Lookup, StoreError> {
        let mut get = redis::cmd("GET");
        get.arg(self.key(key));
        let found = match self.connection.clone() {
            Connection::Single(mut connection) => get.query_async(&mut connection).await,
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(mut connection) => get.query_async(&mut connection).await,
        };
        let lookup = match found {
            Ok(Value::Nil) => Lookup::Miss,
            Ok(Value::BulkString(value)) => stored(&value)?,
            Ok(_) => return Err(malformed("GET")),
            // a session as releases before the string layout wrote it
            Err(err) if err.code() == Some("WRONGTYPE") => self.lookup_hash(key).await?,
            Err(err) => return Err(error(err)),
        };
        Ok(match lookup {
            Lookup::Hit(record) if record.expires_at <= now => Lookup::Miss,
            lookup => lookup,
        })
    }

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        let written = self.write(&SCRIPTS[1], key, entry, version).await?;
        Ok(number(&written)? == 1)
    }

    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        StoreError::check_size(&Entry::new(quick, 0), self.max_record)?;
        let mut invocation = SCRIPTS[4].key(self.key(key));
        invocation.arg(quick).arg(version).arg(now);
        Ok(number(&self.run(invocation).await?)? == 1)
    }
}

/// On Redis Cluster, [`StoreError::Unsupported`]: see [`RedisStore`].
impl UserIndex for RedisStore {
    /// Pages through the user's sets with `SSCAN`, `USER_ROUND` members
    /// a round trip, pruning ended sessions on the way; sorts here.
    async fn user_sessions(
        &self,
        cookie_name: &str,
        user: &str,
        now: u64,
    ) -> Result<Vec<UserSession>, StoreError> {
        self.check_user_index()?;
        // SSCAN may return a member twice: the later row is the fresher
        let mut sessions = std::collections::HashMap::new();
        for (set, cookie_name) in self.user_sets(cookie_name, user) {
            let mut cursor = b"0".to_vec();
            loop {
                let mut invocation = SCRIPTS[5].key(&set);
                invocation
                    .arg(&cursor)
                    .arg(USER_ROUND)
                    .arg(user)
                    .arg(now)
                    .arg(cookie_name);
                let Value::Array(page) = self.run(invocation).await? else {
                    return Err(malformed("user sessions"));
                };
                let Some((Value::BulkString(next), rows)) = page.split_first() else {
                    return Err(malformed("user sessions"));
                };
                if rows.len() % 4 != 0 {
                    return Err(malformed("user sessions"));
                }
                for row in rows.chunks_exact(4) {
                    let Value::BulkString(name) = &row[0] else {
                        return Err(malformed("user sessions"));
                    };
                    let key = name
                        .strip_prefix(self.prefix.as_bytes())
                        .and_then(StoreKey::from_hex)
                        .ok_or_else(|| malformed("user sessions"))?;
                    let session =
                        UserSession::new(key, number(&row[2])?, number(&row[3])?, number(&row[1])?);
                    sessions.insert(key, session);
                }
                if next.as_slice() == b"0" {
                    break;
                }
                cursor.clone_from(next);
            }
        }
        let mut sessions: Vec<UserSession> = sessions.into_values().collect();
        sessions.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
        Ok(sessions)
    }

    /// Pops the user's sets in rounds of at most `USER_ROUND` members,
    /// tombstoning the live sessions among them, until `limit` are revoked
    /// or the sets are empty: no round lists a set again, so revoking a
    /// user with `n` sessions in batches is `O(n)` in all.
    async fn revoke_user(
        &self,
        cookie_name: &str,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.check_user_index()?;
        let except = except.map(|key| self.key(key)).unwrap_or_default();
        let mut revoked = 0;
        for (set, cookie_name) in self.user_sets(cookie_name, user) {
            while revoked < limit {
                let round = (limit - revoked).min(USER_ROUND);
                let mut invocation = SCRIPTS[7].key(&set);
                invocation
                    .arg(user)
                    .arg(round)
                    .arg(&except)
                    .arg(TOMBSTONE_TTL.as_secs())
                    .arg(cookie_name);
                let Value::Array(reply) = self.run(invocation).await? else {
                    return Err(malformed("a revocation round"));
                };
                let [done, popped] = reply.as_slice() else {
                    return Err(malformed("a revocation round"));
                };
                revoked += usize::try_from(number(done)?).map_err(|_| malformed("a count"))?;
                if number(popped)? < u64::try_from(round).unwrap_or(u64::MAX) {
                    break;
                }
            }
        }
        Ok(revoked)
    }
}

/// A client of the same server that speaks RESP3, for a connection of its
/// own that receives push messages (a near cache's tracking, a managed key
/// ring's channel).
pub(in crate::store) fn resp3_client(client: &redis::Client) -> Result<redis::Client, StoreError> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings)).map_err(error)
}

/// A hash's field and value.
type HashPair = (Vec<u8>, Vec<u8>);

/// The pairs of a hash as `HGETALL` answers (an array in RESP2, a map in
/// RESP3), bytes each.
fn hash_pairs(value: Value) -> Result<Vec<HashPair>, StoreError> {
    let bytes = |value: Value| match value {
        Value::BulkString(bytes) => Ok(bytes),
        _ => Err(malformed("a hash field")),
    };
    match value {
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(field, value)| Ok((bytes(field)?, bytes(value)?)))
            .collect(),
        Value::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(field), Some(value)) = (items.next(), items.next()) {
                pairs.push((bytes(field)?, bytes(value)?));
            }
            Ok(pairs)
        }
        Value::Nil => Ok(Vec::new()),
        _ => Err(malformed("a hash")),
    }
}

impl RedisStore {
    /// Tells the managed rings watching (see [`KeyStore::watch_keys`])
    /// that the keys changed: a message on the channel `<prefix>keys`.
    /// Best effort: a ring that misses it reads the change at its next
    /// poll.
    ///
    /// [`KeyStore::watch_keys`]: super::KeyStore::watch_keys
    async fn announce_keys(&self) {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(format!("{}keys", self.prefix)).arg("");
        let _ = self.query(&publish).await;
    }
}

/// Keys in the hash `<prefix>keys` (number → times and sealed secret),
/// revocations in `<prefix>keys:revoked` (number → time), each written
/// with `HSETNX`, so two instances making the same key or revoking it
/// twice keep the first. Neither expires. Each change is published on the
/// channel `<prefix>keys`; a single server's rings subscribe to it (not on
/// Redis Cluster, where they poll).
impl super::KeyStore for RedisStore {
    async fn load_keys(&self) -> Result<Vec<super::StoredKey>, StoreError> {
        let mut keys = redis::cmd("HGETALL");
        keys.arg(format!("{}keys", self.prefix));
        let mut revoked = redis::cmd("HGETALL");
        revoked.arg(format!("{}keys:revoked", self.prefix));
        let keys = hash_pairs(self.query(&keys).await?)?;
        let revoked = hash_pairs(self.query(&revoked).await?)?;
        let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok();
        let revoked: std::collections::HashMap<u64, u64> = revoked
            .iter()
            .filter_map(|(kid, at)| Some((number(kid)?, number(at)?)))
            .collect();
        Ok(keys
            .iter()
            .filter_map(|(kid, value)| {
                let number = number(kid)?;
                let kid = u32::try_from(number).ok()?;
                super::decode_key(kid, value, revoked.get(&number).copied())
            })
            .collect())
    }

    async fn add_key(&self, key: &super::StoredKey) -> Result<bool, StoreError> {
        let mut command = redis::cmd("HSETNX");
        command
            .arg(format!("{}keys", self.prefix))
            .arg(key.kid)
            .arg(super::encode_key(key));
        let added = number(&self.query(&command).await?)? == 1;
        if added {
            self.announce_keys().await;
        }
        Ok(added)
    }

    async fn revoke_key(&self, kid: u32, at: u64) -> Result<bool, StoreError> {
        let mut exists = redis::cmd("HEXISTS");
        exists.arg(format!("{}keys", self.prefix)).arg(kid);
        if number(&self.query(&exists).await?)? == 0 {
            return Ok(false);
        }
        let mut command = redis::cmd("HSETNX");
        command
            .arg(format!("{}keys:revoked", self.prefix))
            .arg(kid)
            .arg(at);
        let revoked = number(&self.query(&command).await?)? == 1;
        if revoked {
            self.announce_keys().await;
        }
        Ok(revoked)
    }

    async fn remove_key(&self, kid: u32) -> Result<bool, StoreError> {
        let mut command = redis::cmd("HDEL");
        command.arg(format!("{}keys", self.prefix)).arg(kid);
        let removed = number(&self.query(&command).await?)? == 1;
        let mut revoked = redis::cmd("HDEL");
        revoked.arg(format!("{}keys:revoked", self.prefix)).arg(kid);
        self.query(&revoked).await?;
        if removed {
            self.announce_keys().await;
        }
        Ok(removed)
    }

    /// A RESP3 connection of its own subscribed to `<prefix>keys`, waking
    /// `wake` at each message and once at each (re)connection (a change
    /// may have gone by while it was down); it reconnects after a second,
    /// and ends with `wake`.
    fn watch_keys(&self, wake: std::sync::Weak<tokio::sync::Notify>) -> bool {
        use redis::{AsyncConnectionConfig, PushInfo, PushKind};
        let Some(client) = &self.client else {
            return false;
        };
        let Ok(client) = resp3_client(client) else {
            return false;
        };
        let channel = format!("{}keys", self.prefix);
        tokio::spawn(async move {
            let pause = std::time::Duration::from_secs(1);
            while wake.strong_count() > 0 {
                let lost = Arc::new(tokio::sync::Notify::new());
                let (ring, gone) = (wake.clone(), Arc::clone(&lost));
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(pause * 2))
                    .set_push_sender(move |push: PushInfo| {
                        match push.kind {
                            PushKind::Message => {
                                if let Some(ring) = ring.upgrade() {
                                    ring.notify_one();
                                }
                            }
                            PushKind::Disconnection => gone.notify_one(),
                            _ => {}
                        }
                        Ok::<(), std::convert::Infallible>(())
                    });
                if let Ok(mut connection) = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    && connection.subscribe(&channel).await.is_ok()
                {
                    let Some(ring) = wake.upgrade() else { return };
                    ring.notify_one();
                    drop(ring);
                    loop {
                        match tokio::time::timeout(pause * 5, lost.notified()).await {
                            Ok(()) => break,
                            Err(_) if wake.strong_count() == 0 => return,
                            Err(_) => {}
                        }
                    }
                }
                tokio::time::sleep(pause).await;
            }
        });
        true
    }
}

impl RevocationTimes for RedisStore {
    async fn revoked_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        let mut command = redis::cmd("GET");
        command.arg(format!("{}revoked:{user}", self.prefix));
        match self.query(&command).await? {
            Value::Nil => Ok(None),
            value => number(&value).map(Some),
        }
    }

    async fn revoke_before(
        &self,
        user: &str,
        at: u64,
        keep_for: u64,
    ) -> Result<Revoked, StoreError> {
        let mut invocation = SCRIPTS[6].key(format!("{}revoked:{user}", self.prefix));
        invocation.arg(at).arg(keep_for);
        match self.run(invocation).await? {
            Value::Array(values) if values.len() == 2 => {
                let previous = match &values[0] {
                    Value::Int(-1) => None,
                    value => Some(number(value)?),
                };
                Ok(Revoked::new(previous, number(&values[1])?))
            }
            _ => Err(malformed("a revocation")),
        }
    }

    /// Redis expires them by itself (each lives `keep_for`).
    async fn delete_expired_revocations(&self, _: u64, _: usize) -> Result<usize, StoreError> {
        Ok(0)
    }
}
