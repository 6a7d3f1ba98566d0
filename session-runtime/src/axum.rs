//! The axum extractor (feature `axum`).

use crate::data::SessionData;
use crate::session::{Session, SessionRejection};
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

impl<S, St> FromRequestParts<St> for Session<S>
where
    S: SessionData + Send,
    S::Access: Send,
    St: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let parts: &Parts = parts;
        Session::load(parts).await
    }
}

/// `Option<Session<S>>`: `None` when the request carries no valid session.
impl<S, St> OptionalFromRequestParts<St> for Session<S>
where
    S: SessionData + Send,
    S::Access: Send,
    St: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &St,
    ) -> Result<Option<Self>, Self::Rejection> {
        let parts: &Parts = parts;
        Session::load_existing(parts).await
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        // the detail (which type, what to fix) is for the log
        tracing::error!(rejection = %self, "session extractor failed");
        let mut response = (self.status(), self.public_message()).into_response();
        if matches!(self, Self::StoreUnavailable) {
            retry_after(&mut response);
        }
        response
    }
}

/// A store error returned by a handler (from `user_sessions`,
/// `revoke_user_sessions`, …): `503 Service Unavailable` with
/// `Retry-After: 1` for an outage, a generic `500` otherwise; the detail
/// goes to the log, the client gets a short text.
impl IntoResponse for crate::StoreError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, source = ?std::error::Error::source(&self), "session store error in a handler");
        let mut response = (self.status(), self.public_message()).into_response();
        if self.is_outage() {
            retry_after(&mut response);
        }
        response
    }
}

fn retry_after(response: &mut Response) {
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
}
