//! Sending requests through a router in process, as a browser would: one
//! helper for every test that needs the status, body and cookie back.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt as _;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body, as text.
    pub body: String,
    /// The session cookie's new value: `Some("")` when it was expired.
    pub set_cookie: Option<String>,
    /// Every header.
    pub headers: HeaderMap,
}

impl Reply {
    /// The first value of header `name`, as text.
    ///
    /// # Panics
    ///
    /// When the value is not visible ASCII.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    }
}

/// Sends `method uri` to `app` with the cookie `name=value` when given.
///
/// # Panics
///
/// When the app fails or answers something that is not UTF-8.
pub async fn send(app: &Router, method: &str, uri: &str, cookie: Option<(&str, &str)>) -> Reply {
    let cookie = cookie.map(|(name, value)| format!("{name}={value}"));
    let headers: Vec<_> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
    send_with(app, method, uri, &headers).await
}

/// Sends `method uri` to `app` with `headers` (a name may repeat), and
/// reads the response whole.
///
/// # Panics
///
/// As [`send`].
pub async fn send_with(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Reply {
    read(request(app, method, uri, headers).await).await
}

/// Sends `method uri` to `app` with `headers` (a name may repeat): the
/// response as the app gave it, for a test that reads it its own way.
///
/// # Panics
///
/// When the request does not build or the app fails.
pub async fn request(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> axum::response::Response {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.clone()
        .oneshot(builder.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// What a response carries, read whole.
///
/// # Panics
///
/// When the body is not UTF-8 or a `Set-Cookie` does not parse.
pub async fn read(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let set_cookie = headers.get(header::SET_COOKIE).map(|value| {
        let parsed = cookie::Cookie::parse(value.to_str().unwrap().to_owned()).unwrap();
        parsed.value().to_owned()
    });
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        body: String::from_utf8(body.to_vec()).unwrap(),
        set_cookie,
        headers,
    }
}

/// Serves `app` on a free loopback port; its address.
///
/// # Panics
///
/// When no port can be bound.
pub async fn listen(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A browser-like HTTP client: a cookie jar, and redirects left to the
/// test to see.
///
/// # Panics
///
/// When the client cannot be built.
#[must_use]
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `p`-th percentile (0..=100) of `samples`, sorted in place.
#[must_use]
pub fn percentile(samples: &mut [std::time::Duration], p: usize) -> std::time::Duration {
    if samples.is_empty() {
        return std::time::Duration::ZERO;
    }
    samples.sort_unstable();
    let index = (samples.len() * p).div_ceil(100).saturating_sub(1);
    samples[index.min(samples.len() - 1)]
}
