//! Per-request session state, shared by the service and the extractor.
//!
//! The service puts a [`Slot`] in the request's extensions holding only the
//! raw cookie (a cheap `HeaderValue` clone). Nothing is decoded unless a
//! handler extracts the session; the handler then owns the typed state (no
//! lock per field access) and hands it back when its `Session` is dropped.
//! After the handler returns, the service asks the slot what, if anything,
//! to write: the decision rules of the session lifecycle live here (as a
//! [`Plan`]), carried out in a cookie here or in a store by [`server`].

mod server;

pub(crate) use server::ServerTier;
pub use server::{DEFAULT_CONTENTION_TIMEOUT, DEFAULT_STORE_TIMEOUT, OutagePolicy};

use crate::codec::CodecError;
use crate::config::{Config, unix_secs};
use crate::cookie_header::RawCookie;
use crate::data::{FieldSet, SessionAccess, SessionData};
use crate::id::{SessionId, StoreKey};
use crate::seal::{KeyRing, Meta, OpenError, Opened};
use crate::store::Record;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the slot needs from the layer, with the codec type erased.
pub(crate) trait Engine<S>: Send + Sync + 'static {
    fn config(&self) -> &Config;
    /// The pre-rendered `Set-Cookie` attributes.
    fn cookie_attributes(&self) -> &str;
    /// The cookie's name on the wire (with its prefix).
    fn cookie_name(&self) -> &str;
    fn open(&self, name: &str, value: &str, now: u64) -> Result<Opened<S>, OpenError>;
    fn encode(&self, data: &S) -> Result<Vec<u8>, CodecError>;
    fn seal_body(&self, name: &str, meta: &Meta, body: &[u8]) -> String;
    /// The key ring, to sign server-side session IDs.
    fn keys(&self) -> &KeyRing;
    /// The server tier of a layer built with a store.
    fn server(&self) -> Option<&ServerTier>;
    /// Seals `data` for the store under `key`: the durable blob and, when
    /// `split_quick`, the quick fields' blob.
    fn seal_record(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
        split_quick: bool,
    ) -> Result<(Vec<u8>, Vec<u8>), CodecError>;
    /// Opens a store record sealed by [`seal_record`](Self::seal_record)
    /// with the same `split_quick`.
    fn open_record(
        &self,
        key: &StoreKey,
        record: Record,
        now: u64,
        split_quick: bool,
    ) -> Result<Opened<S>, OpenError>;
}

/// The session as it was loaded from the request.
#[derive(Debug)]
pub(crate) struct Existing {
    pub(crate) meta: Meta,
    pub(crate) body: Vec<u8>,
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

/// A loaded session, between extractions.
pub(crate) struct Loaded<S: SessionData> {
    pub(crate) data: S,
    pub(crate) changed: FieldSet,
    pub(crate) existing: Option<Existing>,
    /// A session cookie came with the request (valid or not): a terminate
    /// must expire it.
    pub(crate) had_cookie: bool,
    pub(crate) control: Control,
    /// A server record to delete at the end of the request (terminated).
    pub(crate) retire: Option<SessionId>,
    /// The store failed at load and the outage policy let the handler run:
    /// nothing is written for this request.
    pub(crate) degraded: bool,
    /// `Session::atomically` closures, for a server layer.
    pub(crate) replay: Replay<S>,
}

impl<S: SessionData> Loaded<S> {
    fn fresh(had_cookie: bool) -> Self {
        Self {
            data: S::default_session(),
            changed: FieldSet::new(),
            existing: None,
            had_cookie,
            control: Control::default(),
            retire: None,
            degraded: false,
            replay: Replay::default(),
        }
    }
}

enum State<S: SessionData> {
    /// Not extracted yet: the raw cookie, if any.
    Unloaded(Option<RawCookie>),
    /// A handler holds the session.
    Out,
    /// Extracted and handed back.
    In(Loaded<S>),
    /// The store failed while loading: nothing is written.
    Unavailable,
}

/// What to do to the response.
pub(crate) enum Outcome {
    /// Nothing: no `Set-Cookie`.
    Nothing,
    /// Send this cookie.
    SetCookie(http::HeaderValue),
    /// The session could not be saved: the response must say so (500).
    Failed(String),
    /// The store is unreachable: the response must say so (503).
    Unavailable(String),
    /// Too many concurrent writes to this session: 503 with `Retry-After`.
    Contended(String),
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
    engine: Arc<dyn Engine<S>>,
    state: Mutex<State<S>>,
    /// A handler extracted the session: the response is personal.
    extracted: AtomicBool,
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
    pub(crate) fn new(engine: Arc<dyn Engine<S>>, raw: Option<RawCookie>) -> Self {
        Self {
            engine,
            state: Mutex::new(State::Unloaded(raw)),
            extracted: AtomicBool::new(false),
        }
    }

    /// Whether a handler extracted the session in this request.
    pub(crate) fn was_extracted(&self) -> bool {
        self.extracted.load(Ordering::Relaxed)
    }

    /// Whether the layer keeps sessions in a store (closures are recorded
    /// for replay only then).
    pub(crate) fn is_server(&self) -> bool {
        self.engine.server().is_some()
    }

