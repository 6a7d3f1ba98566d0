//! The response future: after the inner service answers, apply the session
//! (at once for cookies, after the store answers for server sessions).

use crate::core::{Finish, Outcome, Slot, cache};
use crate::data::SessionData;
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, SET_COOKIE, VARY,
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
        // the handler's response, held while the store saves
        saving: Option<(Response<B>, Saving)>,
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
            if let Some((_, saving)) = this.saving.as_mut() {
                let outcome = ready!(saving.as_mut().poll(cx));
                if let Some((response, _)) = this.saving.take() {
                    return Poll::Ready(Ok(apply(response, outcome, this.slot)));
                }
            }
            let response = ready!(this.inner.as_mut().poll(cx))?;
            match this.slot.finish(response.status().as_u16()) {
                Finish::Ready(outcome) => {
                    return Poll::Ready(Ok(apply(response, outcome, this.slot)));
                }
                Finish::Pending(saving) => *this.saving = Some((response, saving)),
            }
        }
    }
}

/// Applies the core's outcome to the response: the token (cookie and/or
/// header), cache directives, or a replacement response.
fn apply<B: From<String>, S: SessionData>(
    mut response: Response<B>,
    outcome: Outcome,
    slot: &Slot<S>,
) -> Response<B> {
    // the common case, a route that never looked at the session: untouched
    if outcome.is_nothing() && !slot.was_extracted() {
        return response;
    }
    if let Some(replace) = outcome.replace {
        tracing::error!(reason = %replace.detail, status = replace.status, "replacing the response: the session was not saved");
        let status =
            StatusCode::from_u16(replace.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut response = plain(status, replace.body.to_owned());
        if replace.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    let headers = response.headers_mut();
    let mut sets_token = false;
    if let Some(line) = outcome.set_cookie
        && let Ok(value) = HeaderValue::try_from(line)
    {
        // takes the String's buffer: no copy
        headers.append(SET_COOKIE, value);
        sets_token = true;
    }
    if let (Some(token), Some(name)) = (outcome.token, &slot.core.settings.token_header)
        && let Ok(value) = HeaderValue::try_from(token)
    {
        headers.insert(HeaderName::clone(name), value);
        sets_token = true;
    }
    if sets_token || slot.was_extracted() {
        let token_header = slot
            .core
            .settings
            .token_header
            .as_ref()
            .map(HeaderName::as_str);
        let rule = cache::CacheHeaders::new(
            || headers.get_all(VARY).into_iter().map(HeaderValue::as_bytes),
            headers
                .get_all(CACHE_CONTROL)
                .iter()
                .map(HeaderValue::as_bytes),
            sets_token,
            token_header,
        );
        if let Some(value) = rule
            .vary
            .and_then(|value| HeaderValue::try_from(value).ok())
        {
            headers.insert(VARY, value);
        }
        if let Some(value) = rule
            .cache_control
            .and_then(|value| HeaderValue::try_from(value).ok())
        {
            headers.insert(CACHE_CONTROL, value);
        }
    }
    response
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
