//! [`Slot`]: one request's session, shared by the adapter and the
//! extractor, and the route a request takes through the core.
//!
//! The adapter creates the slot holding only the incoming token (a cheap
//! clone). Nothing is decoded unless a handler extracts the session
//! ([`take`](Slot::take), [`take_async`](Slot::take_async)): the cookie
//! tier opens the token, the server tier loads the record it names, and a
//! session with a user is checked against the user's revocation time.
//! The handler then owns the typed data (no lock per field access) and
//! hands it back when its `Session` is dropped. After the handler returns,
//! [`finish`](Slot::finish) goes one way: a login takes a new identity, a
//! session issued anew is checked against its user's revocation time, the
//! [`lifecycle`] rules decide, and the layer's tier ([`cookie`] or
//! [`server`]) carries the decision out into an [`Outcome`].

use super::lifecycle::{self, Body, Decision, Facts, Written};
use super::outcome::{Answer, Finish, Outcome, Plan, STORE_UNAVAILABLE};
use super::server::{self, LoadError, Server};
use super::state::Loaded;
use super::token::Incoming;
use super::{Core, cookie};
use crate::config::unix_secs;
use crate::data::SessionData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where the request's session is. The loaded data is kept inline (its
/// state is boxed, see [`Loaded`]).
enum Stage<S: SessionData> {
    /// Not extracted yet, and the token not looked for: that waits for the
    /// first extraction, so a route that never takes the session does not
    /// scan the request's cookies.
    Unfound,
    /// Not extracted yet: the incoming token.
    Unloaded(Incoming),
    /// A handler holds the session.
    Out,
    /// Extracted and handed back.
    In(Loaded<S>),
    /// The store failed while loading: nothing is written.
    Unavailable,
}

