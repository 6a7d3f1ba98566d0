//! The layer behind a real HTTP server on loopback, driven by clients with
//! real cookie jars: what a browser would see.

use session_runtime::SessionLayer;
use sessionkit_tests::key;
use sessionkit_tests::{Prefs, TestClock, prefs_routes};
use std::net::SocketAddr;

async fn serve(layer: SessionLayer<Prefs>) -> SocketAddr {
    sessionkit_tests::http::listen(prefs_routes().layer(layer)).await
}

fn layer() -> SessionLayer<Prefs> {
    // plain HTTP on loopback: a jar keeps `Secure` cookies for https only
    SessionLayer::<Prefs>::new(key())
        .with_secure(false)
        .unwrap()
        .with_clock(TestClock::new())
}

fn jar_client() -> reqwest::Client {
    sessionkit_tests::http::browser()
}

#[tokio::test]
async fn a_browser_like_client_keeps_its_session() {
    let addr = serve(layer()).await;
    let client = jar_client();
    let url = |path: &str| format!("http://{addr}{path}");

    let response = client.get(url("/plain")).send().await.unwrap();
    assert!(response.headers().get("set-cookie").is_none());

    let response = client.post(url("/theme/dark")).send().await.unwrap();
    assert_eq!(response.headers().get_all("set-cookie").iter().count(), 1);

    for expected in 1..=3 {
        let body = client
            .post(url("/visit"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, expected.to_string());
    }
    let response = client.get(url("/read")).send().await.unwrap();
    assert!(
        response.headers().get("set-cookie").is_none(),
        "reading sends nothing"
    );
    assert_eq!(response.text().await.unwrap(), "theme=dark visits=3");

    let response = client.post(url("/logout")).send().await.unwrap();
    let removal = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // the jar dropped the cookie: the next request has no session
    let body = client
        .get(url("/read"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "theme= visits=0");
}

#[tokio::test]
async fn concurrent_clients_do_not_share_sessions() {
    let addr = serve(layer()).await;
    let mut tasks = Vec::new();
    for client_no in 0..16u32 {
        tasks.push(tokio::spawn(async move {
            let client = jar_client();
            for _ in 0..=client_no {
                client
                    .post(format!("http://{addr}/visit"))
                    .send()
                    .await
                    .unwrap();
            }
            client
                .get(format!("http://{addr}/read"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    for (client_no, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.await.unwrap(),
            format!("theme= visits={}", client_no + 1)
        );
    }
}

#[tokio::test]
async fn hostile_headers_over_the_wire() {
    let addr = serve(layer()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/read");
    let cases = [
        format!("__Host-prefs={}", "A".repeat(10_000)),
        format!("junk={}; prefs=abc", "x".repeat(64 * 1024)),
        "__Host-prefs=\u{7f}\u{1}".to_owned(),
        "__Host-prefs=a; prefs=b".to_owned(),
    ];
    for cookie in cases {
        let Ok(response) = client.get(&url).header("cookie", cookie).send().await else {
            continue; // a header the client library itself refuses to send
        };
        assert!(
            !response.status().is_server_error(),
            "a bad cookie must never cause a 5xx: {}",
            response.status()
        );
        if response.status().is_success() {
            assert_eq!(response.text().await.unwrap(), "theme= visits=0");
        }
    }
}
