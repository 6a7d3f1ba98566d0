//! [`Slot`]: one request's session state, shared by the adapter and the
//! extractor, and the lifecycle rules that decide what the response
//! carries.
//!
//! The adapter creates the slot holding only the incoming token (a cheap
//! clone). Nothing is decoded unless a handler extracts the session; the
//! handler then owns the typed data (no lock per field access) and hands it
//! back when its `Session` is dropped. After the handler returns,
//! [`Slot::finish`] turns the [`RequestState`] into a [`Plan`] and the plan
//! into an [`Outcome`], carried out in the token here or in a store by
//! [`server`](super::server).

use super::Core;
use super::token::{self, Incoming};
use crate::config::{Settings, unix_secs};
use crate::data::{FieldSet, SessionAccess, SessionData};
use crate::id::SessionId;
use crate::seal::{Meta, OpenError, Opened};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The session as it was loaded from the request.
#[derive(Debug)]
pub(crate) struct Existing {
    pub(crate) meta: Meta,
    /// The encoded session in the current shape, to tell whether anything
    /// changed.
    pub(crate) body: Vec<u8>,
    /// Sealed under an older key, or in an older shape: re-seal on the
    /// next write, and on an expiry refresh.
    pub(crate) stale_key: bool,
    /// Where a server-side session's record is.
    pub(crate) server: Option<ServerRef>,
}

/// A server-side session's ID and the record version it was loaded at.
#[derive(Debug, Clone)]
pub(crate) struct ServerRef {
    pub(crate) id: SessionId,
    pub(crate) version: u64,
}

/// Lifecycle requests made by the handler.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Control {
    pub(crate) cycle: bool,
    pub(crate) terminated: bool,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) browser_session: Option<bool>,
    /// Re-issued by a user revocation at this time (Unix seconds; 0: not):
    /// the new issue time is after it, so the revocation does not cover it.
    pub(crate) issued_after: u64,
    /// The user's revocation time read before a session of theirs is
    /// issued anew. A new record is written, then the time is read again:
    /// a revocation that came in meanwhile (its index scan may have run
    /// before the record existed) ends it.
    pub(crate) fence_seen: Option<u64>,
}

/// One recorded `Session::atomically` closure.
pub(crate) type Step<S> = Box<dyn FnMut(&mut <S as SessionData>::Access) + Send>;

/// The read-modify-write closures of a request, replayed in order on fresh
/// data when a save conflicts, and the fields they changed.
pub(crate) struct Replay<S: SessionData> {
    pub(crate) steps: Vec<Step<S>>,
    pub(crate) fields: FieldSet,
}

impl<S: SessionData> Default for Replay<S> {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            fields: FieldSet::new(),
        }
    }
}

impl<S: SessionData> Replay<S> {
    /// Re-applies this request's changes on top of `fresh`, the record a
    /// concurrent request saved: plain-set fields are copied from `ours`
    /// (the later save wins), then the closures run again in order.
    pub(crate) fn rebase(&mut self, fresh: S, ours: &mut S, changed: &FieldSet) -> S {
        let mut merged = fresh;
        let mut plain = FieldSet::new();
        for index in changed.iter() {
            if !self.fields.contains(index) {
                plain.insert(index);
            }
        }
        merged.take_fields(ours, &plain);
        if self.steps.is_empty() {
            return merged;
        }
        let mut access = S::Access::from_data(merged);
        for step in &mut self.steps {
            step(&mut access);
        }
        access.into_parts().0
    }
}

/// Everything a request knows about its session but the data itself: what
/// came in, what was loaded, what the handler changed and asked for. The
/// handler's `Session` holds it while it runs, the slot between handlers.
pub(crate) struct RequestState<S: SessionData> {
    /// Fields changed by handlers that already gave the session back.
    pub(crate) changed: FieldSet,
    pub(crate) existing: Option<Existing>,
    /// A session token came with the request (valid or not): a terminate
    /// must expire it.
    pub(crate) had_token: bool,
    /// A session token came that could not be opened: the response
    /// clears it unless it sets a new one.
    pub(crate) refused_token: bool,
    pub(crate) control: Control,
    /// A server record to delete at the end of the request (terminated).
    pub(crate) retire: Option<SessionId>,
    /// The store failed at load and the outage policy let the handler run:
    /// nothing is written for this request.
    pub(crate) degraded: bool,
    /// `Session::atomically` closures, for a server layer.
    pub(crate) replay: Replay<S>,
    /// The `#[session(user)]` of the session as it was loaded: a session
    /// saved with another user is a login, and takes a new identity.
    pub(crate) loaded_user: Option<String>,
}

