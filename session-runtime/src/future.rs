//! The response future: after the inner service answers, apply the session.

use crate::data::SessionData;
use crate::slot::{Outcome, Slot};
use http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE, VARY};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

pin_project! {
    /// Response future of [`SessionService`](crate::SessionService).
    pub struct ResponseFuture<F, S: SessionData> {
        #[pin]
        inner: F,
        slot: Arc<Slot<S>>,
        https: bool,
    }
}

impl<F, S: SessionData> ResponseFuture<F, S> {
    pub(crate) fn new(inner: F, slot: Arc<Slot<S>>, https: bool) -> Self {
        Self { inner, slot, https }
    }
}

impl<F, S: SessionData> std::fmt::Debug for ResponseFuture<F, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, S, ResBody, E> Future for ResponseFuture<F, S>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: SessionData,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        match this.slot.finish(response.status(), *this.https) {
            Outcome::Nothing => {}
            Outcome::SetCookie(cookie) => {
                let headers = response.headers_mut();
                headers.append(SET_COOKIE, cookie);
                // a response that sets a session cookie is private to its user
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                let varies = headers.get_all(VARY).iter().any(|value| {
                    value.to_str().is_ok_and(|v| {
                        v.split(',').any(|item| {
                            let item = item.trim();
                            item == "*" || item.eq_ignore_ascii_case("cookie")
                        })
                    })
                });
                if !varies {
                    headers.append(VARY, HeaderValue::from_static("cookie"));
                }
            }
            Outcome::Failed(reason) => {
                // the handler's answer would claim a change that was not kept
                tracing::error!(%reason, "replacing the response: the session was not saved");
                let mut failed = Response::new(ResBody::default());
                *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return Poll::Ready(Ok(failed));
            }
        }
        Poll::Ready(Ok(response))
    }
}
