//! A managed key ring: the keys live in a store, each sealed under a root
//! secret, and every instance keeps its [`KeyRing`] in step with them.
//!
//! The model is ASP.NET Core's Data Protection. A new key is made ahead of
//! use and starts sealing only after an activation delay long enough for
//! every instance to have read it, so no instance meets a session sealed
//! with a key it does not know. Keys rotate on a schedule; a key that no
//! longer seals keeps verifying for a retention period (as long as a
//! session sealed with it can live), then it is removed. A key can be
//! revoked at once: every instance drops it at its next refresh, and every
//! session it sealed is refused. Instances poll the store every refresh
//! interval; where the store tells of changes (PostgreSQL through a trigger
//! and `LISTEN`, a single Redis server through a channel) they read them at
//! once, and the poll only catches what a notification missed.
//!
//! What happens when, for a key `k` (times in Unix milliseconds):
//!
//! | state | when | seals | verifies |
//! | --- | --- | --- | --- |
//! | pending | `now < k.activates_at` | no | yes: instances whose clock runs ahead may seal with it |
//! | current | the newest active key | yes | yes |
//! | previous | replaced less than `retain` ago | no | yes |
//! | retired | replaced `retain` ago or more | no | no: removed from the store |
//! | revoked | `k.revoked_at` set | no | no |

use super::{KeyRing, MasterKey};
use crate::config::{Clock, SystemClock};
use crate::store::{KeyStore, StoreError, StoredKey};
use aes_gcm::aead::AeadInOut as _;
use aes_gcm::aead::inout::InOutBuf;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The sealed form of a key's secret: format, the root key's id, nonce,
/// the secret encrypted, tag.
const SEALED_FORMAT: u8 = 1;
const SECRET_LEN: usize = 64;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SEALED_LEN: usize = 2 + NONCE_LEN + SECRET_LEN + TAG_LEN;
const AAD_PREFIX: &[u8] = b"sessionkit managed key v1";

/// The longest duration a policy takes: far past any session, and far
/// from the millisecond clock's end.
const MAX_POLICY_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How long a refresh woken by a notification waits for the rest of a
/// burst of changes.
const NOTIFICATION_SETTLE: Duration = Duration::from_millis(20);

/// How a managed key ring rotates. Every duration must be positive, and
/// the activation delay at least twice the refresh interval, so every
/// instance that refreshes has read a key before it seals.
#[derive(Clone)]
pub struct KeyPolicy {
    refresh: Duration,
    activation_delay: Duration,
    rotate_every: Duration,
    retain: Duration,
    clock: Arc<dyn Clock>,
}

impl Default for KeyPolicy {
    /// Refresh every minute, activate new keys after 5 minutes, rotate
    /// every 30 days, keep a replaced key verifying for 30 days (the
    /// layer's default absolute timeout: no session outlives it).
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(60),
            activation_delay: Duration::from_secs(5 * 60),
            rotate_every: Duration::from_secs(30 * 24 * 3600),
            retain: Duration::from_secs(30 * 24 * 3600),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for KeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPolicy")
            .field("refresh", &self.refresh)
            .field("activation_delay", &self.activation_delay)
            .field("rotate_every", &self.rotate_every)
            .field("retain", &self.retain)
            .finish_non_exhaustive()
    }
}

impl KeyPolicy {
    /// How often each instance reads the keys: the bound on how long a
    /// revoked key keeps opening sessions on an instance, and on how late
    /// an instance learns a new key (default 60 s). With a store that
    /// notifies, changes arrive within milliseconds; this bounds the ones
    /// a notification missed.
    #[must_use]
    pub fn with_refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// How long after it is made a new key starts sealing (default 5
    /// minutes; at least twice the refresh interval).
    #[must_use]
    pub fn with_activation_delay(mut self, delay: Duration) -> Self {
        self.activation_delay = delay;
        self
    }

    /// How long a key seals before the next one replaces it (default 30
    /// days).
    #[must_use]
    pub fn with_rotation(mut self, every: Duration) -> Self {
        self.rotate_every = every;
        self
    }