impl<S: SessionData> RequestState<S> {
    pub(crate) fn fresh(had_token: bool) -> Self {
        Self {
            changed: FieldSet::new(),
            existing: None,
            had_token,
            refused_token: false,
            control: Control::default(),
            retire: None,
            degraded: false,
            replay: Replay::default(),
            loaded_user: None,
        }
    }

    /// Ends the session this request loaded: a server record is deleted at
    /// the end of the request, and the response expires the token.
    pub(crate) fn end(&mut self) {
        self.changed = FieldSet::new();
        self.replay = Replay::default();
        if let Some(server) = self.existing.take().and_then(|existing| existing.server) {
            self.retire = Some(server.id);
        }
        self.control = Control {
            terminated: true,
            ..Control::default()
        };
    }
}

/// A loaded session, between extractions.
pub(crate) struct Loaded<S: SessionData> {
    pub(crate) data: S,
    pub(crate) state: RequestState<S>,
}

impl<S: SessionData> Loaded<S> {
    pub(crate) fn fresh(had_token: bool) -> Self {
        Self {
            data: S::default_session(),
            state: RequestState::fresh(had_token),
        }
    }

    /// A fresh session for a request whose cookie could not be opened.
    fn refused(had_token: bool) -> Self {
        let mut fresh = Self::fresh(had_token);
        fresh.state.refused_token = had_token;
        fresh
    }
}

// the loaded session is kept inline: boxing it would cost an allocation
// on every request that hands the session back
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, moved rarely; a box would allocate per request"
)]
enum Stage<S: SessionData> {
    /// Not extracted yet: the incoming token.
    Unloaded(Incoming),
    /// A handler holds the session.
    Out,
    /// Extracted and handed back.
    In(Loaded<S>),
    /// The store failed while loading: nothing is written.
    Unavailable,
}

/// A response the handler's must be replaced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    /// 500 or 503.
    pub(crate) status: u16,
    /// What the client is told: short and generic, never a field, a size
    /// or a store's message.
    pub(crate) body: &'static str,
    /// What went wrong, for the log.
    pub(crate) detail: String,
    /// Send `Retry-After: 1` (outages, contention).
    pub(crate) retry_after: bool,
}

/// What the response carries, framework neutral: the adapter writes these
/// into its response type.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// A `Set-Cookie` line.
    pub(crate) set_cookie: Option<String>,
    /// The token response header's value (empty: the client drops it).
    pub(crate) token: Option<String>,
    /// The handler's response is replaced (rare: boxed, to keep the
    /// common outcome small).
    pub(crate) replace: Option<Box<Replacement>>,
}

impl Outcome {
    pub(crate) fn nothing() -> Self {
        Self::default()
    }

    fn replace(status: u16, body: &'static str, detail: String, retry_after: bool) -> Self {
        Self {
            replace: Some(Box::new(Replacement {
                status,
                body,
                detail,
                retry_after,
            })),
            ..Self::default()
        }
    }

    /// The session could not be saved (500); `detail` goes to the log only.
    pub(crate) fn failed(detail: String) -> Self {
        Self::replace(500, "the session could not be saved", detail, false)
    }

    /// The store is unreachable (503 with `Retry-After`): `body` says what
    /// the client should know.
    pub(crate) fn unavailable(body: &'static str) -> Self {
        Self::replace(503, body, body.to_owned(), true)
    }

    /// Too many concurrent writers (503 with `Retry-After`).
    pub(crate) fn contended(body: &'static str) -> Self {
        Self::replace(503, body, body.to_owned(), true)
    }

    /// Whether the response is left as the handler made it.
    pub(crate) fn is_nothing(&self) -> bool {
        self.set_cookie.is_none() && self.token.is_none() && self.replace.is_none()
    }

    /// Whether the response sets or clears the session token.
    pub(crate) fn sets_token(&self) -> bool {
        self.set_cookie.is_some() || self.token.is_some()
    }
}

