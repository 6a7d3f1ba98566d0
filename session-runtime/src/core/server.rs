//! The server tier: the token carries a signed ID, a store the data.
//!
//! Loading verifies the ID's signature before any store query, so forged
//! or guessed IDs cost nothing and never reach a store; an unknown or
//! expired ID is never adopted (strict mode): the handler gets a fresh
//! session, and a new ID is minted only when it first writes. Saving is a
//! compare-and-set on the record's version; on a conflict the current
//! record is reloaded and this request's changed fields re-applied to it.
//! A session issued anew (a login, `cycle_id`) is created under a fresh
//! ID, then checked against its user's revocation time once more.
//!
//! [`Server`] reads top to bottom: [`load`](Server::load), then
//! [`carry_out`] of the request's [`Plan`] (retire, then write: back to
//! the cookie when an `Adaptive` session is small again, a quick-fields
//! save, a compare-and-set save with merging, or a new record).

use super::guarded::Guarded;
use super::outcome::{Answer, Finish, Outcome, Plan, STORE_UNAVAILABLE};
use super::state::{Loaded, ServerRef};
use super::token::{Incoming, RawValue};
use super::{Core, cookie, lifecycle};
use crate::config::unix_secs;
use crate::data::{SessionData, Storage};
use crate::id::{self, SessionId, StoreKey};
use crate::seal::Meta;
use crate::store::{Entry, Saved, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a layer does when its session store fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutagePolicy {
    /// Answer `503 Service Unavailable` with a plain-text body saying that
    /// the session store is unavailable (the default). When loading fails
    /// the extractor rejects, so the handler does not run; when saving
    /// fails the handler's response is replaced, since it would claim a
    /// change that was not kept. What was saved before stays saved.
    #[default]
    Unavailable,
    /// Let requests through: a session that cannot be loaded is empty for
    /// this request and nothing is written for it (so the user's cookie is
    /// kept for when the store is back); a failed save is logged and the
    /// response goes out without `Set-Cookie`.
    Continue,
}

/// The server side of a layer built with a store: the store behind its
/// guard, and the settings of the server tier.
#[derive(Clone)]
pub(crate) struct ServerTier {
    pub(crate) guarded: Guarded,
    /// The longest a save retries against concurrent writers.
    pub(crate) contention: Duration,
    pub(crate) storage: Storage,
    /// Adaptive sessions whose encoding is at most this long live in the
    /// cookie; 0 keeps every session server-side.
    pub(crate) threshold: usize,
    /// The largest encoded session accepted.
    pub(crate) max_size: usize,
    pub(crate) outage: OutagePolicy,
}

impl std::fmt::Debug for ServerTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTier")
            .field("store", &self.guarded.name())
            .field("storage", &self.storage)
            .field("cookie_threshold", &self.threshold)
            .field("max_size", &self.max_size)
            .field("outage", &self.outage)
            .field("timeout", &self.guarded.timeout)
            .field("contention_timeout", &self.contention)
            .finish()
    }
}

impl ServerTier {
    /// Users' revocation times in this tier's store, behind its guard.
    pub(crate) fn fence(&self) -> super::Revocation {
        super::Revocation {
            guarded: self.guarded.clone(),
        }
    }

    /// Whether quick fields of `S` are sealed apart for a cache tier.
    fn split_quick<S: SessionData>(&self) -> bool {
        self.guarded.store.splits_quick() && S::FIELDS.iter().any(|field| field.quick)
    }
}

/// Loading a server-side session failed and the outage policy says to
/// stop the request (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadError {
    /// The store did not answer.
    Unavailable,
}

/// A session sealed for its row: the durable blob and the quick fields'.
struct Sealed<S> {
    data: Vec<u8>,
    quick: Vec<u8>,
    /// The session's user, for the stores' user index.
    user: Option<String>,
    _session: std::marker::PhantomData<fn() -> S>,
}

impl<S: SessionData> Sealed<S> {
    /// What the store writes at `now`, living as long as `meta` says, in
    /// the user index of the session type whose cookie is `cookie_name`.
    fn entry<'a>(&'a self, cookie_name: &'a str, meta: &Meta, now: u64) -> Entry<'a> {
        Entry::new(&self.data, meta.expires_at)
            .with_shape(S::FINGERPRINT)
            .with_user(cookie_name, self.user.as_deref(), now)
            .with_quick(&self.quick)
    }
}