    /// How long a replaced key keeps verifying: at least as long as a
    /// session can live after it was last sealed (the layer's absolute
    /// timeout, or its lifetime if shorter). Default 30 days, the default
    /// absolute timeout.
    #[must_use]
    pub fn with_retention(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// The clock the key times are read from (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The refresh interval.
    #[must_use]
    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    fn check(&self) -> Result<(), ManagedKeyError> {
        let durations = [
            self.refresh,
            self.activation_delay,
            self.rotate_every,
            self.retain,
        ];
        let problem = if durations.contains(&Duration::ZERO) {
            Some("every duration must be positive")
        } else if durations.iter().any(|d| *d > MAX_POLICY_DURATION) {
            Some("no duration may exceed 100 years")
        } else if self.activation_delay < self.refresh * 2 {
            Some(
                "the activation delay must be at least twice the refresh interval, or an instance may meet a key it has not read yet",
            )
        } else if self.rotate_every <= self.activation_delay {
            Some("the rotation period must be longer than the activation delay")
        } else {
            None
        };
        problem.map_or(Ok(()), |problem| {
            Err(ManagedKeyError::Policy(format!("{problem} ({self:?})")))
        })
    }

    fn now(&self) -> u64 {
        unix_millis(self.clock.now())
    }
}

fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

fn time(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What a managed key ring could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagedKeyError {
    /// The store failed: the keys already held are kept.
    #[error("the key store failed: {0}")]
    Store(#[from] StoreError),
    /// The policy is not usable.
    #[error("key policy refused: {0}")]
    Policy(String),
    /// No key of the store opens under the root secret: another root, or
    /// the records were changed.
    #[error(
        "no key in the store opens under this root secret ({0} keys kept): is the root secret the one the keys were made under?"
    )]
    NoUsableKey(usize),
    /// No key has that number.
    #[error("no key {0} in the store")]
    NoSuchKey(u32),
    /// The OS random source failed while making a key.
    #[error(transparent)]
    Random(#[from] crate::id::RandomSourceError),
    /// Sealing a new key under the root secret failed (AES-GCM refuses
    /// only inputs far larger than a key).
    #[error("sealing a new key under the root secret failed")]
    Seal,
}

/// Where a key is in its life (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Made, not sealing yet; verifies.
    Pending,
    /// Seals and verifies.
    Current,
    /// Replaced; verifies until it retires.
    Previous,
    /// Replaced long enough ago that no session can carry it: removed at
    /// the next refresh.
    Retired,
    /// Revoked: neither seals nor verifies.
    Revoked,
}

/// One key, as `sessionkit keys list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's number.
    pub kid: u32,
    /// Its state now.
    pub state: KeyState,
    /// When it was made.
    pub created_at: SystemTime,
    /// When it starts (or started) sealing.
    pub activates_at: SystemTime,
    /// When the next key replaced it, if one has.
    pub replaced_at: Option<SystemTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
    /// The key id byte of the values it seals (what `sessionkit inspect`
    /// shows), when it opens under this root secret. Several keys may
    /// share one: each is tried.
    pub envelope_id: Option<u8>,
}

/// How an instance's key ring stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key that seals here.
    pub current: u32,
    /// How many keys verify here.
    pub verifying: usize,
    /// When the keys were last read from the store.
    pub refreshed_at: SystemTime,
    /// Since when reading them fails, if it does: the keys held are kept
    /// meanwhile (a key made since is not known here yet, a key revoked
    /// since still verifies here).
    pub failing_since: Option<SystemTime>,
    /// The last failure, if reading fails.
    pub last_error: Option<String>,
    /// Whether the store tells this instance of changes (PostgreSQL,
    /// single-server Redis), which it then reads at once; else it polls
    /// alone, every refresh interval.
    pub notifications: bool,
}

/// What [`plan`] decides from the keys in the store at one time.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The keys that verify, the sealing one first, then newest first.
    pub(crate) verifying: Vec<u32>,
    /// Keys to remove from the store.
    pub(crate) retire: Vec<u32>,
    /// A key to make, activating at this time.
    pub(crate) make: Option<u64>,
}

