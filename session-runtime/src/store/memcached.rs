//! [`MemcachedStore`]: sessions in memcached, over the memcache crate's
//! async meta-protocol client (pinned: that API is experimental).

use super::{CacheStore, Entry, Lookup, Record, Saved, SessionStore, StoreError, TOMBSTONE_TTL};
use crate::id::StoreKey;
use memcache::exp::{AsyncMetaClient, GetStatus, Meta, MutationStatus};
use std::time::Duration;

const NAME: &str = "memcached";
/// version, expires_at, data length.
const HEADER: usize = 8 + 8 + 4;
/// The version of a tombstone item: real records start at 1.
const TOMBSTONE_VERSION: u64 = 0;
/// Compare-and-set attempts of a cache fill that keeps losing races.
const PUT_ATTEMPTS: usize = 3;

/// Sessions in one or more memcached servers (keys spread by rendezvous
/// hashing). Use it as the cache of a [`Tiered`](super::Tiered) store, or
/// alone for gae-sessions' `no_datastore` mode, where a server restart or
/// an eviction ends sessions. A [`CacheStore`]: it keeps no user index
/// and no revocation times (memcached may evict them), so the durable tier
/// of a `Tiered` store keeps those.
///
/// Saves are compare-and-set twice over: on the session's version, and on
/// memcached's own CAS token, so a write between our read and our write is
/// detected. Items expire by themselves at the session's expiry (absolute
/// Unix time), so [`delete_expired`](SessionStore::delete_expired) has
/// nothing to do. Start memcached with `-I 2m` or more: its default item
/// limit of 1 MiB is below a full-size session with its envelope.
///
/// ```no_run
/// # async fn run() -> Result<(), session_runtime::StoreError> {
/// use session_runtime::store::MemcachedStore;
///
/// let store = MemcachedStore::connect(["10.0.0.1:11211", "10.0.0.2:11211"]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcachedStore {
    client: AsyncMetaClient,
    prefix: String,
    max_record: usize,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("prefix", &self.prefix)
            .field("max_record", &self.max_record)
            .finish_non_exhaustive()
    }
}

fn error(err: memcache::exp::Error) -> StoreError {
    StoreError::backend(NAME, err)
}

fn encode(entry: Entry<'_>, version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entry.len());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&entry.expires_at.to_be_bytes());
    let len = u32::try_from(entry.data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(entry.data);
    out.extend_from_slice(entry.quick);
    out
}

/// Whether `bytes` decode as a memcached session item (for the fuzz
/// targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn decodes(bytes: &[u8]) -> bool {
    decode(bytes).is_ok()
}

/// A record that is neither a tombstone nor expired at `now`.
fn live(record: &Record, now: u64) -> bool {
    record.version != TOMBSTONE_VERSION && record.expires_at > now
}

fn decode(value: &[u8]) -> Result<Record, StoreError> {
    let malformed = || StoreError::backend(NAME, "malformed session item");
    let header = value.get(..HEADER).ok_or_else(malformed)?;
    let number = |range: std::ops::Range<usize>| -> u64 {
        let mut bytes = [0u8; 8];
        bytes[8 - range.len()..].copy_from_slice(&header[range]);
        u64::from_be_bytes(bytes)
    };
    let data_len = usize::try_from(number(16..20)).map_err(|_| malformed())?;
    let body = &value[HEADER..];
    if body.len() < data_len {
        return Err(malformed());
    }
    Ok(Record {
        version: number(0..8),
        expires_at: number(8..16),
        data: body[..data_len].to_vec(),
        quick: body[data_len..].to_vec(),
    })
}

fn tombstone() -> Vec<u8> {
    encode(Entry::new(&[], 0), TOMBSTONE_VERSION)
}

/// memcached reads expiry times over 30 days as absolute Unix seconds,
/// which session expiries always are.
fn ttl(expires_at: u64) -> u32 {
    u32::try_from(expires_at)
        .unwrap_or(u32::MAX)
        .max(60 * 60 * 24 * 30 + 1)
}

impl MemcachedStore {
    /// Connects to `servers` (`host:port` each). Connections are made
    /// lazily; this checks that every server answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when an address does not resolve or a server
    /// does not answer.
    pub async fn connect<A>(servers: impl IntoIterator<Item = A>) -> Result<Self, StoreError>
    where
        A: tokio::net::ToSocketAddrs + memcache::exp::ServerAddress,
    {
        let client = AsyncMetaClient::builder()
            .connect_timeout(Some(Duration::from_secs(2)))
            .io_timeout(Some(Duration::from_secs(2)))
            .connect_multiple_async(servers)
            .await
            .map_err(error)?;
        client.noop().await.map_err(error)?;
        Ok(Self::from_client(client))
    }

    /// A store over a configured client.
    #[must_use]
    pub fn from_client(client: AsyncMetaClient) -> Self {
        Self {
            client,
            prefix: "sessionkit:".to_owned(),
            max_record: crate::codec::DECODE_LIMIT,
        }
    }

