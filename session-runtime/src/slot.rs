//! Per-request session state, shared by the service and the extractor.
//!
//! The service puts a [`Slot`] in the request's extensions holding only the
//! raw cookie (a cheap `HeaderValue` clone). Nothing is decoded unless a
//! handler extracts the session; the handler then owns the typed state (no
//! lock per field access) and hands it back when its `Session` is dropped.
//! After the handler returns, the service asks the slot what, if anything,
//! to write: the decision rules of the session lifecycle live here.

use crate::codec::CodecError;
use crate::config::{Config, unix_secs};
use crate::cookie_header::RawCookie;
use crate::data::{FieldSet, SessionData};
use crate::seal::{Meta, OpenError, Opened};
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
}

/// The session as it was loaded from the request.
#[derive(Debug)]
pub(crate) struct Existing {
    pub(crate) meta: Meta,
    pub(crate) body: Vec<u8>,
    pub(crate) stale_key: bool,
}

/// Lifecycle requests made by the handler.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Control {
    pub(crate) cycle: bool,
    pub(crate) terminated: bool,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) browser_session: Option<bool>,
}

/// A loaded session, between extractions.
pub(crate) struct Loaded<S> {
    pub(crate) data: S,
    pub(crate) changed: FieldSet,
    pub(crate) existing: Option<Existing>,
    /// A session cookie came with the request (valid or not): a terminate
    /// must expire it.
    pub(crate) had_cookie: bool,
    pub(crate) control: Control,
}

enum State<S> {
    /// Not extracted yet: the raw cookie, if any.
    Unloaded(Option<RawCookie>),
    /// A handler holds the session.
    Out,
    /// Extracted and handed back.
    In(Loaded<S>),
}

/// What to do to the response.
pub(crate) enum Outcome {
    /// Nothing: no `Set-Cookie`.
    Nothing,
    /// Send this cookie.
    SetCookie(http::HeaderValue),
    /// The session could not be saved: the response must say so.
    Failed(String),
}

pub(crate) struct Slot<S> {
    engine: Arc<dyn Engine<S>>,
    state: Mutex<State<S>>,
}

/// Taking the session out of the slot failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TakeError {
    AlreadyTaken,
}