/// When each active key was replaced: the activation of the next active
/// key after it.
fn replaced_at(keys: &[&StoredKey], key: &StoredKey, now: u64) -> Option<u64> {
    keys.iter()
        .filter(|other| other.activates_at <= now)
        .filter(|other| (other.activates_at, other.kid) > (key.activates_at, key.kid))
        .map(|other| other.activates_at)
        .min()
}

/// The ring's rules, a pure function of the stored keys, the time and the
/// policy (see the [module docs](self)).
pub(crate) fn plan(records: &[StoredKey], now: u64, policy: &KeyPolicy) -> Plan {
    // an instance may seal with a replaced key until its next refresh
    // (and its jitter): the retention counts from then
    let retain = millis(policy.retain).saturating_add(millis(policy.refresh.mul_f64(1.1)));
    let valid: Vec<&StoredKey> = records.iter().filter(|k| k.revoked_at.is_none()).collect();
    let mut retire: Vec<u32> = records
        .iter()
        .filter(|k| {
            k.revoked_at
                .is_some_and(|at| at.saturating_add(retain) <= now)
        })
        .map(|k| k.kid)
        .collect();
    let newest_first =
        |a: &&StoredKey, b: &&StoredKey| (b.activates_at, b.kid).cmp(&(a.activates_at, a.kid));
    let mut active: Vec<&StoredKey> = valid
        .iter()
        .copied()
        .filter(|k| k.activates_at <= now)
        .collect();
    active.sort_by(newest_first);
    let mut pending: Vec<&StoredKey> = valid
        .iter()
        .copied()
        .filter(|k| k.activates_at > now)
        .collect();
    pending.sort_by(newest_first);
    let mut verifying = Vec::new();
    if let Some((current, older)) = active.split_first() {
        verifying.push(current.kid);
        verifying.extend(pending.iter().map(|k| k.kid));
        for key in older {
            match replaced_at(&valid, key, now) {
                Some(at) if at.saturating_add(retain) <= now => retire.push(key.kid),
                _ => verifying.push(key.kid),
            }
        }
    } else {
        // nothing active: every sealing key was revoked and the next is
        // still pending. Seal with the pending key made first rather than
        // with none (an emergency: instances that have not read it yet
        // refuse its sessions until they do)
        let mut by_age = pending.clone();
        by_age.reverse();
        verifying.extend(by_age.iter().map(|k| k.kid));
    }
    let make = match (active.first(), pending.is_empty()) {
        // no key at all, or all revoked: one that seals at once
        (None, true) => Some(now),
        (Some(current), true)
            if current
                .activates_at
                .saturating_add(millis(policy.rotate_every))
                <= now.saturating_add(millis(policy.activation_delay)) =>
        {
            Some(now.saturating_add(millis(policy.activation_delay)))
        }
        _ => None,
    };
    retire.sort_unstable();
    Plan {
        verifying,
        retire,
        make,
    }
}

/// The plan's verifying keys that open under the root, the one that seals
/// here first: the plan's if it opens, else the newest active key that
/// does (never a pending one while an active one opens: instances that
/// have not read it would refuse what it seals), else the first that does.
fn usable(plan: &Plan, opened: &HashMap<u32, Opened>, now: u64) -> (Option<u32>, Vec<MasterKey>) {
    let open: Vec<(u32, &Opened)> = plan
        .verifying
        .iter()
        .filter_map(|kid| Some((*kid, opened.get(kid)?)))
        .collect();
    let sealing = open
        .iter()
        .position(|(_, key)| key.record.activates_at <= now)
        .or((!open.is_empty()).then_some(0));
    let Some(sealing) = sealing else {
        return (None, Vec::new());
    };
    let mut keys = vec![open[sealing].1.key.clone()];
    keys.extend(
        open.iter()
            .enumerate()
            .filter(|(at, _)| *at != sealing)
            .map(|(_, (_, key))| key.key.clone()),
    );
    (Some(open[sealing].0), keys)
}

