//! Server-side sessions: the cookie carries a signed ID, the store the data.
//!
//! Loading verifies the ID's signature before any store query, so forged
//! or guessed IDs cost nothing and never reach a store; an unknown or
//! expired ID is never adopted (strict mode): the handler gets a fresh
//! session, and a new ID is minted only when it first writes. Saving is a
//! compare-and-set on the record's version; on a conflict the current
//! record is reloaded and this request's changed fields re-applied to it.

use super::slot::Plan;
use super::token::Incoming;
use super::{Core, Finish, Loaded, Outcome, ServerRef, Slot};
use crate::config::unix_secs;
use crate::data::{FieldSet, Part, SessionData, Storage};
use crate::id::{self, SessionId, StoreKey};
use crate::seal::{Meta, OpenError, Opened};
use crate::store::guard::Breaker;
use crate::store::{Entry, ErasedStore, Record, Saved, StoreError};
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

/// How long one store call may take by default before the request follows
/// the outage policy: 2 seconds.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a save keeps retrying against concurrent writers by default
/// before answering 503 with `Retry-After`: 2 seconds.
pub const DEFAULT_CONTENTION_TIMEOUT: Duration = Duration::from_secs(2);

/// The server side of a layer built with a store.
#[derive(Clone)]
pub(crate) struct ServerTier {
    pub(crate) store: Arc<dyn ErasedStore>,
    /// Skips the store for a short while when it keeps failing; shared by
    /// every request of the layer.
    pub(crate) breaker: Arc<Breaker>,
    /// The longest one store call may take.
    pub(crate) timeout: Duration,
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
            .field("store", &self.store.name())
            .field("storage", &self.storage)
            .field("cookie_threshold", &self.threshold)
            .field("max_size", &self.max_size)
            .field("outage", &self.outage)
            .field("timeout", &self.timeout)
            .field("contention_timeout", &self.contention)
            .finish()
    }
}

impl ServerTier {
    /// A store call under the layer's timeout and circuit breaker, timed
    /// for the `sessionkit_store_seconds` histogram and traced in a span
    /// (store, operation, outcome) under the request's.
    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        use tracing::Instrument as _;
        let store = self.store.name();
        let span = tracing::debug_span!(
            "session_store",
            store,
            operation,
            outcome = tracing::field::Empty
        );
        let began = std::time::Instant::now();
        let result = self
            .breaker
            .call(store, self.timeout, call)
            .instrument(span.clone())
            .await;
        crate::telemetry::store_call(store, operation, began.elapsed());
        span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        result
    }

    /// Users' revocation times in this tier's store, behind its timeout
    /// and breaker.
    pub(crate) fn fence(&self) -> super::Revocation {
        super::Revocation {
            store: Arc::clone(&self.store),
            breaker: Arc::clone(&self.breaker),
            timeout: self.timeout,
        }
    }

    async fn load(&self, key: &StoreKey, now: u64) -> Result<Option<Record>, StoreError> {
        self.call("load", self.store.load(key, now)).await
    }

    async fn create(&self, key: &StoreKey, entry: Entry<'_>) -> Result<bool, StoreError> {
        self.call("create", self.store.create(key, entry)).await
    }

    async fn save(
        &self,
        key: &StoreKey,
        entry: Entry<'_>,
        version: u64,
        now: u64,
    ) -> Result<Saved, StoreError> {
        self.call("save", self.store.save(key, entry, version, now))
            .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        self.call("delete", self.store.delete(key)).await
    }
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

/// Loading a server-side session failed and the outage policy says to
/// stop the request (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadError {
    /// The store did not answer.
    Unavailable,
}

/// The sealing context of a server record: the cookie name and the row's
/// key. A record opens only under the key it was written for and for the
/// session type (cookie) that wrote it; the fingerprint inside the
/// envelope then checks the shape.
fn record_context(cookie_name: &str, key: &StoreKey) -> String {
    format!("{cookie_name}/{}", key.to_hex())
}

