//! The response future: after the inner service answers, apply the session
//! (at once for cookies, after the store answers for server sessions).

use crate::core::response;
use crate::core::{Finish, Outcome, Slot};
use crate::data::SessionData;
use http::header::{HeaderName, HeaderValue};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

type Saving = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// Response future of [`SessionService`](crate::SessionService).
    pub struct ResponseFuture<F, S: SessionData, B> {
        #[pin]
        inner: F,
        slot: Arc<Slot<S>>,
        // the handler's response, held while the store saves (boxed: the
        // future is moved by the layers around it, and the cookie path
        // never saves)
        saving: Option<Box<(Response<B>, Saving)>>,
    }
}

impl<F, S: SessionData, B> ResponseFuture<F, S, B> {
    pub(crate) fn new(inner: F, slot: Arc<Slot<S>>) -> Self {
        Self {
            inner,
            slot,
            saving: None,
        }
    }
}

impl<F, S: SessionData, B> std::fmt::Debug for ResponseFuture<F, S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("saving", &self.saving.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, S, B, E> Future for ResponseFuture<F, S, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    S: SessionData + Send,
    B: From<String>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(pending) = this.saving.as_mut() {
                let outcome = ready!(pending.1.as_mut().poll(cx));
                if let Some(pending) = this.saving.take() {
                    return Poll::Ready(Ok(apply(pending.0, outcome, this.slot)));
                }
            }
            let response = ready!(this.inner.as_mut().poll(cx))?;
            match this.slot.finish(response.status().as_u16()) {
                Finish::Ready(outcome) => {
                    return Poll::Ready(Ok(apply(response, outcome, this.slot)));
                }
                Finish::Pending(saving) => *this.saving = Some(Box::new((response, saving))),
            }
        }
    }
}

/// Applies the core's outcome to the response with the one response rule,
/// or answers with its replacement.
fn apply<B: From<String>, S: SessionData>(
    mut response: Response<B>,
    outcome: Outcome,
    slot: &Slot<S>,
) -> Response<B> {
    let token_header = slot.core.settings.token_header.as_ref();
    let extracted = slot.was_extracted();
    match response::apply(outcome, extracted, token_header, response.headers_mut()) {
        Ok(()) => response,
        Err(replacement) => {
            let mut response = Response::new(B::from(replacement.body.to_owned()));
            *response.status_mut() =
                StatusCode::from_u16(replacement.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let headers = response.headers_mut();
            for (name, value) in replacement.headers() {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            response
        }
    }
}