/// Each of `records` as [`ManagedKeys::keys`] shows it, oldest first.
fn infos(records: &[StoredKey], opened: &HashMap<u32, Opened>, policy: &KeyPolicy) -> Vec<KeyInfo> {
    let now = policy.now();
    let plan = plan(records, now, policy);
    let sealing = usable(&plan, opened, now).0;
    let valid: Vec<&StoredKey> = records.iter().filter(|k| k.revoked_at.is_none()).collect();
    let mut keys: Vec<KeyInfo> = records
        .iter()
        .map(|key| {
            let state = if key.revoked_at.is_some() {
                KeyState::Revoked
            } else if sealing == Some(key.kid) {
                KeyState::Current
            } else if key.activates_at > now {
                KeyState::Pending
            } else if plan.retire.contains(&key.kid) {
                KeyState::Retired
            } else {
                KeyState::Previous
            };
            KeyInfo {
                kid: key.kid,
                state,
                created_at: time(key.created_at),
                activates_at: time(key.activates_at),
                replaced_at: replaced_at(&valid, key, now).map(time),
                revoked_at: key.revoked_at.map(time),
                envelope_id: opened.get(&key.kid).map(|opened| opened.key.id()),
            }
        })
        .collect();
    keys.sort_by_key(|key| key.kid);
    keys
}

/// What the refresher and the handles share.
struct Shared<K> {
    store: K,
    root: KeyRing,
    policy: KeyPolicy,
    /// The ring the layers hold; weak, so that dropping every layer and
    /// handle ends the refresher.
    ring: Weak<arc_swap::ArcSwap<super::key::Keys>>,
    state: Mutex<State>,
}

/// A key opened under the root, with the record it was opened from: a
/// record changed under the same number (a restore, a number used again
/// after a retirement, a changed row) is opened again, never served from
/// what the old record held.
#[derive(Clone)]
struct Opened {
    record: StoredKey,
    key: MasterKey,
}

impl Opened {
    /// Whether `record` is the one this was opened from (its revocation
    /// aside, which only ever comes later).
    fn from(&self, record: &StoredKey) -> bool {
        let mut unrevoked = record.clone();
        unrevoked.revoked_at = self.record.revoked_at;
        unrevoked == self.record
    }
}

struct State {
    records: Vec<StoredKey>,
    /// Keys opened under the root secret, by number.
    opened: HashMap<u32, Opened>,
    status: KeyStatus,
}

/// A key ring kept in a store and shared by every instance (see the
/// [module docs](crate::seal::managed) for the states of a key).
///
/// ```
/// use session_runtime::{KeyPolicy, ManagedKeys, MasterKey, MemoryStore, SessionLayer};
/// # #[derive(session_runtime::Session, Default)] struct Prefs { dark: bool }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // the root secret comes from the environment; the keys from the store
/// let root = MasterKey::from_secret(&[7; 32])?;
/// let keys = ManagedKeys::start(MemoryStore::default(), root).await?;
/// let layer = SessionLayer::<Prefs>::new(keys.ring());
/// assert_eq!(keys.status().current, 1);
/// # let _ = layer; Ok(()) }
/// ```
pub struct ManagedKeys<K> {
    shared: Arc<Shared<K>>,
    ring: KeyRing,
}

impl<K> Clone for ManagedKeys<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            ring: self.ring.clone(),
        }
    }
}