impl<S: SessionData> Slot<S> {
    pub(crate) fn new(engine: Arc<dyn Engine<S>>, raw: Option<RawCookie>) -> Self {
        Self {
            engine,
            state: Mutex::new(State::Unloaded(raw)),
        }
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

    /// Hands the session to a handler, loading it on first use.
    pub(crate) fn take(&self) -> Result<Loaded<S>, TakeError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Out) {
            State::Unloaded(raw) => Ok(self.load(raw.as_ref())),
            State::In(loaded) => Ok(loaded),
            State::Out => Err(TakeError::AlreadyTaken),
        }
    }

    /// Receives the session back from a handler.
    pub(crate) fn put(&self, loaded: Loaded<S>) {
        *self.lock() = State::In(loaded);
    }

    fn load(&self, raw: Option<&RawCookie>) -> Loaded<S> {
        let fresh = |had_cookie| Loaded {
            data: S::default_session(),
            changed: FieldSet::new(),
            existing: None,
            had_cookie,
            control: Control::default(),
        };
        let Some(raw) = raw else {
            return fresh(false);
        };
        let config = self.engine.config();
        let now = unix_secs(&*config.clock);
        let opened = raw
            .value()
            .ok_or(OpenError::NotBase64)
            .and_then(|value| self.engine.open(self.name(), value, now));
        match opened {
            Ok(opened) => {
                let absolute_end = config
                    .absolute_timeout
                    .map(|limit| opened.meta.issued_at.saturating_add(limit.as_secs()));
                if absolute_end.is_some_and(|end| now >= end) {
                    tracing::debug!(cookie = %self.name(), "session past its absolute timeout: starting a new one");
                    return fresh(true);
                }
                Loaded {
                    data: opened.data,
                    changed: FieldSet::new(),
                    existing: Some(Existing {
                        meta: opened.meta,
                        body: opened.body,
                        stale_key: opened.stale_key,
                    }),
                    had_cookie: true,
                    control: Control::default(),
                }
            }
            Err(reason) => {
                tracing::debug!(cookie = %self.name(), %reason, "session cookie refused: starting a new session");
                fresh(true)
            }
        }
    }

    /// Decides what the response carries, after the handler returned.
    pub(crate) fn finish(&self, status: http::StatusCode, https: bool) -> Outcome {
        let config = self.engine.config();
        if status.is_server_error() {
            // the handler failed: nothing it changed is trusted
            return Outcome::Nothing;
        }
        if config.ssl_only && !https {
            return Outcome::Nothing;
        }
        let state = std::mem::replace(&mut *self.lock(), State::Out);
        let loaded = match state {
            State::Unloaded(None) => return Outcome::Nothing,
            State::Unloaded(Some(raw)) if config.always_save => self.load(Some(&raw)),
            State::Unloaded(Some(_)) => return Outcome::Nothing,
            State::Out => {
                tracing::warn!(cookie = %self.name(), "session still held when the response was sent (moved into a task?): not saved");
                return Outcome::Nothing;
            }
            State::In(loaded) => loaded,
        };
        self.decide(loaded)
    }

    fn decide(&self, loaded: Loaded<S>) -> Outcome {
        let config = self.engine.config();
        let now = unix_secs(&*config.clock);
        let Loaded {
            data,
            changed,
            existing,
            had_cookie,
            control,
        } = loaded;

        let forced = control.cycle
            || control.lifetime.is_some()
            || control.browser_session.is_some()
            || (config.always_save && existing.is_some());
        let body = if changed.is_empty() && !forced && !control.terminated {
            None
        } else {
            match self.engine.encode(&data) {
                Ok(body) => Some(body),
                Err(err) => {
                    tracing::error!(cookie = %self.name(), error = %err, "session could not be encoded: not saved");
                    return Outcome::Failed(format!("the session could not be saved: {err}"));
                }
            }
        };

        // a session equal to a fresh one is no session: nothing to send, and
        // an existing cookie is expired when the handler terminated it
        let is_default = |body: &[u8]| match self.engine.encode(&S::default_session()) {
            Ok(default) => default == body,
            Err(_) => false,
        };
        let Some(existing) = existing else {
            return match body {
                Some(body) if !is_default(&body) => {
                    self.write(&body, &self.new_meta(None, control, now), now)
                }
                _ if control.terminated && had_cookie => self.removal(),
                _ => Outcome::Nothing,
            };
        };

        match body {
            Some(body) if body != existing.body || forced => {
                self.write(&body, &self.new_meta(Some(&existing), control, now), now)
            }
            // unchanged: refresh the expiry when enough of the lifetime has
            // passed, and move a session sealed under an old key to the
            // newest one so the old key can be retired
            _ if existing.stale_key => self.write(
                &existing.body,
                &self.new_meta(Some(&existing), control, now),
                now,
            ),
            _ => {
                let lifetime = effective_lifetime(config, &existing.meta, control);
                let sealed_at = existing.meta.expires_at.saturating_sub(lifetime.as_secs());
                let due = now.saturating_sub(sealed_at) >= config.refresh_after(lifetime).as_secs();
                let meta = self.new_meta(Some(&existing), control, now);
                // near the absolute cap a refresh would not move the expiry
                if due && meta.expires_at > existing.meta.expires_at {
                    self.write(&existing.body, &meta, now)
                } else {
                    Outcome::Nothing
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
        let max_age = (!meta.browser_session).then(|| meta.expires_at.saturating_sub(now));
        match crate::cookie_header::set_cookie(
            self.name(),
            &value,
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
