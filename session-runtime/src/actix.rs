//! The actix-web 4 adapter (feature `actix`): [`SessionMiddleware`] and
//! [`Session<S>`](struct@crate::Session) as an extractor, on the same core,
//! settings, stores, lifecycle and outage policy as the Tower layer.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use session_runtime::actix::SessionMiddleware;
//! use session_runtime::{MasterKey, Session, SessionLayer};
//!
//! #[derive(Session, Default)]
//! struct Visits {
//!     count: u32,
//! }
//!
//! async fn visit(mut visits: Session<Visits>) -> HttpResponse {
//!     *visits.count_mut() += 1;
//!     HttpResponse::Ok().body(visits.count().to_string())
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let key = MasterKey::from_secret(&[9; 32])?; // MasterKey::from_env in real code
//! let app = actix_web::test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(SessionLayer::<Visits>::new(key)))
//!         .route("/visit", web::post().to(visit)),
//! )
//! .await;
//! let request = actix_web::test::TestRequest::post().uri("/visit").to_request();
//! let response = actix_web::test::call_service(&app, request).await;
//! let cookie = response.headers().get("set-cookie").unwrap().to_str()?;
//! assert!(cookie.starts_with("__Host-visits="));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! actix-web's blanket `Option<T>` extractor turns every rejection into
//! `None` (a store outage included), so take `Session<S>` and ask
//! [`Session::is_new`](crate::Session::is_new) instead.

use crate::SessionLayer;
use crate::core::response::{self, Header, ResponseHeaders};
use crate::core::token::{self, Incoming};
use crate::core::{Core, Outcome, Slot, Transport};
use crate::data::SessionData;
use crate::session::{Session, SessionRejection, SessionSlot};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, COOKIE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, SET_COOKIE, VARY,
};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use std::borrow::Cow;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Typed sessions for an actix-web app: configure a
/// [`SessionLayer`] as for Tower, then `App::new().wrap(SessionMiddleware::new(layer))`.
#[must_use]
pub struct SessionMiddleware<S: SessionData> {
    core: Arc<Core<S>>,
}

impl<S: SessionData> SessionMiddleware<S> {
    /// The middleware for `layer`'s settings, keys and store.
    pub fn new(layer: SessionLayer<S>) -> Self {
        Self { core: layer.core }
    }
}

impl<S: SessionData> From<SessionLayer<S>> for SessionMiddleware<S> {
    fn from(layer: SessionLayer<S>) -> Self {
        Self::new(layer)
    }
}

impl<S: SessionData> Clone for SessionMiddleware<S> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<S: SessionData> std::fmt::Debug for SessionMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("session", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

impl<Svc, B, S> Transform<Svc, ServiceRequest> for SessionMiddleware<S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionData + Send,
    S::Access: Send,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<Svc, S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(SessionService {
            service: Rc::new(service),
            core: Arc::clone(&self.core),
        }))
    }
}

/// The service [`SessionMiddleware`] wraps around an app's.
pub struct SessionService<Svc, S: SessionData> {
    service: Rc<Svc>,
    core: Arc<Core<S>>,
}

impl<Svc, S: SessionData> std::fmt::Debug for SessionService<Svc, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("session", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

/// What the request says of its transport.
fn transport(req: &ServiceRequest) -> Transport<'_> {
    Transport {
        https: req.app_config().secure() || req.uri().scheme_str() == Some("https"),
        forwarded_proto: req
            .headers()
            .get("x-forwarded-proto")
            .map(HeaderValue::as_bytes),
    }
}

fn incoming<S: SessionData>(core: &Core<S>, headers: &HeaderMap) -> Incoming {
    let lines: Vec<&[u8]> = headers.get_all(COOKIE).map(HeaderValue::as_bytes).collect();
    token::incoming(
        token::find_in_lines(lines.iter().copied(), &core.cookie_name),
        || {
            let name = core.settings.token_header.as_ref()?;
            token::token_from_header(
                headers.get(name.as_str())?.as_bytes(),
                name == http::header::AUTHORIZATION,
            )
        },
    )
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<Svc, B, S> Service<ServiceRequest> for SessionService<Svc, S>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
    S: SessionData + Send,
    S::Access: Send,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let slot = Arc::new(
            self.core
                .begin(|| transport(&req), || incoming(&self.core, req.headers())),
        );
        req.extensions_mut().insert(SessionSlot(Arc::clone(&slot)));
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let response = service.call(req).await?;
            let outcome = slot.finish(response.status().as_u16()).outcome().await;
            Ok(apply(response, outcome, &slot))
        })
    }
}

