//! [`SessionService`]: finds the token, lends the slot, writes the result.

use super::future::ResponseFuture;
use crate::core::{Core, Slot, Transport};
use crate::data::SessionData;
use crate::session::SessionSlot;
use http::{Request, Response};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The service [`SessionLayer`](crate::SessionLayer) wraps around yours.
pub struct SessionService<Inner, S: SessionData> {
    inner: Inner,
    core: Arc<Core<S>>,
}

impl<Inner, S: SessionData> SessionService<Inner, S> {
    pub(crate) fn new(inner: Inner, core: Arc<Core<S>>) -> Self {
        Self { inner, core }
    }
}

impl<Inner: Clone, S: SessionData> Clone for SessionService<Inner, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            core: Arc::clone(&self.core),
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

/// What the request says of its transport.
fn transport<B>(req: &Request<B>) -> Transport<'_> {
    Transport {
        https: req.uri().scheme() == Some(&http::uri::Scheme::HTTPS),
        forwarded_proto: req
            .headers()
            .get("x-forwarded-proto")
            .map(http::HeaderValue::as_bytes),
    }
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
        let slot: Arc<Slot<S>> = Arc::new(
            self.core
                .begin(|| transport(&req), || self.core.find_token(req.headers())),
        );
        req.extensions_mut().insert(SessionSlot(Arc::clone(&slot)));
        ResponseFuture::new(self.inner.call(req), slot)
    }
}
