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
        Session::load(&parts.extensions).await
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
        Session::load_existing(&parts.extensions).await
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        tracing::error!(rejection = %self, "session extractor failed");
        (self.status(), self.to_string()).into_response()
    }
}