/// One request's session state.
pub(crate) struct Slot<S: SessionData> {
    pub(crate) core: Arc<Core<S>>,
    stage: Mutex<Stage<S>>,
    /// A handler extracted the session: the response is personal.
    extracted: AtomicBool,
    /// Where the token came from, to answer in the same place (set when
    /// it is looked for).
    from_header: AtomicBool,
    /// Plain HTTP on an `ssl_only` layer: no token was read, none is
    /// written.
    ignored: bool,
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
    /// The slot of a request whose token is `incoming`, or is looked for
    /// at the first extraction (`None`); `ignored` when the layer does not
    /// serve the request (`ssl_only` over plain HTTP).
    pub(crate) fn new(core: Arc<Core<S>>, incoming: Option<Incoming>, ignored: bool) -> Self {
        Self {
            core,
            from_header: AtomicBool::new(incoming.as_ref().is_some_and(Incoming::by_header)),
            stage: Mutex::new(incoming.map_or(Stage::Unfound, Stage::Unloaded)),
            extracted: AtomicBool::new(false),
            ignored,
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

    /// The layer's metrics.
    pub(crate) fn metrics(&self) -> &crate::telemetry::SessionMetrics {
        &self.core.metrics
    }

    /// How this request's response carries a token.
    pub(crate) fn answer(&self) -> Answer<'_> {
        self.core.answer(self.from_header.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Stage<S>> {
        // a handler that panicked while holding the lock leaves valid state
        self.stage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks for the request's token with `find`, unless it was looked for
    /// already: what an extraction does first, while it has the request.
    pub(crate) fn look_up(&self, find: impl FnOnce() -> Incoming) {
        drop(self.found(find));
    }

    /// The stage, with the token looked for by `find` if it was not yet:
    /// at the first extraction.
    fn found(&self, find: impl FnOnce() -> Incoming) -> MutexGuard<'_, Stage<S>> {
        self.extracted.store(true, Ordering::Relaxed);
        let mut stage = self.lock();
        if let Stage::Unfound = *stage {
            let incoming = find();
            self.from_header
                .store(incoming.by_header(), Ordering::Relaxed);
            *stage = Stage::Unloaded(incoming);
        }
        stage
    }

    /// Hands the session to a handler, loading it on first use (the token
    /// was found by [`look_up`](Self::look_up)). Without I/O only: a token
    /// a store must be asked about needs [`take_async`](Self::take_async).
    pub(crate) fn take(&self) -> Result<Loaded<S>, TakeError> {
        let mut stage = self.found(Incoming::default);
        match std::mem::replace(&mut *stage, Stage::Out) {
            Stage::Unloaded(incoming)
                if self.core.needs_io() && !incoming.candidates().is_empty() =>
            {
                *stage = Stage::Unloaded(incoming);
                Err(TakeError::NeedsAsync)
            }
            Stage::Unloaded(incoming) => Ok(cookie::load(&self.core, &incoming)),
            Stage::In(loaded) => Ok(loaded),
            Stage::Out => Err(TakeError::AlreadyTaken),
            Stage::Unavailable | Stage::Unfound => {
                *stage = Stage::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Receives the session back from a handler.
    pub(crate) fn put(&self, loaded: Loaded<S>) {
        *self.lock() = Stage::In(loaded);
    }
}

// the store's futures hold the session across awaits, so it must be `Send`
impl<S: SessionData + Send> Slot<S> {
    /// Hands the session to a handler, loading it (from the store if need
    /// be) on first use. The token was found by [`look_up`](Self::look_up)
    /// (a request whose token nobody looked for has none).
    pub(crate) async fn take_async(&self) -> Result<Loaded<S>, TakeError> {
        let incoming = {
            let mut stage = self.found(Incoming::default);
            match std::mem::replace(&mut *stage, Stage::Out) {
                Stage::Unloaded(incoming) => incoming,
                Stage::In(loaded) => return Ok(loaded),
                Stage::Out => return Err(TakeError::AlreadyTaken),
                Stage::Unavailable | Stage::Unfound => {
                    *stage = Stage::Unavailable;
                    return Err(TakeError::Unavailable);
                }
            }
        };
        self.load(&incoming).await
    }

    /// Loads the incoming token with every check a load makes: from the
    /// tier, then against the user's revocation time. Handlers'
    /// extraction and always-save use this one path.
    async fn load(&self, incoming: &Incoming) -> Result<Loaded<S>, TakeError> {
        let loaded = match Server::of(&self.core, self.from_header.load(Ordering::Relaxed)) {
            // boxed: a store load is a large future, and the cookie path's
            // extractor (inside every handler's future) should not carry it
            Some(server) => match Box::pin(server.load(incoming)).await {
                Ok(loaded) => loaded,
                Err(LoadError::Unavailable) => {
                    *self.lock() = Stage::Unavailable;
                    return Err(TakeError::Unavailable);
                }
            },
            None => cookie::load(&self.core, incoming),
        };
        if self.core.revocation.is_none() {
            return Ok(loaded);
        }
        Box::pin(self.unless_revoked(loaded)).await
    }

    /// With `with_user_revocation`: a session of a user issued at or
    /// before the user's revocation time is refused (and its record, if
    /// any, deleted at the end of the request). A store failure fails the
    /// request: a revoked session is never let through.
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
                tracing::debug!(cookie = %self.core.cookie_name, "session issued before its user's revocation: starting a new session");
                Ok(Loaded::retired(
                    loaded.state.had_token,
                    existing.server.as_ref(),
                ))
            }
            Err(err) => {
                tracing::warn!(cookie = %self.core.cookie_name, error = %err, "user revocation store failed: the session is not served");
                self.metrics().outage(revocation.name(), "revoked_before");
                *self.lock() = Stage::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Decides what the response carries, after the handler returned with
    /// `status`: at once when no store call is needed (a cookie session,
    /// or a read-only request: no future is allocated), else after the
    /// store answers.
    pub(crate) fn finish(self: &Arc<Self>, status: u16) -> Finish {
        let always_save = self.core.settings.always_save;
        if status >= 500 || self.ignored || (!self.was_extracted() && !always_save) {
            // the handler failed (nothing it changed is trusted), the
            // layer does not serve the request, or the common case: a
            // route that never looked at the session
            return Finish::Ready(Outcome::nothing());
        }
        let loaded = match std::mem::replace(&mut *self.lock(), Stage::Out) {
            Stage::In(loaded) => loaded,
            Stage::Unloaded(incoming) if always_save && !matches!(incoming, Incoming::None) => {
                if !self.core.needs_io() {
                    cookie::load(&self.core, &incoming)
                } else {
                    // loaded as an extraction would: store, revocation and all
                    let slot = Arc::clone(self);
                    return Finish::Pending(Box::pin(async move {
                        match slot.load(&incoming).await {
                            Ok(loaded) => slot.conclude(loaded).outcome().await,
                            Err(_) => Outcome::nothing(),
                        }
                    }));
                }
            }
            Stage::Unfound | Stage::Unloaded(_) | Stage::Unavailable => {
                return Finish::Ready(Outcome::nothing());
            }
            Stage::Out => {
                tracing::warn!(cookie = %self.core.cookie_name, "session still held when the response was sent (moved into a task?): not saved");
                return Finish::Ready(Outcome::nothing());
            }
        };
        self.conclude(loaded)
    }

    /// A handed-back session to its outcome: a change of user rotates the
    /// identity, a session issued anew is checked against its user's
    /// revocation time, then the decision is carried out.
    fn conclude(self: &Arc<Self>, mut loaded: Loaded<S>) -> Finish {
        let user = if S::HAS_USER {
            loaded.data.user_key()
        } else {
            None
        };
        let state = &mut loaded.state;
        if S::HAS_USER
            && lifecycle::is_login(
                state.existing.is_some(),
                state.control,
                user.as_deref(),
                state.loaded_user.as_deref(),
            )
        {
            state.control.cycle = true;
        }
        let issues_anew = lifecycle::issues_anew(&facts(&loaded), user.is_some());
        if self.core.needs_io() && issues_anew {
            let slot = Arc::clone(self);
            return Finish::Pending(Box::pin(async move {
                match slot.check_before_issue(loaded).await {
                    Ok(loaded) => slot.carry_out(loaded).outcome().await,
                    Err(outcome) => outcome,
                }
            }));
        }
        self.carry_out(loaded)
    }

    /// Before a session of a user is issued anew (a login, `cycle_id`, the
    /// session `revoke_user_sessions(true)` keeps), the user's revocation
    /// time is read again and the new issue time put after it. A session
    /// revoked by anyone else while this request ran is ended instead, so
    /// a racing request cannot re-issue itself past a revocation.
    async fn check_before_issue(&self, mut loaded: Loaded<S>) -> Result<Loaded<S>, Outcome> {
        let (Some(revocation), Some(user)) = (self.core.revocation_times(), loaded.data.user_key())
        else {
            return Ok(loaded);
        };
        let fence_only = self.core.revocation.is_none();
        let before = match revocation
            .revoked_before(&self.core.revocation_key(&user))
            .await
        {
            Ok(before) => before.unwrap_or(0),
            // a store without revocation times (memcached, a Redis Cluster)
            // has its user index alone, or none
            Err(crate::StoreError::Unsupported { .. }) if fence_only => return Ok(loaded),
            Err(err) => {
                tracing::warn!(cookie = %self.core.cookie_name, error = %err, "user revocation store failed: the session is not issued");
                self.metrics().outage(revocation.name(), "revoked_before");
                return Err(Outcome::unavailable(STORE_UNAVAILABLE));
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
            tracing::debug!(cookie = %self.core.cookie_name, "session revoked while the request ran: ended, not re-issued");
            loaded.data = S::default_session();
            loaded.state.end();
            return Ok(loaded);
        }
        loaded.state.control.issued_after = before.max(own);
        loaded.state.control.fence_seen = Some(before.max(own));
        Ok(loaded)
    }

    /// The lifecycle decision carried out in the layer's tier.
    fn carry_out(self: &Arc<Self>, mut loaded: Loaded<S>) -> Finish {
        if loaded.state.degraded {
            // the store was down at load: writing would replace the user's
            // cookie with a new, empty session
            return Finish::Ready(Outcome::nothing());
        }
        let now = unix_secs(&*self.core.settings.clock);
        let plan = self.plan(&mut loaded, now);
        if self.is_server() {
            let from_header = self.from_header.load(Ordering::Relaxed);
            return server::carry_out(&self.core, from_header, loaded, plan, now);
        }
        let refused = loaded.state.refused_token;
        Finish::Ready(cookie::carry_out(
            &self.core,
            self.answer(),
            plan,
            refused,
            now,
        ))
    }

    /// Encodes the session where the rules need it, and turns their
    /// decision into a plan.
    fn plan(&self, loaded: &mut Loaded<S>, now: u64) -> Plan {
        let settings = &self.core.settings;
        let facts = facts(loaded);
        let mut encoded = None;
        let body = if lifecycle::must_encode(settings, &facts) {
            let bytes = match self.core.codec.encode(&loaded.data) {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::error!(cookie = %self.core.cookie_name, error = %err, "session could not be encoded: not saved");
                    return Plan::Done(Outcome::failed(format!(
                        "the session could not be saved: {err}"
                    )));
                }
            };
            let body = match facts.existing {
                Some(existing) if existing.body == bytes => Body::Same,
                Some(_) => Body::New,
                None if self.is_fresh(&bytes) => Body::Fresh,
                None => Body::New,
            };
            encoded = Some(bytes);
            body
        } else {
            Body::NotEncoded
        };
        match lifecycle::decide(settings, &facts, body, now) {
            Decision::Nothing => {
                if facts.existing.is_some() {
                    // a write avoided
                    self.metrics().unchanged();
                }
                Plan::Done(Outcome::nothing())
            }
            Decision::Remove => Plan::Done(self.answer().removal()),
            Decision::Write { body, meta } => {
                let loaded_body = loaded.state.existing.as_mut().map(|e| &mut e.body);
                let body = match (body, encoded, loaded_body) {
                    (Written::Encoded, Some(bytes), _) => bytes,
                    (Written::Loaded, _, Some(bytes)) => std::mem::take(bytes),
                    _ => {
                        return Plan::Done(Outcome::failed(
                            "the session to write was not encoded".to_owned(),
                        ));
                    }
                };
                Plan::Write { body, meta }
            }
        }
    }

    /// Whether `body` is the encoding of a fresh session: a session equal
    /// to a fresh one is no session, and nothing is sent for it.
    fn is_fresh(&self, body: &[u8]) -> bool {
        self.core
            .codec
            .encode(&S::default_session())
            .is_ok_and(|fresh| fresh == body)
    }
}

/// What the lifecycle rules look at in a loaded session.
fn facts<S: SessionData>(loaded: &Loaded<S>) -> Facts<'_> {
    let state = &loaded.state;
    Facts {
        existing: state.existing.as_ref(),
        control: state.control,
        changed: !state.changed.is_empty(),
        had_token: state.had_token,
    }
}
