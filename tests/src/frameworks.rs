//! The same app on axum and on actix-web, behind one [`Harness`], so the
//! request-path and server-session scenarios are written once and run on
//! both frameworks (as the store conformance suite runs on every store).

use crate::Prefs;
use crate::http::Reply;
use axum::http::StatusCode;
use session_runtime::{BoundedString, Session, SessionLayer};
use std::time::Duration;

/// Always server-side: the scenarios' account.
#[derive(Session, Default, Debug)]
#[session(cookie = "account", storage = "server")]
pub struct Account {
    /// Who is logged in.
    pub user: Option<u64>,
    /// What they picked.
    pub cart: Vec<u32>,
}

/// An app under test, whichever framework serves it.
pub trait Harness {
    /// Sends `method uri` with extra request headers; the reply, with the
    /// cookie named `cookie` as [`Reply::set_cookie`].
    fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        cookie: &str,
    ) -> impl Future<Output = Reply>;
}

/// The handlers' bodies, shared: each framework only unwraps its request
/// types and calls these.
pub mod handlers {
    use super::{Account, BoundedString, Duration, Prefs, Session};

    /// `GET /read`
    pub fn read(prefs: &Session<Prefs>) -> String {
        format!("theme={} visits={}", prefs.theme(), prefs.visits())
    }

    /// `POST /theme/{name}`
    pub fn theme(prefs: &mut Session<Prefs>, name: String) -> bool {
        match BoundedString::try_from(name) {
            Ok(theme) => {
                prefs.set_theme(theme);
                true
            }
            Err(_) => false,
        }
    }

    /// `POST /visit`
    pub fn visit(prefs: &mut Session<Prefs>) -> String {
        *prefs.visits_mut() += 1;
        prefs.visits().to_string()
    }

    /// `POST /browser`: a visit, with a browser-session cookie.
    pub fn browser(prefs: &mut Session<Prefs>) {
        prefs.browser_session();
        *prefs.visits_mut() += 1;
    }

    /// `POST /remember`: "remember me" for 30 days.
    pub fn remember(prefs: &mut Session<Prefs>) {
        prefs.set_lifetime(Duration::from_secs(30 * 24 * 3600));
        *prefs.visits_mut() += 1;
    }

    /// `GET /whoami`
    pub fn whoami(account: &Session<Account>) -> String {
        format!("{:?}", account.user())
    }

    /// `POST /login/{user}`: log in and take a new ID.
    pub fn login(account: &mut Session<Account>, user: u64) {
        account.set_user(Some(user));
        account.cycle_id();
    }

    /// `POST /add/{item}`
    pub fn add(account: &mut Session<Account>, item: u32) {
        account.atomically(move |a| a.cart_mut().push(item));
    }
}

/// The app on axum.
pub fn axum_app(prefs: SessionLayer<Prefs>, account: SessionLayer<Account>) -> axum::Router {
    use axum::extract::Path;
    use axum::routing::{get, post};
    let account_routes = axum::Router::new()
        .route(
            "/whoami",
            get(|a: Session<Account>| async move { handlers::whoami(&a) }),
        )
        .route(
            "/login/{user}",
            post(
                |mut a: Session<Account>, Path(user): Path<u64>| async move {
                    handlers::login(&mut a, user);
                    "ok"
                },
            ),
        )
        .route(
            "/add/{item}",
            post(
                |mut a: Session<Account>, Path(item): Path<u32>| async move {
                    handlers::add(&mut a, item);
                    "ok"
                },
            ),
        )
        .route(
            "/account/logout",
            post(|mut a: Session<Account>| async move {
                a.terminate();
                "bye"
            }),
        )
        .layer(account);
    axum::Router::new()
        .route("/plain", get(|| async { "no session here" }))
        .route(
            "/read",
            get(|p: Session<Prefs>| async move { handlers::read(&p) }),
        )
        .route(
            "/theme/{name}",
            post(
                |mut p: Session<Prefs>, Path(name): Path<String>| async move {
                    if handlers::theme(&mut p, name) {
                        StatusCode::OK
                    } else {
                        StatusCode::UNPROCESSABLE_ENTITY
                    }
                },
            ),
        )
        .route(
            "/visit",
            post(|mut p: Session<Prefs>| async move { handlers::visit(&mut p) }),
        )
        .route(
            "/browser",
            post(|mut p: Session<Prefs>| async move {
                handlers::browser(&mut p);
                "ok"
            }),
        )
        .route(
            "/remember",
            post(|mut p: Session<Prefs>| async move {
                handlers::remember(&mut p);
                "ok"
            }),
        )
        .route(
            "/logout",
            post(|mut p: Session<Prefs>| async move {
                p.terminate();
                "bye"
            }),
        )
        .route(
            "/fail",
            post(|mut p: Session<Prefs>| async move {
                p.set_visits(999);
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .layer(prefs)
        .merge(account_routes)
}

/// The app on axum, as a [`Harness`].
#[derive(Clone, Debug)]
pub struct Axum(pub axum::Router);

impl Harness for Axum {
    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], cookie: &str) -> Reply {
        use tower::ServiceExt as _;
        let mut builder = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = self
            .0
            .clone()
            .oneshot(builder.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        reply(status.as_u16(), headers, &body, cookie)
    }
}

fn reply(status: u16, headers: axum::http::HeaderMap, body: &[u8], cookie: &str) -> Reply {
    let set_cookie = headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .filter_map(|value| cookie::Cookie::parse(value.to_str().ok()?.to_owned()).ok())
        .find(|parsed| parsed.name() == cookie)
        .map(|parsed| parsed.value().to_owned());
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        body: String::from_utf8(body.to_vec()).unwrap(),
        set_cookie,
        headers,
    }
}

/// The app on actix-web, as a [`Harness`] over its test service.
pub struct Actix<T>(pub T);

impl<T> std::fmt::Debug for Actix<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Actix")
    }
}