/// Fresh IDs tried when one is taken (2^-256 each: never, in practice).
const MAX_ID_ATTEMPTS: usize = 3;

/// The pause before retry `attempt` of a conflicting save: exponential from
/// 1 ms, capped at 64 ms, with full jitter so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let ceiling_us = 1_000u64 << attempt.min(6);
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes[..]);
    Duration::from_micros(u64::from_le_bytes(bytes) % ceiling_us)
}

async fn pause(duration: Duration) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(duration).await;
    }
}

/// One request's view of the server tier: the layer's core and store, and
/// how the response answers.
pub(crate) struct Server<'a, S: SessionData> {
    core: &'a Core<S>,
    tier: &'a ServerTier,
    answer: Answer<'a>,
}

/// Carries out `plan` for a server layer, answering in the header when
/// `from_header`: at once when no store call is needed (a read-only
/// request allocates no future), else after the store answers.
pub(crate) fn carry_out<S: SessionData + Send>(
    core: &Arc<Core<S>>,
    from_header: bool,
    loaded: Loaded<S>,
    plan: Plan,
    now: u64,
) -> Finish {
    let needs_store = loaded.state.retire.is_some() || matches!(plan, Plan::Write { .. });
    if !needs_store {
        let refused = loaded.state.refused_token;
        let outcome = match plan {
            Plan::Done(outcome) => outcome,
            Plan::Write { .. } => Outcome::nothing(),
        };
        return Finish::Ready(core.answer(from_header).clear_refused(refused, outcome));
    }
    let core = Arc::clone(core);
    Finish::Pending(Box::pin(async move {
        match Server::of(&core, from_header) {
            Some(server) => server.execute(loaded, plan, now).await,
            None => Outcome::nothing(),
        }
    }))
}

impl<'a, S: SessionData + Send> Server<'a, S> {
    /// The server tier of `core`'s layer, if it has one, for a request
    /// answered in the header when `from_header`.
    pub(crate) fn of(core: &'a Core<S>, from_header: bool) -> Option<Self> {
        Some(Self {
            core,
            tier: core.server.as_ref()?,
            answer: core.answer(from_header),
        })
    }