impl<K> std::fmt::Debug for ManagedKeys<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKeys")
            .field("policy", &self.shared.policy)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl<K> ManagedKeys<K> {
    /// The ring to give the layers ([`SessionLayer::new`](crate::SessionLayer::new),
    /// [`with_keys`](crate::SessionLayer::with_keys)): every clone follows
    /// the store.
    #[must_use]
    pub fn ring(&self) -> KeyRing {
        self.ring.clone()
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &KeyPolicy {
        &self.shared.policy
    }

    /// How this instance's ring stands.
    #[must_use]
    pub fn status(&self) -> KeyStatus {
        self.lock().status.clone()
    }

    /// Every key in the store as last read, oldest first.
    #[must_use]
    pub fn keys(&self) -> Vec<KeyInfo> {
        let state = self.lock();
        infos(&state.records, &state.opened, &self.shared.policy)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: KeyStore> ManagedKeys<K> {
    /// Reads the keys from `store` (making the first one if there is none)
    /// and refreshes them in the background under the default
    /// [`KeyPolicy`]. `root` seals and opens the keys' secrets: keep it
    /// out of the store (the environment, a secret manager); a ring with
    /// previous keys lets the root secret itself be rotated.
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError`] when the store fails or no key opens under
    /// `root`: an instance cannot start without keys.
    pub async fn start(store: K, root: impl Into<KeyRing>) -> Result<Self, ManagedKeyError> {
        Self::start_with(store, root, KeyPolicy::default()).await
    }

    /// As [`start`](Self::start), under `policy`. Needs a tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), and [`ManagedKeyError::Policy`].
    pub async fn start_with(
        store: K,
        root: impl Into<KeyRing>,
        policy: KeyPolicy,
    ) -> Result<Self, ManagedKeyError> {
        let keys = Self::load(store, root, policy).await?;
        // the task keeps what it needs, and ends with the ring: a layer
        // holding only the ring (every handle dropped) keeps it refreshed
        let shared = Arc::clone(&keys.shared);
        let every = keys.shared.policy.refresh;
        // the store's notifications, where it has them, wake the task
        // before its poll
        let wake = Arc::new(tokio::sync::Notify::new());
        let notified = keys.shared.store.watch_keys(Arc::downgrade(&wake));
        keys.lock().status.notifications = notified;
        tokio::spawn(async move {
            loop {
                // up to a tenth later, so a fleet started at once does not
                // read in step
                let jitter = every.mul_f64(rand::random::<f64>() / 10.0);
                if tokio::time::timeout(every + jitter, wake.notified())
                    .await
                    .is_ok()
                {
                    // changes come in bursts (a key made, then revoked):
                    // one read for them
                    tokio::time::sleep(NOTIFICATION_SETTLE).await;
                }
                let Some(ring) = KeyRing::upgrade(&shared.ring) else {
                    break;
                };
                let keys = Self {
                    shared: Arc::clone(&shared),
                    ring,
                };
                // a failure is logged and kept in the status
                let _ = keys.refresh().await;
            }
        });
        Ok(keys)
    }

    /// The keys in `store` as [`keys`](Self::keys) shows them, reading
    /// and changing nothing (not even making a first key): what
    /// `sessionkit keys list` prints.
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError::Store`] when the store fails.
    pub async fn list(
        store: &K,
        root: impl Into<KeyRing>,
        policy: &KeyPolicy,
    ) -> Result<Vec<KeyInfo>, ManagedKeyError> {
        let root = root.into();
        let records = store.load_keys().await?;
        let opened = records
            .iter()
            .filter_map(|record| {
                let key = open(&root, record)?;
                let record = record.clone();
                Some((record.kid, Opened { record, key }))
            })
            .collect();
        Ok(infos(&records, &opened, policy))
    }

    /// As [`start_with`](Self::start_with), without the background
    /// refresh: for tools (`sessionkit keys`) that read, change and exit.
    ///
    /// # Errors
    ///
    /// As [`start_with`](Self::start_with).
    pub async fn load(
        store: K,
        root: impl Into<KeyRing>,
        policy: KeyPolicy,
    ) -> Result<Self, ManagedKeyError> {
        policy.check()?;
        let root = root.into();
        let now = policy.now();
        let (opened, records) = Self::read(&store, &root, &policy, HashMap::new(), &[]).await?;
        let plan = plan(&records, now, &policy);
        let (current, keys) = usable(&plan, &opened, now);
        let Some(current) = current else {
            return Err(ManagedKeyError::NoUsableKey(records.len()));
        };
        let status = KeyStatus {
            current,
            verifying: keys.len(),
            refreshed_at: time(now),
            failing_since: None,
            last_error: None,
            notifications: false,
        };
        let ring = KeyRing::of(keys);
        let shared = Arc::new(Shared {
            store,
            root,
            policy,
            ring: ring.downgrade(),
            state: Mutex::new(State {
                records,
                opened,
                status,
            }),
        });
        Ok(Self { shared, ring })
    }

    /// Reads the keys now: makes the next one when the rotation is due
    /// (or the first one), removes retired ones, and puts what verifies in
    /// the ring. On a store failure the ring keeps the keys it holds, the
    /// failure is logged (warning) and kept in [`status`](Self::status).
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError`] when the store fails.
    pub async fn refresh(&self) -> Result<(), ManagedKeyError> {
        let result = self.try_refresh().await;
        if let Err(err) = &result {
            let now = time(self.shared.policy.now());
            let mut state = self.lock();
            let status = &mut state.status;
            status.failing_since.get_or_insert(now);
            status.last_error = Some(err.to_string());
            metrics::counter!("sessionkit_key_ring_refresh_failures_total").increment(1);
            tracing::warn!(error = %err, keys = status.verifying, current = status.current, "key ring refresh failed: keeping the keys held");
        }
        result
    }

    async fn try_refresh(&self) -> Result<(), ManagedKeyError> {
        let shared = &self.shared;
        let (opened, held) = {
            let state = self.lock();
            (state.opened.clone(), state.records.clone())
        };
        let (opened, mut records) =
            Self::read(&shared.store, &shared.root, &shared.policy, opened, &held).await?;
        let now = shared.policy.now();
        let plan = plan(&records, now, &shared.policy);
        for kid in &plan.retire {
            if shared.store.remove_key(*kid).await? {
                tracing::info!(kid, "managed key retired");
            }
        }
        records.retain(|key| !plan.retire.contains(&key.kid));
        let (current, keys) = usable(&plan, &opened, now);
        let mut state = self.lock();
        // no key that opens: keep what is held (the start refused that)
        if let Some(current) = current {
            if state.status.current != current {
                tracing::info!(kid = current, "managed key now sealing");
            }
            state.status.current = current;
            state.status.verifying = keys.len();
            self.ring.replace(keys);
        }
        state.status.refreshed_at = time(now);
        state.status.failing_since = None;
        state.status.last_error = None;
        state.records = records;
        state.opened = opened;
        Ok(())
    }

    /// Puts back what this instance read and the store lost: a record
    /// missing (a Redis restarted without persistence, a database restored
    /// from before it, a hash evicted) unless the plan retires it anyway, and
    /// a revocation the store no longer has (revocations only ever come,
    /// so one known here stands). A record the store holds under the same
    /// number with other contents is the store's: left alone. `true` when
    /// anything was written.
    async fn restore(
        store: &K,
        records: &[StoredKey],
        held: &[StoredKey],
        now: u64,
        policy: &KeyPolicy,
    ) -> Result<bool, ManagedKeyError> {
        let retiring = plan(held, now, policy).retire;
        let mut restored = 0;
        for key in held {
            let there = records.iter().find(|record| record.kid == key.kid);
            match there {
                None if !retiring.contains(&key.kid) => {
                    if store.add_key(key).await? {
                        restored += 1;
                    }
                    if let Some(at) = key.revoked_at {
                        store.revoke_key(key.kid, at).await?;
                    }
                }
                Some(record) if record.revoked_at.is_none() => {
                    if let Some(at) = key.revoked_at
                        && record.sealed == key.sealed
                        && store.revoke_key(key.kid, at).await?
                    {
                        restored += 1;
                    }
                }
                _ => {}
            }
        }
        if restored > 0 {
            tracing::warn!(
                keys = restored,
                "the key store had lost keys or revocations this instance read: put back"
            );
        }
        Ok(restored > 0)
    }

    /// Reads the records, putting back what the store lost and making a
    /// key when the plan says so, and opens the ones not opened yet. A
    /// store whose keys none opens under `root` is left as it is.
    async fn read(
        store: &K,
        root: &KeyRing,
        policy: &KeyPolicy,
        mut opened: HashMap<u32, Opened>,
        held: &[StoredKey],
    ) -> Result<(HashMap<u32, Opened>, Vec<StoredKey>), ManagedKeyError> {
        let mut records = store.load_keys().await?;
        let now = policy.now();
        if !held.is_empty() && Self::restore(store, &records, held, now, policy).await? {
            records = store.load_keys().await?;
        }
        // opened first, so that the check below and the ring use the same
        // decryptions (each record opened once while it stays the same)
        open_new(root, &records, &mut opened);
        // another root (or changed rows): making a key nobody else can
        // open would split the fleet (a revoked key that opens says the
        // root is right)
        let usable = !opened.is_empty()
            || records
                .iter()
                .any(|record| record.revoked_at.is_some() && open(root, record).is_some());
        if !records.is_empty() && !usable {
            return Err(ManagedKeyError::NoUsableKey(records.len()));
        }
        if let Some(activates_at) = plan(&records, now, policy).make {
            // a number never seen here, not even in a record retired since
            let kid = records
                .iter()
                .chain(held)
                .map(|k| k.kid)
                .max()
                .map_or(1, |kid| kid + 1);
            if Self::make(store, root, kid, now, activates_at).await? {
                tracing::info!(
                    kid,
                    activates_in_ms = activates_at.saturating_sub(now),
                    "managed key made"
                );
            }
            // made here or by another instance first: read what is there
            records = store.load_keys().await?;
            open_new(root, &records, &mut opened);
        }
        Ok((opened, records))
    }

    async fn make(
        store: &K,
        root: &KeyRing,
        kid: u32,
        now: u64,
        activates_at: u64,
    ) -> Result<bool, ManagedKeyError> {
        let mut secret = [0u8; SECRET_LEN];
        crate::id::fill_random(&mut secret)?;
        let mut key = StoredKey {
            kid,
            created_at: now,
            activates_at,
            revoked_at: None,
            sealed: Vec::new(),
        };
        key.sealed = seal(root, &key, secret)?;
        Ok(store.add_key(&key).await?)
    }

    /// Makes the next key now (it starts sealing after the activation
    /// delay), unless one is pending already; returns its number.
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError`] when the store fails.
    pub async fn rotate(&self) -> Result<u32, ManagedKeyError> {
        let shared = &self.shared;
        let kid = Self::make_next(&shared.store, &shared.root, &shared.policy).await?;
        self.refresh().await?;
        Ok(kid)
    }

    /// What `sessionkit keys rotate` does, without a ring: makes the next
    /// key in `store`, activating after `policy`'s delay, unless one is
    /// pending already (returns its number then), and changes nothing
    /// else (no retirement under a policy that may not be the fleet's).
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError::NoUsableKey`] when the store has keys and none
    /// opens under `root` (a key made under another root would split the
    /// fleet); [`ManagedKeyError::Policy`]; a store failure.
    pub async fn make_next(
        store: &K,
        root: &KeyRing,
        policy: &KeyPolicy,
    ) -> Result<u32, ManagedKeyError> {
        policy.check()?;
        let records = store.load_keys().await?;
        let now = policy.now();
        if !records.is_empty() && !records.iter().any(|record| open(root, record).is_some()) {
            return Err(ManagedKeyError::NoUsableKey(records.len()));
        }
        if let Some(pending) = records
            .iter()
            .filter(|k| k.revoked_at.is_none() && k.activates_at > now)
            .map(|k| k.kid)
            .max()
        {
            return Ok(pending);
        }
        let kid = records.iter().map(|k| k.kid).max().map_or(1, |kid| kid + 1);
        let activates_at = now.saturating_add(millis(policy.activation_delay));
        Self::make(store, root, kid, now, activates_at).await?;
        Ok(kid)
    }

    /// What `sessionkit keys revoke` does, without a ring or the root
    /// secret: marks key `kid` revoked in `store`. The instances drop it at
    /// their next refresh (and make a replacement if it sealed and no
    /// other key can).
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError::NoSuchKey`], or a store failure.
    pub async fn revoke_in(store: &K, kid: u32, now: SystemTime) -> Result<(), ManagedKeyError> {
        if store.revoke_key(kid, unix_millis(now)).await? {
            tracing::warn!(kid, "managed key revoked");
            return Ok(());
        }
        if store.load_keys().await?.iter().any(|k| k.kid == kid) {
            // revoked already: the first time stands
            return Ok(());
        }
        Err(ManagedKeyError::NoSuchKey(kid))
    }

    /// Revokes key `kid` in the store: every instance drops it at its
    /// next refresh (this one at once), and refuses every session it
    /// sealed. When it was the key that sealed, the previous key seals
    /// again if there is one, else a new key seals at once (instances
    /// that have not read it yet refuse its sessions until their next
    /// refresh).
    ///
    /// # Errors
    ///
    /// [`ManagedKeyError::NoSuchKey`], or a store failure.
    pub async fn revoke(&self, kid: u32) -> Result<(), ManagedKeyError> {
        let shared = &self.shared;
        Self::revoke_in(&shared.store, kid, shared.policy.clock.now()).await?;
        self.refresh().await
    }
}