    fn name(&self) -> &str {
        self.engine.cookie_name()
    }

    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // a handler that panicked while holding the lock leaves valid state
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands the session to a handler, loading it on first use. Without
    /// I/O only: a server layer's cookie needs [`take_async`](Self::take_async).
    pub(crate) fn take(&self) -> Result<Loaded<S>, TakeError> {
        self.extracted.store(true, Ordering::Relaxed);
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Out) {
            State::Unloaded(Some(raw)) if self.engine.server().is_some() => {
                *state = State::Unloaded(Some(raw));
                Err(TakeError::NeedsAsync)
            }
            State::Unloaded(raw) => Ok(self.load(raw.as_ref())),
            State::In(loaded) => Ok(loaded),
            State::Out => Err(TakeError::AlreadyTaken),
            State::Unavailable => {
                *state = State::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Receives the session back from a handler.
    pub(crate) fn put(&self, loaded: Loaded<S>) {
        *self.lock() = State::In(loaded);
    }

    /// Opens a sealed cookie (no I/O).
    fn load(&self, raw: Option<&RawCookie>) -> Loaded<S> {
        let Some(raw) = raw else {
            return Loaded::fresh(false);
        };
        let config = self.engine.config();
        let now = unix_secs(&*config.clock);
        let opened = raw
            .value()
            .ok_or(OpenError::NotBase64)
            .and_then(|value| self.engine.open(self.name(), value, now));
        match opened {
            Ok(opened) => self.loaded(opened, None, now),
            Err(reason) => {
                tracing::debug!(cookie = %self.name(), %reason, "session cookie refused: starting a new session");
                Loaded::fresh(true)
            }
        }
    }

    /// An opened session, unless it is past its absolute timeout.
    fn loaded(&self, opened: Opened<S>, server: Option<ServerRef>, now: u64) -> Loaded<S> {
        let absolute_end = self
            .engine
            .config()
            .absolute_timeout
            .map(|limit| opened.meta.issued_at.saturating_add(limit.as_secs()));
        if absolute_end.is_some_and(|end| now >= end) {
            tracing::debug!(cookie = %self.name(), "session past its absolute timeout: starting a new one");
            let mut fresh = Loaded::fresh(true);
            // the old record goes with it
            fresh.retire = server.map(|server| server.id);
            return fresh;
        }
        Loaded {
            data: opened.data,
            changed: FieldSet::new(),
            existing: Some(Existing {
                meta: opened.meta,
                body: opened.body,
                stale_key: opened.stale_key,
                server,
            }),
            had_cookie: true,
            control: Control::default(),
            retire: None,
            degraded: false,
            replay: Replay::default(),
        }
    }
}

// the store's futures hold the session across awaits, so it must be `Send`
impl<S: SessionData + Send> Slot<S> {
    /// Hands the session to a handler, loading it (from the store if need
    /// be) on first use.
    pub(crate) async fn take_async(&self) -> Result<Loaded<S>, TakeError> {
        self.extracted.store(true, Ordering::Relaxed);
        let raw = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Out) {
                State::Unloaded(raw) => raw,
                State::In(loaded) => return Ok(loaded),
                State::Out => return Err(TakeError::AlreadyTaken),
                State::Unavailable => {
                    *state = State::Unavailable;
                    return Err(TakeError::Unavailable);
                }
            }
        };
        if self.engine.server().is_none() {
            return Ok(self.load(raw.as_ref()));
        }
        match self.load_server(raw.as_ref()).await {
            Ok(loaded) => Ok(loaded),
            Err(()) => {
                *self.lock() = State::Unavailable;
                Err(TakeError::Unavailable)
            }
        }
    }

    /// Decides what the response carries, after the handler returned.
    pub(crate) fn finish(self: &Arc<Self>, status: http::StatusCode, https: bool) -> Finish {
        let config = self.engine.config();
        if status.is_server_error() {
            // the handler failed: nothing it changed is trusted
            return Finish::Ready(Outcome::Nothing);
        }
        if config.ssl_only && !https {
            return Finish::Ready(Outcome::Nothing);
        }
        let state = std::mem::replace(&mut *self.lock(), State::Out);
        let server = self.engine.server().is_some();
        let loaded = match state {
            State::Unloaded(None) | State::Unavailable => return Finish::Ready(Outcome::Nothing),
            State::Unloaded(Some(raw)) if config.always_save && server => {
                let slot = Arc::clone(self);
                return Finish::Pending(Box::pin(async move {
                    let Ok(loaded) = slot.load_server(Some(&raw)).await else {
                        return Outcome::Nothing;
                    };
                    let now = unix_secs(&*slot.engine.config().clock);
                    match slot.finish_server(loaded, now) {
                        Finish::Ready(outcome) => outcome,
                        Finish::Pending(saving) => saving.await,
                    }
                }));
            }
            State::Unloaded(Some(raw)) if config.always_save => self.load(Some(&raw)),
            State::Unloaded(Some(_)) => return Finish::Ready(Outcome::Nothing),
            State::Out => {
                tracing::warn!(cookie = %self.name(), "session still held when the response was sent (moved into a task?): not saved");
                return Finish::Ready(Outcome::Nothing);
            }
            State::In(loaded) => loaded,
        };
        let now = unix_secs(&*config.clock);
        if server {
            return self.finish_server(loaded, now);
        }
        Finish::Ready(match self.plan(&loaded, now) {
            Plan::Nothing => Outcome::Nothing,
            Plan::Remove => self.removal(),
            Plan::Write { body, meta } => self.write(&body, &meta, now),
            Plan::Failed(reason) => Outcome::Failed(reason),
        })
    }