/// The outcome now, or after the store answers.
pub(crate) enum Finish {
    Ready(Outcome),
    Pending(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

/// What the lifecycle rules ask for, before it is carried out in a cookie
/// or in a store.
#[derive(Debug)]
pub(crate) enum Plan {
    Nothing,
    /// Expire the cookie (and delete the server record).
    Remove,
    /// Store this encoded session with these times.
    Write {
        body: Vec<u8>,
        meta: Meta,
    },
    /// It cannot be saved.
    Failed(String),
}

pub(crate) struct Slot<S: SessionData> {
    pub(crate) core: Arc<Core<S>>,
    stage: Mutex<Stage<S>>,
    /// A handler extracted the session: the response is personal.
    extracted: AtomicBool,
    /// Where the token came from, to answer in the same place.
    from_header: bool,
    https: bool,
    /// The revocation time this request's `revoke_user_sessions(true)`
    /// wrote (0: none): the session it keeps is issued after it.
    own_revocation: AtomicU64,
    /// Another revocation of the user came first while this request ran:
    /// the session it meant to keep is ended instead.
    revoked_meanwhile: AtomicBool,
}

/// Taking the session out of the slot failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeError {
    AlreadyTaken,
    /// A server-side session must be loaded with `Session::load().await`.
    NeedsAsync,
    /// The store failed while loading.
    Unavailable,
}

impl<S: SessionData> Slot<S> {
    pub(crate) fn new(core: Arc<Core<S>>, incoming: Incoming, https: bool) -> Self {
        Self {
            core,
            from_header: incoming.by_header(),
            stage: Mutex::new(Stage::Unloaded(incoming)),
            extracted: AtomicBool::new(false),
            https,
            own_revocation: AtomicU64::new(0),
            revoked_meanwhile: AtomicBool::new(false),
        }
    }

    /// What this request's revocation of its user did, for the session it
    /// keeps (loaded with issue time `issued_at`): if the time kept before
    /// already covered it, another revocation came first and the session
    /// ends; else it is re-issued after the new time.
    pub(crate) fn keep_after(&self, revoked: crate::user::Revoked, issued_at: Option<u64>) {
        let covered = revoked
            .previous
            .zip(issued_at)
            .is_some_and(|(previous, issued_at)| previous >= issued_at);
        if covered {
            self.revoked_meanwhile.store(true, Ordering::SeqCst);
        } else {
            self.own_revocation
                .fetch_max(revoked.before, Ordering::SeqCst);
        }
    }

    /// Whether a handler extracted the session in this request.
    pub(crate) fn was_extracted(&self) -> bool {
        self.extracted.load(Ordering::Relaxed)
    }

    /// Whether the layer keeps sessions in a store (closures are recorded
    /// for replay only then).
    pub(crate) fn is_server(&self) -> bool {
        self.core.server.is_some()
    }

    pub(crate) fn name(&self) -> &str {
        &self.core.cookie_name
    }

    /// The layer's metrics.
    pub(crate) fn metrics(&self) -> &crate::telemetry::SessionMetrics {
        &self.core.metrics
    }

