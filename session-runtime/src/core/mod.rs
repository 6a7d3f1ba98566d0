//! The framework-neutral request core.
//!
//! One [`Core`] per layer holds what every request needs: the validated
//! [`Settings`](crate::config::Settings), the sealer, the codec (behind the
//! small object-safe [`CodecOps`]) and the server tier. One [`Slot`] per
//! request holds that request's state ([`RequestState`]): where the token
//! came from, what was loaded, what the handler changed and asked for. The
//! lifecycle rules turn that into a [`Plan`], and the plan into an
//! [`Outcome`] — a `Set-Cookie` line, a token header, or a replacement
//! response — in one place, [`Slot::finish`].
//!
//! Nothing here knows Tower or actix-web: the adapters
//! ([`tower`](crate::tower), `actix`) find the token in their request type,
//! call [`Core::begin`] and [`Slot::finish`], and apply the [`Outcome`] to
//! their response type.

pub(crate) mod cache;
mod codec_ops;
mod revocation;
mod server;
mod slot;
pub(crate) mod token;

pub(crate) use codec_ops::CodecOps;

/// The codec operations of `C` for `S`, erased.
pub(crate) fn codec_ops_for<S: SessionData, C: crate::codec::Codec>() -> Arc<dyn CodecOps<S>> {
    Arc::new(codec_ops::With::<C>::new())
}
pub(crate) use revocation::Revocation;
pub use server::{DEFAULT_CONTENTION_TIMEOUT, DEFAULT_STORE_TIMEOUT, OutagePolicy};
pub(crate) use server::{LoadError, ServerTier};
pub(crate) use slot::{Finish, Loaded, Outcome, RequestState, ServerRef, Slot, TakeError};

use crate::config::Settings;
use crate::data::SessionData;
use crate::seal::Sealer;
use std::sync::Arc;
use token::Incoming;

/// What every request of one layer shares.
pub(crate) struct Core<S: SessionData> {
    pub(crate) settings: Settings,
    pub(crate) sealer: Sealer,
    pub(crate) codec: Arc<dyn CodecOps<S>>,
    /// Set for layers built with a store.
    pub(crate) server: Option<ServerTier>,
    /// Per-user revocation times (`with_user_revocation`).
    pub(crate) revocation: Option<Revocation>,
    /// Rendered from `settings` when the layer is configured.
    pub(crate) cookie_attributes: String,
    /// The cookie's name on the wire (with its prefix).
    pub(crate) cookie_name: String,
    /// The cookie's name as the stores' user index keys it
    /// ([`index_key`](crate::user::index_key)): a user's sessions are
    /// listed and revoked per session type, as records are sealed per type.
    pub(crate) index_cookie: String,
    /// The metric keys, labelled with the cookie name.
    pub(crate) metrics: crate::telemetry::SessionMetrics,
}

impl<S: SessionData> Clone for Core<S> {
    fn clone(&self) -> Self {
        Self {
            settings: self.settings.clone(),
            sealer: self.sealer.clone(),
            codec: Arc::clone(&self.codec),
            server: self.server.clone(),
            revocation: self.revocation.clone(),
            cookie_attributes: self.cookie_attributes.clone(),
            cookie_name: self.cookie_name.clone(),
            index_cookie: self.index_cookie.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<S: SessionData> Core<S> {
    /// Re-renders what is derived from the settings.
    pub(crate) fn refresh(&mut self) {
        self.cookie_attributes = token::attribute_suffix(&self.settings);
        self.cookie_name = self.settings.cookie_name().into_owned();
        self.index_cookie = crate::user::index_key(self.cookie_name.clone());
        self.metrics = crate::telemetry::SessionMetrics::new(&self.cookie_name);
    }

    /// The state of a new request: whether it came over HTTPS, and the
    /// token it carries, found by the adapter's `find` — not even looked
    /// for when `ssl_only` refuses plain HTTP.
    pub(crate) fn begin(self: &Arc<Self>, https: bool, find: impl FnOnce() -> Incoming) -> Slot<S> {
        let incoming = if self.settings.ssl_only && !https {
            Incoming::None
        } else {
            find()
        };
        Slot::new(Arc::clone(self), incoming, https)
    }
}

#[cfg(test)]
mod tests;
