//! What clients see when something goes wrong, and the cache headers, on
//! axum and actix-web alike: a `StoreError` returned by a handler is a
//! response (503 with `Retry-After` for an outage, a generic 500 otherwise);
//! 500 bodies and rejections are short generic texts (the detail is logged:
//! no field, size, store or Rust type name reaches the client); a response
//! that sets the token is `no-store`, one built from the session without a
//! new token is `private`, and `Vary` is one merged line.

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use session_runtime::{MemoryStore, Session, SessionLayer, StoreError};
use sessionkit_tests::http::{Reply, send};
use sessionkit_tests::key;

/// Server-side, with a user: its user index is the store's.
#[derive(Session, Default)]
#[session(cookie = "member", storage = "server")]
struct Member {
    #[session(user)]
    user: Option<u64>,
    cart: Vec<u32>,
}

/// In a cookie, with a user: no user index without revocation times.
#[derive(Session, Default)]
#[session(cookie = "badge")]
struct Badge {
    #[session(user)]
    user: Option<u64>,
}

/// A type no layer serves.
#[derive(Session, Default)]
struct Orphan {
    n: u8,
}

/// What a handler's store failure looks like when the backend is down.
fn outage() -> StoreError {
    StoreError::backend("redis", "connection refused by 10.0.0.5:6379")
}

const INTERNALS: [&str; 8] = [
    "redis",
    "10.0.0.5",
    "bytes",
    "Orphan",
    "SessionLayer",
    "cap",
    "cookie",
    "Member",
];

fn assert_generic(reply: &Reply, what: &str) {
    for leak in INTERNALS {
        assert!(
            !reply.body.contains(leak),
            "{what}: the body names `{leak}`: {}",
            reply.body
        );
    }
}

fn axum_app() -> Router {
    let members = SessionLayer::<Member>::with_store(key(), MemoryStore::default())
        .with_max_size(64)
        .unwrap();
    Router::new()
        .route(
            "/login/{user}",
            post(|mut m: Session<Member>, Path(user): Path<u64>| async move {
                m.set_user(Some(user));
                "ok"
            }),
        )
        .route(
            "/add/{n}",
            post(|mut m: Session<Member>, Path(n): Path<u32>| async move {
                m.cart_mut().extend(0..n);
                "ok"
            }),
        )
        .route(
            "/devices",
            get(|m: Session<Member>| async move {
                let devices = m.user_sessions().await?;
                Ok::<_, StoreError>(devices.len().to_string())
            }),
        )
        .route(
            "/badge-devices",
            get(|b: Session<Badge>| async move {
                let devices = b.user_sessions().await?;
                Ok::<_, StoreError>(devices.len().to_string())
            }),
        )
        .route(
            "/badge-login",
            post(|mut b: Session<Badge>| async move {
                b.set_user(Some(3));
                "ok"
            }),
        )
        .route("/down", get(|| async { Err::<String, _>(outage()) }))
        .route(
            "/orphan",
            get(|o: Session<Orphan>| async move { o.n().to_string() }),
        )
        .layer(members)
        .layer(SessionLayer::<Badge>::new(key()))
}

fn header<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
    reply
        .headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect()
}

#[tokio::test]
async fn on_axum_errors_are_generic_and_store_errors_are_responses() {
    let app = axum_app();
    // an outage a handler returns: 503, Retry-After, nothing of the backend
    let down = send(&app, "GET", "/down", None).await;
    assert_eq!(down.status, 503);
    assert_eq!(header(&down, "retry-after"), ["1"]);
    assert_eq!(down.body, "the session store is unavailable; please retry");
    assert_generic(&down, "outage");
    // what a store cannot do: a generic 500
    let badge = send(&app, "POST", "/badge-login", None)
        .await
        .set_cookie
        .unwrap();
    let unsupported = send(
        &app,
        "GET",
        "/badge-devices",
        Some(("__Host-badge", &badge)),
    )
    .await;
    assert_eq!(unsupported.status, 500);
    assert!(header(&unsupported, "retry-after").is_empty());
    assert_generic(&unsupported, "unsupported");
    // a session over its size cap: 500 without sizes or limits
    let member = send(&app, "POST", "/login/7", None)
        .await
        .set_cookie
        .unwrap();
    let big = send(&app, "POST", "/add/100", Some(("__Host-member", &member))).await;
    assert_eq!(big.status, 500);
    assert_eq!(big.body, "the session could not be saved");
    assert!(
        !big.body.chars().any(|c| c.is_ascii_digit()),
        "{}",
        big.body
    );
    // a rejection (no layer for the type): no Rust type name
    let orphan = send(&app, "GET", "/orphan", None).await;
    assert_eq!(orphan.status, 500);
    assert_eq!(orphan.body, "internal server error");
    assert_generic(&orphan, "rejection");
    // and a handler's own success still works
    let devices = send(&app, "GET", "/devices", Some(("__Host-member", &member))).await;
    assert_eq!((devices.status.as_u16(), devices.body.as_str()), (200, "1"));
}

