//! The response future: after the inner service answers, apply the session
//! (at once for cookies, after the store answers for server sessions).

use crate::data::SessionData;
use crate::slot::{Finish, Outcome, Slot};
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, SET_COOKIE, VARY,
};
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
        https: bool,
        // the handler's response, held while the store saves
        saving: Option<(Response<B>, Saving)>,
    }
}

impl<F, S: SessionData, B> ResponseFuture<F, S, B> {
    pub(crate) fn new(inner: F, slot: Arc<Slot<S>>, https: bool) -> Self {
        Self {
            inner,
            slot,
            https,
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
            if let Some((_, saving)) = this.saving.as_mut() {
                let outcome = ready!(saving.as_mut().poll(cx));
                if let Some((response, _)) = this.saving.take() {
                    let personal = this.slot.was_extracted();
                    return Poll::Ready(Ok(apply(response, outcome, personal)));
                }
            }
            let response = ready!(this.inner.as_mut().poll(cx))?;
            match this.slot.finish(response.status(), *this.https) {
                Finish::Ready(outcome) => {
                    let personal = this.slot.was_extracted();
                    return Poll::Ready(Ok(apply(response, outcome, personal)));
                }
                Finish::Pending(saving) => *this.saving = Some((response, saving)),
            }
        }
    }
}

/// Applies the session's outcome to the response. `personal`: a handler
/// extracted the session, so the response may depend on who asked.
fn apply<B: From<String>>(
    mut response: Response<B>,
    outcome: Outcome,
    personal: bool,
) -> Response<B> {
    match outcome {
        Outcome::Nothing => {
            if personal {
                mark_private(response.headers_mut());
            }
            response
        }
        Outcome::SetCookie(cookie) => {
            let headers = response.headers_mut();
            headers.append(SET_COOKIE, cookie);
            // a response that sets a session cookie is private to its user
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            vary_on_cookie(headers);
            response
        }
        // the handler's answer would claim a change that was not kept
        Outcome::Failed(reason) => {
            tracing::error!(%reason, "replacing the response: the session was not saved");
            plain(StatusCode::INTERNAL_SERVER_ERROR, reason)
        }
        Outcome::Unavailable(reason) => {
            tracing::error!(%reason, "replacing the response: the session store is unavailable");
            plain(StatusCode::SERVICE_UNAVAILABLE, reason)
        }
        Outcome::Contended(reason) => {
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, reason);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// `Vary: Cookie`, merged with what the response already varies on.
fn vary_on_cookie(headers: &mut HeaderMap) {
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

/// A response built from the session must not be stored by shared caches:
/// `Vary: Cookie` and `Cache-Control: private`, unless the handler already
/// said `private` or `no-store`. A `public` directive it set is dropped:
/// the page depends on who asked.
fn mark_private(headers: &mut HeaderMap) {
    vary_on_cookie(headers);
    let existing: Vec<String> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect();
    let says = |directive: &str| {
        existing
            .iter()
            .any(|item| item.eq_ignore_ascii_case(directive))
    };
    if says("no-store") || says("private") {
        return;
    }
    let mut value = String::from("private");
    for item in existing
        .iter()
        .filter(|item| !item.eq_ignore_ascii_case("public"))
    {
        value.push_str(", ");
        value.push_str(item);
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(CACHE_CONTROL, value);
    }
}

fn plain<B: From<String>>(status: StatusCode, text: String) -> Response<B> {
    let mut response = Response::new(B::from(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