    /// The lifecycle rules: what to store, if anything.
    fn plan(&self, loaded: &Loaded<S>, now: u64) -> Plan {
        let config = self.engine.config();
        let control = loaded.control;
        let forced = control.cycle
            || control.lifetime.is_some()
            || control.browser_session.is_some()
            || (config.always_save && loaded.existing.is_some());
        let body = if loaded.changed.is_empty() && !forced && !control.terminated {
            None
        } else {
            match self.engine.encode(&loaded.data) {
                Ok(body) => Some(body),
                Err(err) => {
                    tracing::error!(cookie = %self.name(), error = %err, "session could not be encoded: not saved");
                    return Plan::Failed(format!("the session could not be saved: {err}"));
                }
            }
        };

        // a session equal to a fresh one is no session: nothing to send, and
        // an existing cookie is expired when the handler terminated it
        let is_default = |body: &[u8]| match self.engine.encode(&S::default_session()) {
            Ok(default) => default == body,
            Err(_) => false,
        };
        let Some(existing) = &loaded.existing else {
            return match body {
                Some(body) if !is_default(&body) => Plan::Write {
                    meta: self.new_meta(None, control, now),
                    body,
                },
                _ if control.terminated && loaded.had_cookie => Plan::Remove,
                _ => Plan::Nothing,
            };
        };

        let meta = self.new_meta(Some(existing), control, now);
        match body {
            Some(body) if body != existing.body || forced => Plan::Write { body, meta },
            // unchanged: refresh the expiry when enough of the lifetime has
            // passed, and move a session sealed under an old key to the
            // newest one so the old key can be retired
            _ if existing.stale_key => Plan::Write {
                body: existing.body.clone(),
                meta,
            },
            _ => {
                let lifetime = effective_lifetime(config, &existing.meta, control);
                let sealed_at = existing.meta.expires_at.saturating_sub(lifetime.as_secs());
                let due = now.saturating_sub(sealed_at) >= config.refresh_after(lifetime).as_secs();
                // near the absolute cap a refresh would not move the expiry
                if due && meta.expires_at > existing.meta.expires_at {
                    Plan::Write {
                        body: existing.body.clone(),
                        meta,
                    }
                } else {
                    Plan::Nothing
                }
            }
        }
    }

    fn new_meta(&self, existing: Option<&Existing>, control: Control, now: u64) -> Meta {
        let config = self.engine.config();
        let issued_at = match existing {
            Some(existing) if !control.cycle => existing.meta.issued_at,
            _ => now,
        };
        let lifetime = match existing {
            Some(existing) => effective_lifetime(config, &existing.meta, control),
            None => control.lifetime.unwrap_or(config.lifetime),
        };
        let mut expires_at = now.saturating_add(lifetime.as_secs());
        if let Some(limit) = config.absolute_timeout {
            expires_at = expires_at.min(issued_at.saturating_add(limit.as_secs()));
        }
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
                .unwrap_or(false),
        }
    }

    fn write(&self, body: &[u8], meta: &Meta, now: u64) -> Outcome {
        let value = self.engine.seal_body(self.name(), meta, body);
        if self.name().len() + 1 + value.len() > crate::seal::envelope::COOKIE_LIMIT {
            // only a hand-written MaxEncodedLen that understates can get here
            tracing::error!(cookie = %self.name(), len = value.len(), "sealed session exceeds 4096 bytes: not saved");
            return Outcome::Failed("the session is too large for its cookie".to_owned());
        }
        self.cookie(&value, meta, now)
    }

    /// `Set-Cookie` for `value`, living as long as `meta` says.
    fn cookie(&self, value: &str, meta: &Meta, now: u64) -> Outcome {
        let max_age = (!meta.browser_session).then(|| meta.expires_at.saturating_sub(now));
        match crate::cookie_header::set_cookie(
            self.name(),
            value,
            self.engine.cookie_attributes(),
            max_age,
        ) {
            Some(header) => Outcome::SetCookie(header),
            None => Outcome::Failed("the session cookie could not be formatted".to_owned()),
        }
    }

    fn removal(&self) -> Outcome {
        match crate::cookie_header::removal(self.engine.config(), self.name()) {
            Some(header) => Outcome::SetCookie(header),
            None => Outcome::Nothing,
        }
    }
}

fn effective_lifetime(config: &Config, meta: &Meta, control: Control) -> Duration {
    control.lifetime.unwrap_or_else(|| {
        if meta.lifetime > 0 {
            Duration::from_secs(meta.lifetime.into())
        } else {
            config.lifetime
        }
    })
}