/// Applies the core's outcome to an actix-web response with the one
/// response rule, or answers with its replacement.
fn apply<B, S: SessionData>(
    mut response: ServiceResponse<B>,
    outcome: Outcome,
    slot: &Slot<S>,
) -> ServiceResponse<EitherBody<B>> {
    let token_header = slot.core.settings.token_header.as_ref();
    let extracted = slot.was_extracted();
    match response::apply(
        outcome,
        extracted,
        token_header,
        &mut ActixHeaders(response.headers_mut()),
    ) {
        Ok(()) => response.map_into_left_body(),
        Err(replacement) => {
            let status =
                StatusCode::from_u16(replacement.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut builder = HttpResponse::build(status);
            for header in replacement.headers() {
                builder.insert_header(header);
            }
            response
                .into_response(builder.body(replacement.body))
                .map_into_right_body()
        }
    }
}

/// actix-web's header map (its own `http` 0.2 types), as the response rule
/// needs it.
struct ActixHeaders<'a>(&'a mut HeaderMap);

fn actix_name(header: Header<'_>) -> Option<HeaderName> {
    Some(match header {
        Header::SetCookie => SET_COOKIE,
        Header::Vary => VARY,
        Header::CacheControl => CACHE_CONTROL,
        Header::Token(name) => HeaderName::from_bytes(name.as_str().as_bytes()).ok()?,
    })
}

impl ResponseHeaders for ActixHeaders<'_> {
    fn values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
        actix_name(header)
            .into_iter()
            .flat_map(|name| self.0.get_all(name).map(HeaderValue::as_bytes))
    }

    fn append(&mut self, header: Header<'_>, value: String) -> bool {
        match (actix_name(header), HeaderValue::try_from(value)) {
            (Some(name), Ok(value)) => {
                self.0.append(name, value);
                true
            }
            _ => false,
        }
    }

    fn insert(&mut self, header: Header<'_>, value: Cow<'static, str>) -> bool {
        let value = match value {
            Cow::Borrowed(value) => Ok(HeaderValue::from_static(value)),
            Cow::Owned(value) => HeaderValue::try_from(value),
        };
        match (actix_name(header), value) {
            (Some(name), Ok(value)) => {
                self.0.insert(name, value);
                true
            }
            _ => false,
        }
    }
}

/// `Session<S>` as an actix-web extractor: loads the session (from the
/// store, for a server layer) on first use.
impl<S> FromRequest for Session<S>
where
    S: SessionData + Send,
    S::Access: Send,
{
    type Error = SessionRejection;
    type Future = LocalFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let slot = req.extensions().get::<SessionSlot<S>>().cloned();
        if let Some(slot) = &slot {
            // the token is looked for at the first extraction
            slot.0.look_up(|| incoming(&slot.0.core, req.headers()));
        }
        Box::pin(async move {
            let slot = slot.ok_or(SessionRejection::MissingLayer(std::any::type_name::<S>()))?;
            Session::load_from(slot.0).await
        })
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        // the detail (which type, what to fix) is for the log
        tracing::error!(rejection = %self, "session extractor failed");
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        if matches!(self, Self::StoreUnavailable) {
            response.insert_header((RETRY_AFTER, "1"));
        }
        response.body(self.public_message())
    }
}

/// A store error returned by a handler (from `user_sessions`,
/// `revoke_user_sessions`, …): `503 Service Unavailable` with
/// `Retry-After: 1` for an outage, a generic `500` otherwise; the detail
/// goes to the log, the client gets a short text.
impl ResponseError for crate::StoreError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!(error = %self, source = ?std::error::Error::source(self), "session store error in a handler");
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/plain; charset=utf-8");
        if self.is_outage() {
            response.insert_header((RETRY_AFTER, "1"));
        }
        response.body(self.public_message())
    }
}