/// Brings `opened` in step with `records`: drops what no record holds any
/// more (or holds otherwise), opens the unrevoked records not opened yet.
fn open_new(root: &KeyRing, records: &[StoredKey], opened: &mut HashMap<u32, Opened>) {
    opened.retain(|kid, key| {
        records
            .iter()
            .any(|record| record.kid == *kid && key.from(record))
    });
    for record in records {
        if record.revoked_at.is_none() && !opened.contains_key(&record.kid) {
            match open(root, record) {
                Some(key) => {
                    opened.insert(
                        record.kid,
                        Opened {
                            record: record.clone(),
                            key,
                        },
                    );
                }
                None => tracing::warn!(
                    kid = record.kid,
                    "managed key does not open under the root secret: left out"
                ),
            }
        }
    }
}

/// The bytes a key's sealing is bound to: its number and its two times.
fn aad(key: &StoredKey) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 20);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(&key.kid.to_be_bytes());
    aad.extend_from_slice(&key.created_at.to_be_bytes());
    aad.extend_from_slice(&key.activates_at.to_be_bytes());
    aad
}

/// `secret` sealed under the root ring's current key, for `key`.
fn seal(
    root: &KeyRing,
    key: &StoredKey,
    mut secret: [u8; SECRET_LEN],
) -> Result<Vec<u8>, ManagedKeyError> {
    let keys = root.load();
    let root_key = keys.current();
    let mut nonce = [0u8; NONCE_LEN];
    crate::id::fill_random(&mut nonce)?;
    let tag = root_key
        .aead()
        .encrypt_inout_detached(&nonce.into(), &aad(key), InOutBuf::from(&mut secret[..]))
        .map_err(|_| ManagedKeyError::Seal)?;
    let mut sealed = Vec::with_capacity(SEALED_LEN);
    sealed.extend_from_slice(&[SEALED_FORMAT, root_key.id()]);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&secret);
    sealed.extend_from_slice(&tag);
    Ok(sealed)
}

/// The key `key` holds, opened under one of the root ring's keys; `None`
/// when none opens it (another root, or a changed record).
fn open(root: &KeyRing, key: &StoredKey) -> Option<MasterKey> {
    let sealed = &key.sealed;
    if sealed.len() != SEALED_LEN || sealed[0] != SEALED_FORMAT {
        return None;
    }
    let nonce: [u8; NONCE_LEN] = sealed[2..2 + NONCE_LEN].try_into().ok()?;
    let tag: [u8; TAG_LEN] = sealed[SEALED_LEN - TAG_LEN..].try_into().ok()?;
    let aad = aad(key);
    let keys = root.load();
    for (root_key, _) in keys.candidates(sealed[1]) {
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&sealed[2 + NONCE_LEN..SEALED_LEN - TAG_LEN]);
        if root_key
            .aead()
            .decrypt_inout_detached(
                &nonce.into(),
                &aad,
                InOutBuf::from(&mut secret[..]),
                &tag.into(),
            )
            .is_ok()
        {
            return MasterKey::from_secret(&secret).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests;