/// Builds the app on actix-web.
pub async fn actix_app(
    prefs: SessionLayer<Prefs>,
    account: SessionLayer<Account>,
) -> Actix<
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
> {
    use actix_web::{App, HttpResponse, web};
    use session_runtime::actix::SessionMiddleware;
    let app = App::new()
        .wrap(SessionMiddleware::new(prefs))
        .wrap(SessionMiddleware::new(account))
        .route("/plain", web::get().to(|| async { "no session here" }))
        .route(
            "/read",
            web::get().to(|p: Session<Prefs>| async move { handlers::read(&p) }),
        )
        .route(
            "/theme/{name}",
            web::post().to(
                |mut p: Session<Prefs>, name: web::Path<String>| async move {
                    if handlers::theme(&mut p, name.into_inner()) {
                        HttpResponse::Ok().finish()
                    } else {
                        HttpResponse::UnprocessableEntity().finish()
                    }
                },
            ),
        )
        .route(
            "/visit",
            web::post().to(|mut p: Session<Prefs>| async move { handlers::visit(&mut p) }),
        )
        .route(
            "/browser",
            web::post().to(|mut p: Session<Prefs>| async move {
                handlers::browser(&mut p);
                "ok"
            }),
        )
        .route(
            "/remember",
            web::post().to(|mut p: Session<Prefs>| async move {
                handlers::remember(&mut p);
                "ok"
            }),
        )
        .route(
            "/logout",
            web::post().to(|mut p: Session<Prefs>| async move {
                p.terminate();
                "bye"
            }),
        )
        .route(
            "/fail",
            web::post().to(|mut p: Session<Prefs>| async move {
                p.set_visits(999);
                HttpResponse::InternalServerError().body("boom")
            }),
        )
        .route(
            "/whoami",
            web::get().to(|a: Session<Account>| async move { handlers::whoami(&a) }),
        )
        .route(
            "/login/{user}",
            web::post().to(|mut a: Session<Account>, user: web::Path<u64>| async move {
                handlers::login(&mut a, user.into_inner());
                "ok"
            }),
        )
        .route(
            "/add/{item}",
            web::post().to(|mut a: Session<Account>, item: web::Path<u32>| async move {
                handlers::add(&mut a, item.into_inner());
                "ok"
            }),
        )
        .route(
            "/account/logout",
            web::post().to(|mut a: Session<Account>| async move {
                a.terminate();
                "bye"
            }),
        );
    Actix(actix_web::test::init_service(app).await)
}

impl<T, B> Harness for Actix<T>
where
    T: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], cookie: &str) -> Reply {
        let mut request = actix_web::test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let response = actix_web::test::call_service(&self.0, request.to_request()).await;
        let status = response.status().as_u16();
        let mut map = axum::http::HeaderMap::new();
        for (name, value) in response.headers() {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let body = actix_web::test::read_body(response).await;
        reply(status, map, &body, cookie)
    }
}