#[tokio::test]
async fn on_axum_cache_headers_follow_one_rule() {
    let app = axum_app();
    let login = send(&app, "POST", "/login/7", None).await;
    assert_eq!(
        header(&login, "cache-control"),
        ["no-store"],
        "sets the token"
    );
    assert_eq!(header(&login, "vary"), ["cookie"]);
    let member = login.set_cookie.unwrap();
    // a server-side write that keeps its token: no Set-Cookie, private
    let write = send(&app, "POST", "/add/1", Some(("__Host-member", &member))).await;
    assert_eq!(write.set_cookie, None);
    assert_eq!(header(&write, "cache-control"), ["private"]);
    assert_eq!(header(&write, "vary"), ["cookie"]);
}

mod on_actix {
    use super::*;
    use actix_web::{App, HttpResponse, web};
    use session_runtime::actix::SessionMiddleware;

    async fn call(
        app: &impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
        >,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut request = actix_web::test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        if let Some(cookie) = cookie {
            request = request.insert_header(("cookie", cookie));
        }
        let response = actix_web::test::call_service(app, request.to_request()).await;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        let body = actix_web::test::read_body(response).await;
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn cookie_of(headers: &[(String, String)]) -> String {
        let line = get(headers, "set-cookie")[0];
        line.split(';').next().unwrap().to_owned()
    }

    #[actix_rt::test]
    async fn errors_are_generic_store_errors_are_responses_and_cache_headers_follow_one_rule() {
        let members = SessionLayer::<Member>::with_store(key(), MemoryStore::default())
            .with_max_size(64)
            .unwrap();
        let app = actix_web::test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(members))
                .route(
                    "/login/{user}",
                    web::post().to(|mut m: Session<Member>, user: web::Path<u64>| async move {
                        m.set_user(Some(user.into_inner()));
                        "ok"
                    }),
                )
                .route(
                    "/add/{n}",
                    web::post().to(|mut m: Session<Member>, n: web::Path<u32>| async move {
                        m.cart_mut().extend(0..n.into_inner());
                        "ok"
                    }),
                )
                .route(
                    "/down",
                    web::get().to(|| async { Err::<HttpResponse, _>(outage()) }),
                )
                .route(
                    "/orphan",
                    web::get().to(|o: Session<Orphan>| async move { o.n().to_string() }),
                ),
        )
        .await;
        let (status, headers, body) = call(&app, "GET", "/down", None).await;
        assert_eq!(status, 503);
        assert_eq!(get(&headers, "retry-after"), ["1"]);
        assert_eq!(body, "the session store is unavailable; please retry");
        let (status, headers, _) = call(&app, "POST", "/login/7", None).await;
        assert_eq!(status, 200);
        assert_eq!(get(&headers, "cache-control"), ["no-store"]);
        assert_eq!(get(&headers, "vary"), ["cookie"]);
        let member = cookie_of(&headers);
        let (status, headers, _) = call(&app, "POST", "/add/1", Some(&member)).await;
        assert_eq!(status, 200);
        assert!(get(&headers, "set-cookie").is_empty());
        assert_eq!(get(&headers, "cache-control"), ["private"]);
        let (status, _, body) = call(&app, "POST", "/add/100", Some(&member)).await;
        assert_eq!(
            (status, body.as_str()),
            (500, "the session could not be saved")
        );
        let (status, _, body) = call(&app, "GET", "/orphan", None).await;
        assert_eq!((status, body.as_str()), (500, "internal server error"));
        for leak in INTERNALS {
            assert!(!body.contains(leak), "{body}");
        }
    }
}
