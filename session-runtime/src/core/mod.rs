//! The framework-neutral request core.
//!
//! One [`Core`] per layer holds what every request needs: the validated
//! [`Settings`](crate::config::Settings), the sealer, the codec (behind the
//! small object-safe [`CodecOps`]) and the server tier. A request flows one
//! way:
//!
//! 1. the adapter ([`tower`](crate::tower), `actix`) calls [`Core::begin`]
//!    with what it knows of the transport and a way to find the token
//!    ([`token`]), and lends the request's [`Slot`] to the extractor;
//! 2. a handler that extracts the session loads it through the slot
//!    ([`request`]): the [`cookie`] tier opens the token, the [`server`]
//!    tier loads the record it names, and the user's revocation time is
//!    checked ([`revocation`]);
//! 3. after the handler, [`Slot::finish`] gathers the facts ([`state`]),
//!    the pure [`lifecycle`] rules decide, and the layer's tier carries the
//!    decision out into one [`Outcome`];
//! 4. the adapter writes the outcome with the one response rule
//!    ([`response`]).
//!
//! Every store call goes through one guard ([`guarded`]): timeout, circuit
//! breaker, metrics and a span. Nothing here knows Tower or actix-web.

mod codec_ops;
mod cookie;
mod guarded;
mod lifecycle;
mod outcome;
mod record;
mod request;
pub(crate) mod response;
mod revocation;
mod server;
mod state;
pub(crate) mod token;

pub(crate) use codec_ops::CodecOps;

/// The codec operations of `C` for `S`, erased.
pub(crate) fn codec_ops_for<S: SessionData, C: crate::codec::Codec>() -> Arc<dyn CodecOps<S>> {
    Arc::new(codec_ops::With::<C>::new())
}
pub(crate) use guarded::Guarded;
pub(crate) use outcome::{Finish, Outcome};
pub(crate) use request::{Slot, TakeError};
pub(crate) use revocation::Revocation;
pub use server::OutagePolicy;
pub(crate) use server::ServerTier;
pub(crate) use state::{Loaded, RequestState};

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

    /// The state of a new request, given `transport`, which tells what the
    /// adapter knows of the request's transport (asked only for `ssl_only`),
    /// and `find`, which finds its token (called now only for
    /// `always_save`; else the first extraction looks). The one `ssl_only`
    /// decision: a request that did not come over HTTPS (its URI's scheme,
    /// or `X-Forwarded-Proto: https`, which `ssl_only` trusts from the
    /// proxy in front) is not served: its token is not even looked for,
    /// and no token is written.
    pub(crate) fn begin<'a>(
        self: &Arc<Self>,
        transport: impl FnOnce() -> Transport<'a>,
        find: impl FnOnce() -> Incoming,
    ) -> Slot<S> {
        let ignored = self.settings.ssl_only && !transport().is_https();
        let incoming = if ignored {
            Some(Incoming::None)
        } else if self.settings.always_save {
            // written back even when no handler extracts it
            Some(find())
        } else {
            // looked for at the first extraction
            None
        };
        Slot::new(Arc::clone(self), incoming, ignored)
    }

    /// The token a request carries, in `http` 1.x headers: the session
    /// cookie, else the token header.
    pub(crate) fn find_token(&self, headers: &http::HeaderMap) -> Incoming {
        token::incoming(token::find(headers, &self.cookie_name), || {
            let name = self.settings.token_header.as_ref()?;
            token::token_from_header(
                headers.get(name)?.as_bytes(),
                name == http::header::AUTHORIZATION,
            )
        })
    }

    /// How a request's response carries a token: in the token header when
    /// the token came in it (`from_header`), else in the cookie.
    pub(crate) fn answer(&self, from_header: bool) -> outcome::Answer<'_> {
        outcome::Answer::new(
            &self.settings,
            &self.cookie_name,
            &self.cookie_attributes,
            from_header,
        )
    }

    /// Whether loading a token may need a store: a server tier, or users'
    /// revocation times.
    pub(crate) fn needs_io(&self) -> bool {
        self.server.is_some() || self.revocation.is_some()
    }

    /// The key of `user`'s revocation time: the user's own with
    /// `with_user_revocation` (it covers every type's cookies), this
    /// type's on a server layer's fence.
    pub(crate) fn revocation_key(&self, user: &str) -> String {
        if self.revocation.is_some() {
            user.to_owned()
        } else {
            crate::user::type_revocation_key(&self.index_cookie, user)
        }
    }

    /// Where users' revocation times are: the store of
    /// `with_user_revocation`, checked on every load; else, on a server
    /// layer, its own store, as a fence for sessions issued anew while a
    /// revocation runs (see `Control::fence_seen`).
    pub(crate) fn revocation_times(&self) -> Option<Revocation> {
        self.revocation.clone().or_else(|| {
            self.server
                .as_ref()
                .filter(|tier| tier.storage == crate::Storage::Server)
                .map(ServerTier::fence)
        })
    }
}

/// What an adapter knows of a request's transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transport<'a> {
    /// The server says the connection is TLS (the URI's scheme, or the
    /// framework's own setting).
    pub(crate) https: bool,
    /// The `X-Forwarded-Proto` header, if any.
    pub(crate) forwarded_proto: Option<&'a [u8]>,
}

impl Transport<'_> {
    /// Whether the request came over HTTPS, as far as a layer can tell: a
    /// forwarded `https` counts, since `ssl_only` asks the proxy.
    fn is_https(self) -> bool {
        self.https
            || self
                .forwarded_proto
                .is_some_and(|proto| proto.eq_ignore_ascii_case(b"https"))
    }
}

#[cfg(test)]
mod tests;