    fn lock(&self) -> MutexGuard<'_, Stage<S>> {
        // a handler that panicked while holding the lock leaves valid state
        self.stage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands the session to a handler, loading it on first use. Without
    /// I/O only: a server layer's token needs [`take_async`](Self::take_async).
    pub(crate) fn take(&self) -> Result<Loaded<S>, TakeError> {
        self.extracted.store(true, Ordering::Relaxed);
        let mut stage = self.lock();
        match std::mem::replace(&mut *stage, Stage::Out) {
            // a store must be asked: the async load does that
            Stage::Unloaded(incoming)
                if (self.is_server() || self.core.revocation.is_some())
                    && !incoming.candidates().is_empty() =>
            {
                *stage = Stage::Unloaded(incoming);
                Err(TakeError::NeedsAsync)
            }
            Stage::Unloaded(incoming) => Ok(self.load(&incoming)),
            Stage::In(loaded) => Ok(loaded),
            Stage::Out => Err(TakeError::AlreadyTaken),
            Stage::Unavailable => {
                *stage = Stage::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Receives the session back from a handler.
    pub(crate) fn put(&self, loaded: Loaded<S>) {
        *self.lock() = Stage::In(loaded);
    }

    /// Opens a sealed token (no I/O): the first of the candidates that
    /// opens (several only when the cookie came more than once).
    pub(crate) fn load(&self, incoming: &Incoming) -> Loaded<S> {
        let mut refused = None;
        for raw in incoming.candidates() {
            match self.open_sealed(raw.bytes(), incoming.had_token()) {
                Ok(loaded) => return loaded,
                Err(reason) => refused = Some(reason),
            }
        }
        if let Some(reason) = refused {
            self.refuse_sealed(&reason);
        }
        Loaded::refused(incoming.had_token())
    }

    /// One sealed token value, opened.
    pub(crate) fn open_sealed(
        &self,
        value: &[u8],
        had_token: bool,
    ) -> Result<Loaded<S>, OpenError> {
        let now = unix_secs(&*self.core.settings.clock);
        let opened = self
            .core
            .codec
            .open_value(&self.core.sealer, self.name(), value, now)?;
        self.metrics().loaded();
        Ok(self.loaded(opened, None, now, had_token))
    }

    /// Counts and logs a sealed token that did not open.
    pub(crate) fn refuse_sealed(&self, reason: &OpenError) {
        self.metrics()
            .refused(crate::telemetry::open_reason(reason));
        tracing::debug!(cookie = %self.name(), %reason, "session token refused: starting a new session");
    }

    /// An opened session, unless it is past its absolute timeout.
    pub(crate) fn loaded(
        &self,
        opened: Opened<S>,
        server: Option<ServerRef>,
        now: u64,
        had_token: bool,
    ) -> Loaded<S> {
        let settings = &self.core.settings;
        let limit = settings.absolute_limit(effective_lifetime(
            settings,
            &opened.meta,
            Control::default(),
        ));
        if now >= opened.meta.issued_at.saturating_add(limit.as_secs()) {
            tracing::debug!(cookie = %self.name(), "session past its absolute timeout: starting a new one");
            // the old record goes with it, and the token is cleared
            let mut fresh = Loaded::refused(had_token);
            fresh.state.retire = server.map(|server| server.id);
            return fresh;
        }
        Loaded {
            state: RequestState {
                existing: Some(Existing {
                    meta: opened.meta,
                    body: opened.body,
                    stale_key: opened.stale_key,
                    server,
                }),
                loaded_user: if S::HAS_USER {
                    opened.data.user_key()
                } else {
                    None
                },
                ..RequestState::fresh(had_token)
            },
            data: opened.data,
        }
    }
}

// the store's futures hold the session across awaits, so it must be `Send`
impl<S: SessionData + Send> Slot<S> {
    /// Hands the session to a handler, loading it (from the store if need
    /// be) on first use.
    pub(crate) async fn take_async(&self) -> Result<Loaded<S>, TakeError> {
        self.extracted.store(true, Ordering::Relaxed);
        let incoming = {
            let mut stage = self.lock();
            match std::mem::replace(&mut *stage, Stage::Out) {
                Stage::Unloaded(incoming) => incoming,
                Stage::In(loaded) => return Ok(loaded),
                Stage::Out => return Err(TakeError::AlreadyTaken),
                Stage::Unavailable => {
                    *stage = Stage::Unavailable;
                    return Err(TakeError::Unavailable);
                }
            }
        };
        self.load_checked(&incoming).await
    }

    /// Loads the incoming token with every check a load makes: from the
    /// store for a server layer, then against the user's revocation time.
    /// Handlers' extraction and always-save use this one path.
    async fn load_checked(&self, incoming: &Incoming) -> Result<Loaded<S>, TakeError> {
        let loaded = if self.is_server() {
            // boxed: a store load is a large future, and the cookie path's
            // extractor (inside every handler's future) should not carry it
            match Box::pin(self.load_server(incoming)).await {
                Ok(loaded) => loaded,
                Err(super::LoadError::Unavailable) => {
                    *self.lock() = Stage::Unavailable;
                    return Err(TakeError::Unavailable);
                }
            }
        } else {
            self.load(incoming)
        };
        if self.core.revocation.is_none() {
            return Ok(loaded);
        }
        Box::pin(self.unless_revoked(loaded)).await
    }

    /// With `with_user_revocation`: a session of a user issued at or before
    /// the user's revocation time is refused (and its record, if any,
    /// deleted at the end of the request). A store failure fails the request: a
    /// revoked session is never let through.
    async fn unless_revoked(&self, loaded: Loaded<S>) -> Result<Loaded<S>, TakeError> {
        let (Some(revocation), Some(existing)) = (&self.core.revocation, &loaded.state.existing)
        else {
            return Ok(loaded);
        };
        let Some(user) = loaded.data.user_key() else {
            return Ok(loaded);
        };
        match revocation.is_revoked(&user, existing.meta.issued_at).await {
            Ok(false) => Ok(loaded),
            Ok(true) => {
                self.metrics().refused("revoked");
                tracing::debug!(cookie = %self.name(), "session issued before its user's revocation: starting a new session");
                let mut fresh = Loaded::refused(loaded.state.had_token);
                fresh.state.retire = existing.server.as_ref().map(|server| server.id.clone());
                Ok(fresh)
            }
            Err(err) => {
                tracing::warn!(cookie = %self.name(), error = %err, "user revocation store failed: the session is not served");
                self.metrics()
                    .outage(revocation.store.name(), "revoked_before");
                *self.lock() = Stage::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Decides what the response carries, after the handler returned with
    /// `status`.
    pub(crate) fn finish(self: &Arc<Self>, status: u16) -> Finish {
        let config = &self.core.settings;
        if status >= 500 {
            // the handler failed: nothing it changed is trusted
            return Finish::Ready(Outcome::nothing());
        }
        if config.ssl_only && !self.https {
            return Finish::Ready(Outcome::nothing());
        }
        if !self.was_extracted() && !config.always_save {
            // the common case, a route that never looked at the session:
            // nothing to decide, the stage is left as it is
            return Finish::Ready(Outcome::nothing());
        }
        let stage = std::mem::replace(&mut *self.lock(), Stage::Out);
        let needs_io = self.is_server() || self.core.revocation.is_some();
        let loaded = match stage {
            Stage::Unloaded(Incoming::None) | Stage::Unavailable => {
                return Finish::Ready(Outcome::nothing());
            }
            Stage::Unloaded(incoming) if config.always_save && needs_io => {
                // loaded as an extraction would: store, revocation and all
                let slot = Arc::clone(self);
                return Finish::Pending(Box::pin(async move {
                    let Ok(loaded) = slot.load_checked(&incoming).await else {
                        return Outcome::nothing();
                    };
                    finish_now(slot.conclude(loaded)).await
                }));
            }
            Stage::Unloaded(incoming) if config.always_save => self.load(&incoming),
            Stage::Unloaded(_) => return Finish::Ready(Outcome::nothing()),
            Stage::Out => {
                tracing::warn!(cookie = %self.name(), "session still held when the response was sent (moved into a task?): not saved");
                return Finish::Ready(Outcome::nothing());
            }
            Stage::In(loaded) => loaded,
        };
        self.conclude(loaded)
    }

    /// The lifecycle of a loaded session to its outcome: a change of user
    /// rotates the identity, a session issued anew is checked against its
    /// user's revocation time, then the plan is carried out in the tier.
    fn conclude(self: &Arc<Self>, mut loaded: Loaded<S>) -> Finish {
        if S::HAS_USER {
            rotate_on_login(&mut loaded);
        }
        if (self.core.revocation.is_some() || self.is_server()) && issues_anew(&loaded) {
            // a session of a user about to be issued anew: checked against
            // the user's revocation time first, and issued after it
            let slot = Arc::clone(self);
            return Finish::Pending(Box::pin(async move {
                match slot.check_before_issue(loaded).await {
                    Ok(loaded) => finish_now(slot.carry_on(loaded)).await,
                    Err(outcome) => outcome,
                }
            }));
        }
        self.carry_on(loaded)
    }

    /// The plan carried out in the tier of the layer.
    fn carry_on(self: &Arc<Self>, loaded: Loaded<S>) -> Finish {
        let now = unix_secs(&*self.core.settings.clock);
        if self.is_server() {
            return self.finish_server(loaded, now);
        }
        self.carry_out(loaded, now)
    }

    /// Before a session of a user is issued anew (a login, `cycle_id`, the
    /// session `revoke_user_sessions(true)` keeps), the user's revocation
    /// time is read again and the new issue time put after it. A session
    /// revoked by anyone else while this request ran is ended instead, so
    /// a racing request cannot re-issue itself past a revocation.
    async fn check_before_issue(&self, mut loaded: Loaded<S>) -> Result<Loaded<S>, Outcome> {
        let (Some(revocation), Some(user)) = (self.revocation_times(), loaded.data.user_key())
        else {
            return Ok(loaded);
        };
        let fence_only = self.core.revocation.is_none();
        let before = match revocation.revoked_before(&self.revocation_key(&user)).await {
            Ok(before) => before.unwrap_or(0),
            // a store without revocation times (memcached, a Redis Cluster)
            // has its user index alone, or none
            Err(crate::StoreError::Unsupported { .. }) if fence_only => return Ok(loaded),
            Err(err) => {
                tracing::warn!(cookie = %self.name(), error = %err, "user revocation store failed: the session is not issued");
                self.metrics()
                    .outage(revocation.store.name(), "revoked_before");
                return Err(Outcome::unavailable(
                    "the session store is unavailable; nothing was changed, please retry",
                ));
            }
        };
        let own = self.own_revocation.load(Ordering::SeqCst);
        let state = &loaded.state;
        let same_user = state.loaded_user.as_deref() == Some(user.as_str());
        let revoked = if self.revoked_meanwhile.load(Ordering::SeqCst) {
            true
        } else if own > 0 {
            // every revocation after ours is later than ours
            before > own
        } else if same_user && let Some(existing) = &state.existing {
            before >= existing.meta.issued_at
        } else {
            // a login: the new session starts after any revocation
            false
        };
        if revoked {
            self.metrics().refused("revoked");
            tracing::debug!(cookie = %self.name(), "session revoked while the request ran: ended, not re-issued");
            loaded.data = S::default_session();
            loaded.state.end();
            return Ok(loaded);
        }
        loaded.state.control.issued_after = before.max(own);
        loaded.state.control.fence_seen = Some(before.max(own));
        Ok(loaded)
    }

    /// The key of `user`'s revocation time: the user's own with
    /// `with_user_revocation` (it covers every type's cookies), this
    /// type's on a server layer's fence.
    pub(crate) fn revocation_key(&self, user: &str) -> String {
        if self.core.revocation.is_some() {
            user.to_owned()
        } else {
            crate::user::type_revocation_key(&self.core.index_cookie, user)
        }
    }

    /// Where users' revocation times are: the store of
    /// `with_user_revocation`, checked on every load; else, on a server
    /// layer, its own store, as a fence for sessions issued anew while a
    /// revocation runs (see [`Control::fence_seen`]).
    pub(crate) fn revocation_times(&self) -> Option<super::Revocation> {
        self.core.revocation.clone().or_else(|| {
            self.core
                .server
                .as_ref()
                .filter(|tier| tier.storage == crate::Storage::Server)
                .map(super::ServerTier::fence)
        })
    }

    /// Carries out the lifecycle plan: at once when no store call is needed
    /// (a cookie session, or a read-only request: no future is allocated),
    /// else after the store answers.
    pub(crate) fn carry_out(self: &Arc<Self>, loaded: Loaded<S>, now: u64) -> Finish {
        let plan = self.plan(&loaded, now);
        let needs_store = self.is_server()
            && (loaded.state.retire.is_some() || matches!(plan, Plan::Write { .. }));
        if !needs_store {
            if matches!(plan, Plan::Nothing) && loaded.state.existing.is_some() {
                self.metrics().unchanged();
            }
            return Finish::Ready(self.settle(plan, loaded.state.refused_token, now));
        }
        let slot = Arc::clone(self);
        Finish::Pending(Box::pin(
            async move { slot.execute(loaded, plan, now).await },
        ))
    }

    /// The one place a plan becomes a response, once any store work is
    /// done: a write here is a sealed cookie (server writes go through the
    /// store first).
    pub(crate) fn settle(&self, plan: Plan, refused: bool, now: u64) -> Outcome {
        let outcome = match plan {
            Plan::Nothing => Outcome::nothing(),
            Plan::Remove => self.removal(),
            Plan::Write { body, meta } => {
                self.metrics().saved(crate::telemetry::Tier::Cookie);
                self.write(&body, &meta, now)
            }
            Plan::Failed(reason) => Outcome::failed(reason),
        };
        self.clear_refused(refused, outcome)
    }

    /// A cookie that came but could not be opened is cleared, unless the
    /// response sets a new one: left in the browser, it would be sent (and
    /// refused) on every request.
    pub(crate) fn clear_refused(&self, refused: bool, outcome: Outcome) -> Outcome {
        if refused && !outcome.sets_token() && outcome.replace.is_none() {
            return self.removal();
        }
        outcome
    }

    /// The lifecycle rules: what to store, if anything.
    pub(crate) fn plan(&self, loaded: &Loaded<S>, now: u64) -> Plan {
        let config = &self.core.settings;
        let state = &loaded.state;
        let control = state.control;
        let forced = control.cycle
            || control.lifetime.is_some()
            || control.browser_session.is_some()
            || (config.always_save && state.existing.is_some());
        let body = if state.changed.is_empty() && !forced && !control.terminated {
            None
        } else {
            match self.core.codec.encode(&loaded.data) {
                Ok(body) => Some(body),
                Err(err) => {
                    tracing::error!(cookie = %self.name(), error = %err, "session could not be encoded: not saved");
                    return Plan::Failed(format!("the session could not be saved: {err}"));
                }
            }
        };

        // a session equal to a fresh one is no session: nothing to send, and
        // an existing cookie is expired when the handler terminated it
        let is_default = |body: &[u8]| match self.core.codec.encode(&S::default_session()) {
            Ok(default) => default == body,
            Err(_) => false,
        };
        let Some(existing) = &state.existing else {
            return match body {
                Some(body) if !is_default(&body) => Plan::Write {
                    meta: self.new_meta(None, control, now),
                    body,
                },
                _ if control.terminated && state.had_token => Plan::Remove,
                _ => Plan::Nothing,
            };
        };

        let mut meta = self.new_meta(Some(existing), control, now);
        let lifetime = effective_lifetime(config, &existing.meta, control);
        let sealed_at = existing.meta.expires_at.saturating_sub(lifetime.as_secs());
        // near the absolute cap a refresh would not move the expiry
        let refresh_due = now.saturating_sub(sealed_at) >= config.refresh_after(lifetime).as_secs()
            && meta.expires_at > existing.meta.expires_at;
        if existing.server.is_some()
            && !config.always_save
            && !refresh_due
            && !existing.stale_key
            && !control.cycle
            && control.lifetime.is_none()
            && control.browser_session.is_none()
        {
            // a server-side write keeps the expiry the client's cookie was
            // last given, so the cookie need not be sent again: record and
            // cookie are refreshed together, when a refresh is due
            meta.expires_at = existing.meta.expires_at;
        }
        match body {
            Some(body) if body != existing.body || forced => Plan::Write { body, meta },
            // unchanged: refresh the expiry when enough of the lifetime has
            // passed, and move a session sealed under an old key to the
            // newest one so the old key can be retired
            _ if existing.stale_key || refresh_due => Plan::Write {
                body: existing.body.clone(),
                meta,
            },
            _ => Plan::Nothing,
        }
    }

    /// Whether writing `meta` changes what the client holds: a new expiry
    /// or cookie kind, or a token signed under an older key. A server-side
    /// save that changes none of these sends no `Set-Cookie`.
    pub(crate) fn token_changes(existing: &Existing, meta: &Meta) -> bool {
        existing.stale_key
            || existing.meta.expires_at != meta.expires_at
            || existing.meta.browser_session != meta.browser_session
    }

    fn new_meta(&self, existing: Option<&Existing>, control: Control, now: u64) -> Meta {
        let config = &self.core.settings;
        let issued_at = match existing {
            Some(existing) if !control.cycle => existing.meta.issued_at,
            _ => now,
        }
        .max(match control.issued_after {
            0 => 0,
            at => at.saturating_add(1),
        });
        let lifetime = match existing {
            Some(existing) => effective_lifetime(config, &existing.meta, control),
            None => control
                .lifetime
                .unwrap_or(config.lifetime)
                .min(crate::MAX_LIFETIME),
        };
        // a session issued after a revocation may carry an issue time ahead
        // of the clock: its lifetime counts from then
        let mut expires_at = now.max(issued_at).saturating_add(lifetime.as_secs());
        let limit = config.absolute_limit(lifetime);
        expires_at = expires_at.min(issued_at.saturating_add(limit.as_secs()));
        let custom = control.lifetime.or_else(|| {
            existing.and_then(|e| {
                (e.meta.lifetime > 0).then(|| Duration::from_secs(e.meta.lifetime.into()))
            })
        });
        Meta {
            issued_at,
            expires_at,
            lifetime: custom.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            browser_session: control
                .browser_session
                .or_else(|| existing.map(|e| e.meta.browser_session))
                .unwrap_or(config.browser_session),
        }
    }

    pub(crate) fn write(&self, body: &[u8], meta: &Meta, now: u64) -> Outcome {
        let sealed = self
            .core
            .codec
            .seal_value(&self.core.sealer, self.name(), meta, body);
        match self.sealed_token(&sealed, meta, now) {
            Some(outcome) => outcome,
            None => {
                // only a hand-written MaxEncodedLen that understates can get here
                tracing::error!(cookie = %self.name(), len = sealed.len(), "sealed session exceeds 4096 bytes: not saved");
                Outcome::failed("the session is too large for its cookie".to_owned())
            }
        }
    }

    /// A sealed session as the token, base64-encoded where it goes; `None`
    /// when the cookie would be over the browsers' 4096 bytes.
    pub(crate) fn sealed_token(&self, sealed: &[u8], meta: &Meta, now: u64) -> Option<Outcome> {
        let value_len = crate::seal::envelope::base64_len(sealed.len());
        if self.name().len() + 1 + value_len > crate::seal::envelope::COOKIE_LIMIT {
            return None;
        }
        let sealer = &self.core.sealer;
        Some(self.token_with(value_len, meta, now, |out| {
            sealer.encode_into(sealed, out);
        }))
    }

    /// The token `value` (a signed ID), living as long as `meta` says: in a
    /// `Set-Cookie`, in the token header, or both.
    pub(crate) fn token(&self, value: &str, meta: &Meta, now: u64) -> Outcome {
        self.token_with(value.len(), meta, now, |out| out.push_str(value))
    }

    /// A token of `value_len` characters that `write_value` appends.
    fn token_with(
        &self,
        value_len: usize,
        meta: &Meta,
        now: u64,
        write_value: impl Fn(&mut String),
    ) -> Outcome {
        let max_age = (!meta.browser_session).then(|| meta.expires_at.saturating_sub(now));
        let (cookie, header) = self.channels();
        Outcome {
            set_cookie: cookie.then(|| {
                token::set_cookie_with(
                    self.name(),
                    value_len,
                    &self.core.cookie_attributes,
                    max_age,
                    &write_value,
                )
            }),
            token: header.then(|| {
                let mut value = String::with_capacity(value_len);
                write_value(&mut value);
                value
            }),
            replace: None,
        }
    }

    /// Ends the client's token: the cookie expired with the same name, path
    /// and domain, and the token header sent empty.
    pub(crate) fn removal(&self) -> Outcome {
        let (cookie, header) = self.channels();
        Outcome {
            set_cookie: cookie.then(|| token::removal(&self.core.settings, self.name())),
            token: header.then(String::new),
            replace: None,
        }
    }

    /// Which channel answers, cookie or header: the one the token came in
    /// (a header client without a token asks by sending the header empty).
    /// Never both: a token in a response header is readable by scripts
    /// and logged by proxies, which a cookie client's `HttpOnly` rules out.
    fn channels(&self) -> (bool, bool) {
        let header = self.from_header && self.core.settings.token_header.is_some();
        (!header, header)
    }
}

fn effective_lifetime(config: &Settings, meta: &Meta, control: Control) -> Duration {
    control
        .lifetime
        .unwrap_or_else(|| {
            if meta.lifetime > 0 {
                Duration::from_secs(meta.lifetime.into())
            } else {
                config.lifetime
            }
        })
        .min(crate::MAX_LIFETIME)
}

/// A session saved with another `#[session(user)]` than it was loaded with
/// is a login (or a switch of user): it takes a new identity, a new ID on
/// the server tier and a new issue time in a cookie, against fixation.
fn rotate_on_login<S: SessionData>(loaded: &mut Loaded<S>) {
    let state = &mut loaded.state;
    if state.existing.is_some()
        && !state.control.terminated
        && loaded.data.user_key() != state.loaded_user
    {
        state.control.cycle = true;
    }
}

/// Whether the response would issue a session of a user with a new issue
/// time: a new session, or a cycled one, that something is written for.
fn issues_anew<S: SessionData>(loaded: &Loaded<S>) -> bool {
    let state = &loaded.state;
    // a terminated session that was given values again (`restart()`, or
    // `terminate()` then setters) is a new session too
    S::HAS_USER
        && (!state.control.terminated || !state.changed.is_empty())
        && (state.control.cycle || state.existing.is_none())
        && (state.control.cycle || !state.changed.is_empty())
        && loaded.data.user_key().is_some()
}

/// The outcome of `finish`, waiting for the store when it must.
async fn finish_now(finish: Finish) -> Outcome {
    match finish {
        Finish::Ready(outcome) => outcome,
        Finish::Pending(saving) => saving.await,
    }
}