/// The sealing context of a record's quick-fields blob: distinct from the
/// durable blob's, so one cannot be passed off as the other.
fn quick_context(context: &str) -> String {
    format!("{context}/quick")
}

fn quick_fields<S: SessionData>() -> FieldSet {
    let mut set = FieldSet::new();
    for (index, field) in S::FIELDS.iter().enumerate() {
        if field.quick {
            set.insert(index);
        }
    }
    set
}

impl<S: SessionData> Core<S> {
    /// Seals `data` for the store under `key`: the durable blob and, when
    /// `split_quick`, the quick fields' blob.
    pub(crate) fn seal_record(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
        split_quick: bool,
    ) -> Result<(Vec<u8>, Vec<u8>), crate::codec::CodecError> {
        let context = record_context(&self.cookie_name, key);
        let seal = |part, context: &str| {
            self.codec
                .seal_part(&self.sealer, context, meta, data, part)
        };
        if split_quick {
            Ok((
                seal(Part::Durable, &context)?,
                seal(Part::Quick, &quick_context(&context))?,
            ))
        } else {
            Ok((seal(Part::All, &context)?, Vec::new()))
        }
    }

    /// Seals only the quick fields of `data` for the record under `key`.
    pub(crate) fn seal_quick(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
    ) -> Result<Vec<u8>, crate::codec::CodecError> {
        let context = quick_context(&record_context(&self.cookie_name, key));
        self.codec
            .seal_part(&self.sealer, &context, meta, data, Part::Quick)
    }

    /// Opens a record sealed by [`seal_record`](Self::seal_record) with the
    /// same `split_quick`, in any shape of the session's chain.
    pub(crate) fn open_record(
        &self,
        key: &StoreKey,
        record: Record,
        now: u64,
        split_quick: bool,
    ) -> Result<Opened<S>, OpenError> {
        let context = record_context(&self.cookie_name, key);
        let part = if split_quick {
            Part::Durable
        } else {
            Part::All
        };
        let opened = self
            .codec
            .open_part(&self.sealer, &context, record.data, part, Some(now))?;
        let mut data = opened.data;
        if split_quick && !record.quick.is_empty() {
            // quick fields are best effort: a bad blob leaves them default
            let quick = self.codec.open_part(
                &self.sealer,
                &quick_context(&context),
                record.quick,
                Part::Quick,
                None,
            );
            match quick {
                Ok(mut holder) => data.take_fields(&mut holder.data, &quick_fields::<S>()),
                Err(reason) => tracing::debug!(%reason, "quick session fields dropped"),
            }
        }
        // the full encoding, to tell later whether anything changed
        let body = self.codec.encode(&data).map_err(OpenError::Decode)?;
        Ok(Opened {
            data,
            meta: opened.meta,
            body,
            stale_key: opened.stale_key,
            migrated: opened.migrated,
        })
    }
}

impl<S: SessionData + Send> Slot<S> {
    fn tier(&self) -> &ServerTier {
        match &self.core.server {
            Some(tier) => tier,
            None => unreachable!("only layers with a store take the server path"),
        }
    }

    /// Whether quick fields are sealed apart for a cache tier.
    fn split_quick(&self) -> bool {
        self.tier().store.splits_quick() && S::FIELDS.iter().any(|field| field.quick)
    }

