//! The Tower adapter (axum, hyper, tonic): [`SessionLayer`] is a
//! `tower::Layer`; [`SessionService`] finds the token in the request's
//! headers and hands the core's slot to handlers through the request's
//! extensions; [`ResponseFuture`] applies the core's outcome to the
//! response.

mod future;
mod service;

pub use future::ResponseFuture;
pub use service::SessionService;

use crate::SessionLayer;
use crate::data::SessionData;

impl<Inner, S: SessionData + Send> tower_layer::Layer<Inner> for SessionLayer<S>
where
    S::Access: Send,
{
    type Service = SessionService<Inner, S>;

    fn layer(&self, inner: Inner) -> Self::Service {
        SessionService::new(inner, std::sync::Arc::clone(&self.core))
    }
}