    fn name(&self) -> &'a str {
        &self.core.cookie_name
    }

    fn metrics(&self) -> &'a crate::telemetry::SessionMetrics {
        &self.core.metrics
    }

    // ---- loading ----

    /// Loads the session the token points to (or, for an `Adaptive` type,
    /// holds), in a `session_load` span (session type, store, the ID's log
    /// tag, outcome) under the request's.
    pub(crate) async fn load(&self, incoming: &Incoming) -> Result<Loaded<S>, LoadError> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            "session_load",
            session = %self.name(),
            store = self.tier.guarded.name(),
            log_tag = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        // a token that is a valid ID of no live record: also refused (its
        // cookie is cleared), but told apart in the span
        let mut unknown = false;
        let result = self
            .load_in(incoming, &mut unknown)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            match &result {
                Ok(loaded) if loaded.state.existing.is_some() => "loaded",
                Ok(loaded) if loaded.state.degraded => "store_failed",
                Ok(_) if unknown => "unknown_or_expired",
                Ok(loaded) if loaded.state.refused_token => "refused",
                Ok(_) => "no_token",
                Err(LoadError::Unavailable) => "unavailable",
            },
        );
        result
    }

    async fn load_in(
        &self,
        incoming: &Incoming,
        unknown: &mut bool,
    ) -> Result<Loaded<S>, LoadError> {
        let had_token = incoming.had_token();
        // the first candidate that is a live session wins (several only
        // when the cookie came more than once)
        for raw in incoming.candidates() {
            if let Some(loaded) = self.load_one(raw, had_token, unknown).await? {
                return Ok(loaded);
            }
        }
        Ok(Loaded::refused(had_token))
    }

    /// One token value: the session it holds or points to, or `None` when
    /// it is not a live session of this layer (refused, unknown, expired;
    /// `unknown` is set for a valid ID whose record is gone).
    async fn load_one(
        &self,
        raw: &RawValue,
        had_token: bool,
        unknown: &mut bool,
    ) -> Result<Option<Loaded<S>>, LoadError> {
        let value = raw.value().unwrap_or_default();
        let adaptive = self.tier.storage != Storage::Server;
        if !id::is_signed_id(value.as_bytes()) {
            // an ID of the old form has no format byte, so a sealed value
            // may have its length: it is an ID only if it does not open
            let legacy = value.len() == id::LEGACY_SIGNED_ID_LEN;
            if adaptive {
                // a sealed value: where small Adaptive sessions live
                match cookie::open(self.core, raw.bytes(), had_token) {
                    Ok(loaded) => return Ok(Some(loaded)),
                    Err(reason) if !legacy => {
                        cookie::refuse(self.core, &reason);
                        return Ok(None);
                    }
                    Err(_) => {}
                }
            }
            if !legacy {
                tracing::debug!(cookie = %self.name(), "data token for a server-only session: starting a new session");
                return Ok(None);
            }
        }
        let keys = self.core.sealer.keys();
        let (id, stale_id) = match SessionId::verify(value, keys, self.name()) {
            Ok(verified) => verified,
            Err(reason) => {
                self.metrics().refused(crate::telemetry::id_reason(&reason));
                tracing::debug!(cookie = %self.name(), %reason, "session id refused before any store query: starting a new session");
                return Ok(None);
            }
        };
        let key = id.store_key();
        tracing::Span::current().record("log_tag", id.log_tag(keys));
        let now = unix_secs(&*self.core.settings.clock);
        let store = &self.tier.guarded.store;
        let record = match self.tier.guarded.call("load", store.load(&key, now)).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                *unknown = true;
                self.metrics().refused("unknown_id");
                tracing::debug!(cookie = %self.name(), session = %id.log_tag(keys), "unknown or expired session id: starting a new session");
                // cleared like a tampered token: left in the browser, a
                // dead ID costs a store lookup on every request
                return Ok(None);
            }
            Err(err) => {
                self.log_outage("load", &err);
                return match self.tier.outage {
                    OutagePolicy::Unavailable => Err(LoadError::Unavailable),
                    _ => {
                        let mut degraded = Loaded::fresh(had_token);
                        degraded.state.degraded = true;
                        Ok(Some(degraded))
                    }
                };
            }
        };
        let version = record.version;
        match self
            .core
            .open_record(&key, record, now, self.tier.guarded.store.splits_quick())
        {
            Ok(mut opened) => {
                self.metrics().loaded();
                opened.stale_key |= stale_id;
                let server = ServerRef { id, version };
                let settings = &self.core.settings;
                let loaded =
                    lifecycle::admit(settings, self.name(), opened, Some(server), now, had_token);
                Ok(Some(loaded))
            }
            Err(reason) => {
                self.metrics()
                    .refused(crate::telemetry::open_reason(&reason));
                tracing::warn!(cookie = %self.name(), session = %id.log_tag(keys), %reason, "session record refused (tampered, another key or codec, or a schema change): starting a new session");
                Ok(None)
            }
        }
    }

    // ---- carrying out the plan ----

    /// The store work of a plan (deleting a retired record, writing the
    /// session), then its outcome, in a `session_save` span (session type,
    /// store, the loaded ID's log tag, outcome) under the request's.
    async fn execute(&self, loaded: Loaded<S>, plan: Plan, now: u64) -> Outcome {
        use tracing::Instrument as _;
        let keys = self.core.sealer.keys();
        let span = tracing::debug_span!(
            "session_save",
            session = %self.name(),
            store = self.tier.guarded.name(),
            log_tag = tracing::field::Empty,
            outcome = tracing::field::Empty,
            sends_token = tracing::field::Empty,
        );
        if let Some(server) = loaded
            .state
            .existing
            .as_ref()
            .and_then(|e| e.server.as_ref())
        {
            span.record("log_tag", server.id.log_tag(keys));
        } else if let Some(id) = &loaded.state.retire {
            span.record("log_tag", id.log_tag(keys));
        }
        let outcome = self
            .execute_in(loaded, plan, now)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            match &outcome.replace {
                Some(replacement) if replacement.status == 503 => "unavailable",
                Some(_) => "failed",
                None => "ok",
            },
        );
        span.record("sends_token", outcome.sets_token());
        outcome
    }

    async fn execute_in(&self, loaded: Loaded<S>, plan: Plan, now: u64) -> Outcome {
        if let Some(id) = &loaded.state.retire {
            // terminated (or timed out): its data must not outlive the cookie
            if let Err(err) = self.delete(&id.store_key()).await {
                return self.save_failed("delete", &err);
            }
        }
        match plan {
            Plan::Write { body, meta } => self.write(loaded, &body, &meta, now).await,
            Plan::Done(outcome) => self
                .answer
                .clear_refused(loaded.state.refused_token, outcome),
        }
    }

    /// Writes the session encoded as `body`: to the cookie when an
    /// `Adaptive` session fits there, else to the store (a quick-fields
    /// save, a save over the loaded record, or a new record).
    async fn write(&self, loaded: Loaded<S>, body: &[u8], meta: &Meta, now: u64) -> Outcome {
        if body.len() > self.tier.max_size {
            tracing::error!(cookie = %self.name(), len = body.len(), max = self.tier.max_size, "session over its size cap: not saved");
            return Outcome::failed(format!(
                "the session is {} bytes encoded, over the cap of {} bytes: not saved",
                body.len(),
                self.tier.max_size
            ));
        }
        let previous = loaded
            .state
            .existing
            .as_ref()
            .and_then(|e| e.server.clone());
        if self.tier.storage == Storage::Adaptive
            && body.len() <= self.tier.threshold
            && let Some(outcome) = cookie::seal(self.core, self.answer, body, meta, now)
        {
            if let Some(previous) = previous {
                // small again: back to the cookie, unless a concurrent
                // request ended the session meanwhile
                match self.delete(&previous.id.store_key()).await {
                    Ok(true) => {}
                    Ok(false) => return self.ended_meanwhile(&previous.id),
                    Err(err) => return self.save_failed("delete", &err),
                }
            }
            self.metrics().saved(crate::telemetry::Tier::Cookie);
            return outcome;
        }
        match previous {
            Some(previous) if !loaded.state.control.cycle => {
                if let Some((key, blob)) = self.quick_only_blob(&previous, &loaded)
                    && self.write_quick(key, blob, previous.version, now).await
                {
                    // the cookie (the ID) and the durable record are unchanged
                    self.metrics().saved(crate::telemetry::Tier::Quick);
                    return Outcome::nothing();
                }
                self.save_existing(previous, loaded, meta, now).await
            }
            Some(previous) => {
                // cycle_id: the old ID stops working first, and a session a
                // concurrent request ended is not carried over to a new ID
                match self.delete(&previous.id.store_key()).await {
                    Ok(true) => self.create_fenced(loaded, meta, now).await,
                    Ok(false) => self.ended_meanwhile(&previous.id),
                    Err(err) => self.save_failed("delete", &err),
                }
            }
            None => self.create_fenced(loaded, meta, now).await,
        }
    }

    /// A request that changed only `#[session(quick)]` fields writes them
    /// to the cache tier alone (gae-sessions' `set_quick`): no durable
    /// write, no new cookie, the record's version and expiry unchanged.
    /// `None` when that does not apply.
    fn quick_only_blob(
        &self,
        server: &ServerRef,
        loaded: &Loaded<S>,
    ) -> Option<(StoreKey, Vec<u8>)> {
        let state = &loaded.state;
        let control = state.control;
        let existing = state.existing.as_ref()?;
        let quick_only = self.tier.split_quick::<S>()
            && !state.changed.is_empty()
            && state
                .changed
                .iter()
                .all(|index| S::FIELDS.get(index).is_some_and(|f| f.quick))
            && control.lifetime.is_none()
            && control.browser_session.is_none()
            && !existing.stale_key;
        if !quick_only {
            return None;
        }
        let key = server.id.store_key();
        let blob = self
            .core
            .seal_quick(&key, &existing.meta, &loaded.data)
            .ok()?;
        Some((key, blob))
    }

    /// Writes a quick-fields blob; `false` when the cache does not hold the
    /// record at the loaded version (or fails): the caller then saves in
    /// full.
    async fn write_quick(&self, key: StoreKey, blob: Vec<u8>, version: u64, now: u64) -> bool {
        let store = &self.tier.guarded.store;
        match self
            .tier
            .guarded
            .call("save_quick", store.save_quick(&key, &blob, version, now))
            .await
        {
            Ok(written) => written,
            Err(err) => {
                // the durable store has the data: save in full instead
                tracing::debug!(cookie = %self.name(), error = %err, "quick-only save failed; saving in full");
                false
            }
        }
    }

    /// A compare-and-set save over the loaded record; on a conflict the
    /// current record is reopened and this request's changes re-applied,
    /// until the save wins or the contention timeout passes.
    async fn save_existing(
        &self,
        server: ServerRef,
        loaded: Loaded<S>,
        meta: &Meta,
        now: u64,
    ) -> Outcome {
        let key = server.id.store_key();
        let Loaded { mut data, state } = loaded;
        let resend = state
            .existing
            .as_ref()
            .is_none_or(|existing| lifecycle::token_changes(existing, meta));
        let changed = state.changed;
        let mut replay = state.replay;
        let mut version = server.version;
        let deadline = Instant::now() + self.tier.contention;
        let mut attempt = 0;
        let store = &self.tier.guarded.store;
        loop {
            let sealed = match self.sealed(&key, meta, &data) {
                Ok(sealed) => sealed,
                Err(failed) => return failed,
            };
            let entry = sealed.entry(&self.core.index_cookie, meta, now);
            let saved = self
                .tier
                .guarded
                .call("save", store.save(&key, entry, version, now))
                .await;
            let current = match saved {
                Ok(Saved::Saved { .. }) => {
                    self.metrics().saved(crate::telemetry::Tier::Store);
                    if !resend {
                        // same ID, same expiry: the client's token stands
                        return Outcome::nothing();
                    }
                    return self.answer.token(
                        &server.id.sign(self.core.sealer.keys(), self.name()),
                        meta,
                        now,
                    );
                }
                Ok(Saved::Missing) => return self.ended_meanwhile(&server.id),
                Ok(Saved::Conflict(current)) => {
                    self.metrics().conflict();
                    current
                }
                Err(err) => return self.save_failed("save", &err),
            };
            // another request saved first: keep its data, re-apply ours
            version = current.version;
            match self
                .core
                .open_record(&key, current, now, self.tier.guarded.store.splits_quick())
            {
                Ok(opened) => {
                    self.metrics().merged(replay.steps.len());
                    data = replay.rebase(opened.data, &mut data, &changed);
                }
                Err(reason) => {
                    tracing::error!(cookie = %self.name(), %reason, "concurrent session record does not open: not saved");
                    return Outcome::failed(
                        "the session changed concurrently and could not be merged".to_owned(),
                    );
                }
            }
            if Instant::now() >= deadline {
                tracing::warn!(cookie = %self.name(), session = %server.id.log_tag(self.core.sealer.keys()), attempts = attempt + 1, "session save gave up under contention");
                return Outcome::unavailable(
                    "this session is being changed by too many requests at once; nothing was changed, please retry",
                );
            }
            pause(backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Creates the record of a session issued anew, then reads the user's
    /// revocation time again: if a revocation came in since it was read
    /// before the write, its index scan may have run before this record
    /// existed, so the record is deleted and the session ends. Either the
    /// second read sees the revocation, or the record was written before
    /// the revocation was, and its scan finds it: no record of a revoked
    /// user is left behind (one a device list would show).
    async fn create_fenced(&self, loaded: Loaded<S>, meta: &Meta, now: u64) -> Outcome {
        let fence = loaded.state.control.fence_seen.zip(loaded.data.user_key());
        let (outcome, key) = self.create(loaded.data, meta, now).await;
        let (Some((seen, user)), Some(key), Some(times)) =
            (fence, key, self.core.revocation_times())
        else {
            return outcome;
        };
        let revoked = match times.revoked_before(&self.core.revocation_key(&user)).await {
            Ok(before) => before.unwrap_or(0) > seen,
            Err(err) => {
                // unknown: the new record is not left to a revocation that
                // may have missed it
                self.log_outage("revoked_before", &err);
                if let Err(err) = self.delete(&key).await {
                    return self.save_failed("delete", &err);
                }
                return Outcome::unavailable(STORE_UNAVAILABLE);
            }
        };
        if !revoked {
            return outcome;
        }
        self.metrics().refused("revoked");
        tracing::debug!(cookie = %self.name(), "user revoked while the session was issued: ended");
        match self.delete(&key).await {
            Ok(_) => self.answer.removal(),
            Err(err) => self.save_failed("delete", &err),
        }
    }

    // owned: a `&S` held across an await would need `S: Sync`
    /// A new record for `data` under a fresh ID: the token, and the
    /// record's key when it was written.
    async fn create(&self, data: S, meta: &Meta, now: u64) -> (Outcome, Option<StoreKey>) {
        let store = &self.tier.guarded.store;
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = match SessionId::generate() {
                Ok(id) => id,
                Err(err) => {
                    tracing::error!(error = %err, "OS random source failed: session not saved");
                    return (
                        Outcome::failed("no session id could be generated".to_owned()),
                        None,
                    );
                }
            };
            let key = id.store_key();
            let sealed = match self.sealed(&key, meta, &data) {
                Ok(sealed) => sealed,
                Err(failed) => return (failed, None),
            };
            let entry = sealed.entry(&self.core.index_cookie, meta, now);
            match self
                .tier
                .guarded
                .call("create", store.create(&key, entry))
                .await
            {
                Ok(true) => {
                    let keys = self.core.sealer.keys();
                    tracing::Span::current().record("log_tag", id.log_tag(keys));
                    self.metrics().created();
                    self.metrics().saved(crate::telemetry::Tier::Store);
                    let token = self.answer.token(&id.sign(keys, self.name()), meta, now);
                    return (token, Some(key));
                }
                Ok(false) => continue,
                Err(err) => return (self.save_failed("create", &err), None),
            }
        }
        (Outcome::failed("no free session id".to_owned()), None)
    }

    /// The session was terminated (or expired) by another request while
    /// this one ran: it is never recreated, and the cookie goes.
    fn ended_meanwhile(&self, id: &SessionId) -> Outcome {
        tracing::info!(cookie = %self.name(), session = %id.log_tag(self.core.sealer.keys()), "session ended by another request: not recreated");
        self.answer.removal()
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let store = &self.tier.guarded.store;
        self.tier.guarded.call("delete", store.delete(key)).await
    }

    /// The sealed blobs of `data` for the row under `key`.
    fn sealed(&self, key: &StoreKey, meta: &Meta, data: &S) -> Result<Sealed<S>, Outcome> {
        self.core
            .seal_record(key, meta, data, self.tier.split_quick::<S>())
            .map(|(sealed, quick)| Sealed {
                data: sealed,
                quick,
                user: data.user_key(),
                _session: std::marker::PhantomData,
            })
            .map_err(|err| Outcome::failed(format!("the session could not be saved: {err}")))
    }

    fn log_outage(&self, operation: &'static str, err: &StoreError) {
        let store = self.tier.guarded.name();
        self.metrics().outage(store, operation);
        tracing::error!(
            cookie = %self.name(),
            store,
            operation,
            error = %err,
            source = ?std::error::Error::source(err),
            "session store failed"
        );
    }

    fn save_failed(&self, operation: &'static str, err: &StoreError) -> Outcome {
        self.log_outage(operation, err);
        if let StoreError::TooLarge { len, max } = err {
            return Outcome::failed(format!(
                "the sealed session is {len} bytes, over the store's limit of {max}: not saved"
            ));
        }
        match self.tier.outage {
            OutagePolicy::Unavailable => Outcome::unavailable(if operation == "delete" {
                // a tiered store may have ended it durably but could not tell its cache
                "the session store is unavailable; the session may not be fully ended, please retry"
            } else {
                STORE_UNAVAILABLE
            }),
            _ => Outcome::nothing(),
        }
    }
}

/// The user index, for `Session::user_sessions` and the revocations.
impl<S: SessionData> Core<S> {
    /// The sessions of `user` of this layer's session type (its cookie
    /// name) in the layer's store, under its guard; `Unsupported` for a
    /// layer without a store.
    pub(crate) async fn user_sessions(
        &self,
        user: &str,
    ) -> Result<Vec<crate::user::UserSession>, StoreError> {
        let guarded = self.user_index()?;
        let now = unix_secs(&*self.settings.clock);
        let call = guarded.store.user_sessions(&self.index_cookie, user, now);
        guarded.call("user_sessions", call).await
    }

    /// Revokes at most `limit` of `user`'s sessions of this layer's
    /// session type but `except`.
    pub(crate) async fn revoke_user(
        &self,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let guarded = self.user_index()?;
        let call = guarded
            .store
            .revoke_user(&self.index_cookie, user, except, limit);
        guarded.call("revoke_user", call).await
    }

    /// Deletes one session's record (a cache keeps a tombstone).
    pub(crate) async fn delete_session(&self, key: &StoreKey) -> Result<bool, StoreError> {
        let guarded = self.user_index()?;
        guarded.call("delete", guarded.store.delete(key)).await
    }

    fn user_index(&self) -> Result<&Guarded, StoreError> {
        self.server
            .as_ref()
            .map(|tier| &tier.guarded)
            .ok_or(StoreError::Unsupported {
                store: "cookie",
                what: "revoking sessions: a sealed cookie is valid until it expires",
            })
    }
}