    /// Loads the session a server layer's token points to, in a
    /// `session_load` span (session type, store, the ID's log tag, outcome)
    /// under the request's.
    pub(crate) async fn load_server(&self, incoming: &Incoming) -> Result<Loaded<S>, LoadError> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!(
            "session_load",
            session = %self.name(),
            store = self.tier().store.name(),
            log_tag = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        // a token that is a valid ID of no live record: also refused (its
        // cookie is cleared), but told apart in the span
        let mut unknown = false;
        let result = self
            .load_server_in(incoming, &mut unknown)
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

    async fn load_server_in(
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
        let mut refused = Loaded::fresh(had_token);
        refused.state.refused_token = had_token;
        Ok(refused)
    }

    /// One token value: the session it holds or points to, or `None` when
    /// it is not a live session of this layer (refused, unknown, expired;
    /// `unknown` is set for a valid ID whose record is gone).
    async fn load_one(
        &self,
        raw: &super::token::RawValue,
        had_token: bool,
        unknown: &mut bool,
    ) -> Result<Option<Loaded<S>>, LoadError> {
        let value = raw.value().unwrap_or_default();
        let adaptive = self.tier().storage != Storage::Server;
        if !id::is_signed_id(value.as_bytes()) {
            // an ID of the old form has no format byte, so a sealed value
            // may have its length: it is an ID only if it does not open
            let legacy = value.len() == id::LEGACY_SIGNED_ID_LEN;
            if adaptive {
                // a sealed value: where small Adaptive sessions live
                match self.open_sealed(raw.bytes(), had_token) {
                    Ok(loaded) => return Ok(Some(loaded)),
                    Err(reason) if !legacy => {
                        self.refuse_sealed(&reason);
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
        let record = match self.tier().load(&key, now).await {
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
                return match self.tier().outage {
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
        match self.core.open_record(&key, record, now, self.split_quick()) {
            Ok(mut opened) => {
                self.metrics().loaded();
                opened.stale_key |= stale_id;
                Ok(Some(self.loaded(
                    opened,
                    Some(ServerRef { id, version }),
                    now,
                    had_token,
                )))
            }
            Err(reason) => {
                self.metrics()
                    .refused(crate::telemetry::open_reason(&reason));
                tracing::warn!(cookie = %self.name(), session = %id.log_tag(keys), %reason, "session record refused (tampered, another key or codec, or a schema change): starting a new session");
                Ok(None)
            }
        }
    }

    /// The sessions of `user` of this layer's session type (its cookie
    /// name) in the layer's store, under its timeout and breaker;
    /// `Unsupported` for a layer without a store.
    pub(crate) async fn user_sessions(
        &self,
        user: &str,
    ) -> Result<Vec<crate::user::UserSession>, crate::StoreError> {
        let tier = self.user_tier()?;
        let now = unix_secs(&*self.core.settings.clock);
        let cookie_name = &self.core.index_cookie;
        tier.call(
            "user_sessions",
            tier.store.user_sessions(cookie_name, user, now),
        )
        .await
    }

    /// Revokes at most `limit` of `user`'s sessions of this layer's
    /// session type but `except`.
    pub(crate) async fn revoke_user(
        &self,
        user: &str,
        except: Option<&StoreKey>,
        limit: usize,
    ) -> Result<usize, crate::StoreError> {
        let tier = self.user_tier()?;
        let cookie_name = &self.core.index_cookie;
        tier.call(
            "revoke_user",
            tier.store.revoke_user(cookie_name, user, except, limit),
        )
        .await
    }

    /// Deletes one session's record (a cache keeps a tombstone).
    pub(crate) async fn delete_session(&self, key: &StoreKey) -> Result<bool, crate::StoreError> {
        let tier = self.user_tier()?;
        tier.delete(key).await
    }

    fn user_tier(&self) -> Result<&ServerTier, crate::StoreError> {
        self.core
            .server
            .as_ref()
            .ok_or(crate::StoreError::Unsupported {
                store: "cookie",
                what: "revoking sessions: a sealed cookie is valid until it expires",
            })
    }

    /// Carries out the lifecycle plan for a server layer: at once when no
    /// store call is needed (a read-only request allocates no future).
    pub(crate) fn finish_server(self: &Arc<Self>, loaded: Loaded<S>, now: u64) -> Finish {
        if loaded.state.degraded {
            // the store was down at load: writing would replace the user's
            // cookie with a new, empty session
            return Finish::Ready(Outcome::nothing());
        }
        self.carry_out(loaded, now)
    }

    /// The store work of a plan (deleting a retired record, writing the
    /// session), then its outcome, in a `session_save` span (session type,
    /// store, the loaded ID's log tag, outcome) under the request's.
    pub(crate) async fn execute(&self, loaded: Loaded<S>, plan: Plan, now: u64) -> Outcome {
        use tracing::Instrument as _;
        let keys = self.core.sealer.keys();
        let span = tracing::debug_span!(
            "session_save",
            session = %self.name(),
            store = self.tier().store.name(),
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
            if let Err(err) = self.tier().delete(&id.store_key()).await {
                return self.save_failed("delete", &err);
            }
        }
        let refused = loaded.state.refused_token;
        match plan {
            Plan::Write { body, meta } => self.store(loaded, &body, &meta, now).await,
            other => self.settle(other, refused, now),
        }
    }

    async fn store(&self, loaded: Loaded<S>, body: &[u8], meta: &Meta, now: u64) -> Outcome {
        let tier = self.tier();
        if body.len() > tier.max_size {
            tracing::error!(cookie = %self.name(), len = body.len(), max = tier.max_size, "session over its size cap: not saved");
            return Outcome::failed(format!(
                "the session is {} bytes encoded, over the cap of {} bytes: not saved",
                body.len(),
                tier.max_size
            ));
        }
        let previous = loaded
            .state
            .existing
            .as_ref()
            .and_then(|e| e.server.clone());
        if tier.storage == Storage::Adaptive && body.len() <= tier.threshold {
            let sealed = self
                .core
                .codec
                .seal_value(&self.core.sealer, self.name(), meta, body);
            if let Some(outcome) = self.sealed_token(&sealed, meta, now) {
                if let Some(previous) = previous {
                    // small again: back to the cookie, unless a concurrent
                    // request ended the session meanwhile
                    match self.tier().delete(&previous.id.store_key()).await {
                        Ok(true) => {}
                        Ok(false) => return self.ended_meanwhile(&previous.id),
                        Err(err) => return self.save_failed("delete", &err),
                    }
                }
                self.metrics().saved(crate::telemetry::Tier::Cookie);
                return outcome;
            }
        }
        match previous {
            Some(previous) if !loaded.state.control.cycle => {
                let quick = self.quick_only_blob(&previous, &loaded);
                if let Some((key, blob)) = quick
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
                match tier.delete(&previous.id.store_key()).await {
                    Ok(true) => self.create_fenced(loaded, meta, now).await,
                    Ok(false) => self.ended_meanwhile(&previous.id),
                    Err(err) => self.save_failed("delete", &err),
                }
            }
            None => self.create_fenced(loaded, meta, now).await,
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
        let (Some((seen, user)), Some(key), Some(times)) = (fence, key, self.revocation_times())
        else {
            return outcome;
        };
        let revoked = match times.revoked_before(&self.revocation_key(&user)).await {
            Ok(before) => before.unwrap_or(0) > seen,
            Err(err) => {
                // unknown: the new record is not left to a revocation that
                // may have missed it
                self.log_outage("revoked_before", &err);
                if let Err(err) = self.tier().delete(&key).await {
                    return self.save_failed("delete", &err);
                }
                return Outcome::unavailable(
                    "the session store is unavailable; nothing was changed, please retry",
                );
            }
        };
        if !revoked {
            return outcome;
        }
        self.metrics().refused("revoked");
        tracing::debug!(cookie = %self.name(), "user revoked while the session was issued: ended");
        match self.tier().delete(&key).await {
            Ok(_) => self.removal(),
            Err(err) => self.save_failed("delete", &err),
        }
    }

    /// A request that changed only `#[session(quick)]` fields writes them
    /// to the cache tier alone (gae-sessions' `set_quick`): no durable
    /// write, no new cookie, the record's version and expiry unchanged.
    /// `false` when that does not apply or the cache does not hold the
    /// record at the loaded version: the caller then saves in full.
    fn quick_only_blob(
        &self,
        server: &ServerRef,
        loaded: &Loaded<S>,
    ) -> Option<(StoreKey, Vec<u8>)> {
        let state = &loaded.state;
        let control = state.control;
        let existing = state.existing.as_ref()?;
        let quick_only = self.split_quick()
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

    async fn write_quick(&self, key: StoreKey, blob: Vec<u8>, version: u64, now: u64) -> bool {
        let tier = self.tier();
        match tier
            .call(
                "save_quick",
                tier.store.save_quick(&key, &blob, version, now),
            )
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

    /// The session was terminated (or expired) by another request while
    /// this one ran: it is never recreated, and the cookie goes.
    fn ended_meanwhile(&self, id: &SessionId) -> Outcome {
        tracing::info!(cookie = %self.name(), session = %id.log_tag(self.core.sealer.keys()), "session ended by another request: not recreated");
        self.removal()
    }

    async fn save_existing(
        &self,
        server: ServerRef,
        loaded: Loaded<S>,
        meta: &Meta,
        now: u64,
    ) -> Outcome {
        let key = server.id.store_key();
        let split = self.split_quick();
        let Loaded { mut data, state } = loaded;
        let resend = state
            .existing
            .as_ref()
            .is_none_or(|existing| Self::token_changes(existing, meta));
        let changed = state.changed;
        let mut replay = state.replay;
        let mut version = server.version;
        let deadline = Instant::now() + self.tier().contention;
        let mut attempt = 0;
        loop {
            let sealed = match self.sealed(&key, meta, &data) {
                Ok(sealed) => sealed,
                Err(failed) => return failed,
            };
            let entry = sealed.entry(&self.core.index_cookie, meta, now);
            let current = match self.tier().save(&key, entry, version, now).await {
                Ok(Saved::Saved { .. }) => {
                    self.metrics().saved(crate::telemetry::Tier::Store);
                    if !resend {
                        // same ID, same expiry: the client's token stands
                        return Outcome::nothing();
                    }
                    return self.token(
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
            match self.core.open_record(&key, current, now, split) {
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
                return Outcome::contended(
                    "this session is being changed by too many requests at once; nothing was changed, please retry",
                );
            }
            pause(backoff(attempt)).await;
            attempt += 1;
        }
    }

    // owned: a `&S` held across an await would need `S: Sync`
    /// A new record for `data` under a fresh ID: the token, and the
    /// record's key when it was written.
    async fn create(&self, data: S, meta: &Meta, now: u64) -> (Outcome, Option<StoreKey>) {
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
            match self.tier().create(&key, entry).await {
                Ok(true) => {
                    tracing::Span::current().record("log_tag", id.log_tag(self.core.sealer.keys()));
                    self.metrics().created();
                    self.metrics().saved(crate::telemetry::Tier::Store);
                    let token =
                        self.token(&id.sign(self.core.sealer.keys(), self.name()), meta, now);
                    return (token, Some(key));
                }
                Ok(false) => continue,
                Err(err) => return (self.save_failed("create", &err), None),
            }
        }
        (Outcome::failed("no free session id".to_owned()), None)
    }

    /// The sealed blobs of `data` for the row under `key`.
    fn sealed(&self, key: &StoreKey, meta: &Meta, data: &S) -> Result<Sealed<S>, Outcome> {
        self.core
            .seal_record(key, meta, data, self.split_quick())
            .map(|(sealed, quick)| Sealed {
                data: sealed,
                quick,
                user: data.user_key(),
                _session: std::marker::PhantomData,
            })
            .map_err(|err| Outcome::failed(format!("the session could not be saved: {err}")))
    }

    fn log_outage(&self, operation: &'static str, err: &StoreError) {
        self.metrics().outage(self.tier().store.name(), operation);
        tracing::error!(
            cookie = %self.name(),
            store = self.tier().store.name(),
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
        match self.tier().outage {
            OutagePolicy::Unavailable => Outcome::unavailable(if operation == "delete" {
                // a tiered store may have ended it durably but could not tell its cache
                "the session store is unavailable; the session may not be fully ended, please retry"
            } else {
                "the session store is unavailable; nothing was changed, please retry"
            }),
            _ => Outcome::nothing(),
        }
    }
}