    /// Prefixes every key (default `sessionkit:`), to share servers.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Refuses records larger than `bytes` (default 1 MiB,
    /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT)).
    #[must_use]
    pub fn with_max_record(mut self, bytes: std::num::NonZeroUsize) -> Self {
        self.max_record = bytes.get();
        self
    }

    fn key(&self, key: &StoreKey) -> String {
        format!("{}{}", self.prefix, key.to_hex())
    }

    /// The item and its CAS token, if present.
    async fn fetch(&self, key: &str) -> Result<Option<(Record, u64)>, StoreError> {
        let got = self
            .client
            .get(key)
            .meta(Meta::NONE.cas())
            .send()
            .await
            .map_err(error)?;
        match (got.status, got.value) {
            (GetStatus::Hit, Some(value)) => Ok(Some((decode(&value)?, got.item.cas.unwrap_or(0)))),
            _ => Ok(None),
        }
    }

    async fn current(&self, key: &str, now: u64) -> Result<Saved, StoreError> {
        Ok(match self.fetch(key).await? {
            Some((record, _)) if live(&record, now) => Saved::Conflict(record),
            _ => Saved::Missing,
        })
    }

    /// One attempt at a cache fill: `None` when it lost a race and may be
    /// tried again.
    async fn try_put(
        &self,
        key: &str,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<Option<bool>, StoreError> {
        let request = self
            .client
            .set(key, encode(entry, version))
            .ttl_raw(ttl(entry.expires_at));
        let request = match self.fetch(key).await? {
            Some((current, _)) if current.version == TOMBSTONE_VERSION => return Ok(Some(false)),
            Some((current, _)) if current.version >= version => return Ok(Some(false)),
            Some((_, cas)) => request.compare_cas(cas),
            None => request.add(),
        };
        let done = request.send().await.map_err(error)?;
        Ok(match done.status {
            MutationStatus::Applied => Some(true),
            _ => None,
        })
    }
}

impl SessionStore for MemcachedStore {
    const NAME: &'static str = NAME;

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let done = self
            .client
            .set(self.key(key), encode(entry, 1))
            .add()
            .ttl_raw(ttl(entry.expires_at))
            .send()
            .await
            .map_err(error)?;
        match done.status {
            MutationStatus::Applied => Ok(true),
            MutationStatus::AlreadyExists => Ok(false),
            other => Err(StoreError::backend(NAME, format!("add answered {other:?}"))),
        }
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
        StoreError::check_size(&entry, self.max_record)?;
        let key = self.key(key);
        let Some((current, cas)) = self.fetch(&key).await? else {
            return Ok(Saved::Missing);
        };
        if !live(&current, now) {
            return Ok(Saved::Missing);
        }
        if current.version != version {
            return Ok(Saved::Conflict(current));
        }
        let done = self
            .client
            .set(&key, encode(entry, version + 1))
            .compare_cas(cas)
            .ttl_raw(ttl(entry.expires_at))
            .send()
            .await
            .map_err(error)?;
        match done.status {
            MutationStatus::Applied => Ok(Saved::Saved {
                version: version + 1,
            }),
            // someone wrote or deleted between our read and our write
            _ => self.current(&key, now).await,
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let key = self.key(key);
        let existed = self
            .fetch(&key)
            .await?
            .is_some_and(|(record, _)| record.version != TOMBSTONE_VERSION);
        // a relative TTL (under 30 days, memcached reads it as seconds)
        let ttl = u32::try_from(TOMBSTONE_TTL.as_secs()).unwrap_or(60);
        let done = self
            .client
            .set(&key, tombstone())
            .ttl_raw(ttl)
            .send()
            .await
            .map_err(error)?;
        match done.status {
            MutationStatus::Applied => Ok(existed),
            other => Err(StoreError::backend(
                NAME,
                format!("tombstone set answered {other:?}"),
            )),
        }
    }

    async fn delete_expired(&self, _: u64, _: u64, _: usize) -> Result<usize, StoreError> {
        Ok(0)
    }
}

impl CacheStore for MemcachedStore {
    const SHARED: bool = true;

    async fn lookup(
        &self,
        key: &StoreKey,
        now: u64,
        _: Option<Duration>,
    ) -> Result<Lookup, StoreError> {
        Ok(match self.fetch(&self.key(key)).await? {
            Some((record, _)) if record.version == TOMBSTONE_VERSION => Lookup::Gone,
            Some((record, _)) if live(&record, now) => Lookup::Hit(record),
            _ => Lookup::Miss,
        })
    }

    async fn put(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
    ) -> Result<bool, StoreError> {
        StoreError::check_size(&entry, self.max_record)?;
        let key = self.key(key);
        for _ in 0..PUT_ATTEMPTS {
            if let Some(written) = self.try_put(&key, entry, version).await? {
                return Ok(written);
            }
        }
        // others keep writing this key: theirs are at least as new
        Ok(false)
    }

    async fn save_quick(
        &self,
        key: &StoreKey,
        quick: &[u8],
        version: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let key = self.key(key);
        let Some((current, cas)) = self.fetch(&key).await? else {
            return Ok(false);
        };
        if current.version != version || !live(&current, now) {
            return Ok(false);
        }
        let entry = Entry {
            quick,
            ..current.entry()
        };
        StoreError::check_size(&entry, self.max_record)?;
        let done = self
            .client
            .set(&key, encode(entry, version))
            .compare_cas(cas)
            .ttl_raw(ttl(current.expires_at))
            .send()
            .await
            .map_err(error)?;
        // lost to a write between our read and ours: save in full
        Ok(done.status == MutationStatus::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_refuse_garbage() {
        let entry = Entry::new(b"durable", 1_900_000_000).with_quick(b"quick");
        let record = decode(&encode(entry, 7)).unwrap();
        assert_eq!(record, entry.to_record(7));
        assert!(decode(b"short").is_err());
        let mut lying = encode(entry, 7);
        lying[19] = 200; // data length past the end
        assert!(decode(&lying).is_err());
    }
}
