//! [`SessionService`]: finds the cookie, lends the slot, writes the result.

use crate::cookie_header::{Lookup, find};
use crate::data::SessionData;
use crate::future::ResponseFuture;
use crate::session::SessionSlot;
use crate::slot::{Engine, Slot};
use http::{Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The service [`SessionLayer`](crate::SessionLayer) wraps around yours.
pub struct SessionService<Inner, S: SessionData> {
    inner: Inner,
    engine: Arc<dyn Engine<S>>,
}

impl<Inner, S: SessionData> SessionService<Inner, S> {
    pub(crate) fn new(inner: Inner, engine: Arc<dyn Engine<S>>) -> Self {
        Self { inner, engine }
    }
}

impl<Inner: Clone, S: SessionData> Clone for SessionService<Inner, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            engine: Arc::clone(&self.engine),
        }
    }
}

impl<Inner: std::fmt::Debug, S: SessionData> std::fmt::Debug for SessionService<Inner, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .field("session", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

/// Whether the request came over HTTPS, as far as we can tell.
fn is_https<B>(req: &Request<B>, trust_forwarded: bool) -> bool {
    req.uri().scheme() == Some(&http::uri::Scheme::HTTPS)
        || (trust_forwarded
            && req
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https")))
}

impl<Inner, S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>>
    for SessionService<Inner, S>
where
    Inner: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S: SessionData + Send,
    S::Access: Send,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = Inner::Error;
    type Future = ResponseFuture<Inner::Future, S, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = self.engine.config();
        let https = is_https(&req, config.ssl_only);
        let raw = if config.ssl_only && !https {
            None
        } else {
            match find(req.headers(), self.engine.cookie_name()) {
                Lookup::Absent => None,
                Lookup::Found(raw) => Some(raw),
                Lookup::Refused(reason) => {
                    tracing::debug!(cookie = %self.engine.cookie_name(), reason, "session cookie refused: starting a new session");
                    None
                }
            }
        };
        let slot = Arc::new(Slot::new(Arc::clone(&self.engine), raw));
        req.extensions_mut().insert(SessionSlot(Arc::clone(&slot)));
        ResponseFuture::new(self.inner.call(req), slot, https)
    }
}
