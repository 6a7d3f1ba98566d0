//! Hostile headers through the real layer over real sockets, and the
//! replay and fixation rules. Every case has a documented status; none may
//! panic or hang.
//!
//! | input | answer |
//! | --- | --- |
//! | Cookie header of 8, 16 or 64 KiB, 10,000 pairs | 200, the session found (or a fresh one) |
//! | Cookie header of 1 MiB | 431 from the HTTP server, before the layer |
//! | the session cookie twice (one line or two) | 200, the session found (the first that opens) |
//! | a planted cookie of the same name before ours | 200, the session found |
//! | CR, LF or NUL inside the header | 400 from the HTTP parser |
//! | bytes over 0x7f | 200, a fresh session |
//! | `__host-`/`__HOST-` for a `__Host-` cookie | 200, not the session (names are case-sensitive) |
//! | the session cookie at any position among 50 | 200, the session found |

use axum::Router;
use session_runtime::{MemoryStore, SessionLayer};
use sessionkit_tests::frameworks::{Account, Axum, Harness, axum_app};
use sessionkit_tests::key;
use sessionkit_tests::{Prefs, TestClock, prefs_routes};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn serve(app: Router) -> SocketAddr {
    sessionkit_tests::http::listen(app).await
}

/// Sends a raw HTTP/1.1 request; the status and the whole response.
fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n").into_bytes();
    request.extend_from_slice(headers);
    request.extend_from_slice(b"content-length: 0\r\n\r\n");
    // the server may answer and close before reading it all
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn cookie_line(value: &str) -> Vec<u8> {
    format!("cookie: {value}\r\n").into_bytes()
}

fn junk(bytes: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&format!("j{i}=v{i}; "));
        i += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_cookie_headers_get_a_documented_answer_and_never_hang() {
    let layer = SessionLayer::<Prefs>::new(key())
        .with_secure(false)
        .unwrap();
    let addr = serve(prefs_routes().layer(layer)).await;
    let (status, text) = raw(addr, "POST", "/theme/dark", b"");
    assert_eq!(status, 200, "{text}");
    let set = text
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    let good = set["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let mut cases: Vec<(String, Vec<u8>, u16, &str)> = Vec::new();
    for kib in [8, 16, 64] {
        cases.push((
            format!("{kib} KiB Cookie header"),
            cookie_line(&format!("{}{good}", junk(kib * 1024))),
            200,
            "theme=dark",
        ));
    }
    cases.push((
        "1 MiB Cookie header".to_owned(),
        cookie_line(&format!("{}{good}", junk(1 << 20))),
        431,
        "",
    ));
    let pairs: String = (0..10_000).map(|i| format!("p{i}=x; ")).collect();
    cases.push((
        "10,000 pairs".to_owned(),
        cookie_line(&format!("{pairs}{good}")),
        200,
        "theme=dark",
    ));
    cases.push((
        "duplicated on one line".to_owned(),
        cookie_line(&format!("{good}; {good}")),
        200,
        "theme=dark",
    ));
    let mut split = cookie_line(&good);
    split.extend(cookie_line(&good));
    cases.push((
        "duplicated on two lines".to_owned(),
        split,
        200,
        "theme=dark",
    ));
    cases.push((
        "a planted cookie of the same name first".to_owned(),
        cookie_line(&format!("prefs=AAAAplanted; {good}")),
        200,
        "theme=dark",
    ));
    for (what, byte) in [("CR", b'\r'), ("LF", b'\n'), ("NUL", 0u8)] {
        let mut line = b"cookie: a=1".to_vec();
        line.push(byte);
        line.extend_from_slice(format!("{good}\r\n").as_bytes());
        cases.push((format!("{what} inside the header"), line, 400, ""));
    }
    let mut high = b"cookie: prefs=".to_vec();
    high.extend_from_slice(&[0xc3, 0xa9, 0xff, 0x80]);
    high.extend_from_slice(b"\r\n");
    cases.push(("bytes over 0x7f".to_owned(), high, 200, "theme= "));
    let pairs: Vec<String> = (0..50).map(|i| format!("n{i}=v")).collect();
    for at in [0, 1, 25, 49, 50] {
        let mut line = pairs.clone();
        line.insert(at, good.clone());
        cases.push((
            format!("the session cookie at position {at} of 51"),
            cookie_line(&line.join("; ")),
            200,
            "theme=dark",
        ));
    }

    let mut slowest = Duration::ZERO;
    for (what, headers, expected, body) in &cases {
        let began = Instant::now();
        let (status, text) = tokio::task::block_in_place(|| raw(addr, "GET", "/read", headers));
        slowest = slowest.max(began.elapsed());
        assert_eq!(
            status,
            *expected,
            "{what}: {}",
            &text[..text.len().min(300)]
        );
        assert!(
            text.contains(body),
            "{what}: {}",
            &text[..text.len().min(300)]
        );
    }
    sessionkit_tests::figure(&format!(
        "header abuse over sockets: {} hostile Cookie headers (8/16/64 KiB, 1 MiB, 10,000 pairs, duplicates, CR/LF/NUL, high bytes, every position), 0 panics, each with its documented status, slowest {slowest:?}",
        cases.len()
    ));
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
}

#[tokio::test]
async fn host_prefix_names_are_case_sensitive() {
    let layer = SessionLayer::<Prefs>::new(key())
        .with_host_prefix()
        .unwrap();
    let app = prefs_routes().layer(layer);
    let harness = Axum(app);
    let set = harness
        .send("POST", "/theme/dark", &[], "__Host-prefs")
        .await;
    let value = set.set_cookie.unwrap();
    for name in [
        "__Host-prefs",
        "__host-prefs",
        "__HOST-prefs",
        "__Host-prefs",
    ] {
        let reply = harness
            .send(
                "GET",
                "/read",
                &[("cookie", &format!("{name}={value}"))],
                "x",
            )
            .await;
        let expected = if name == "__Host-prefs" {
            "theme=dark visits=0"
        } else {
            "theme= visits=0"
        };
        assert_eq!(reply.body, expected, "{name}");
    }
}

#[tokio::test]
async fn a_sealed_cookie_is_refused_after_its_expiry_whatever_the_client_sends() {
    let clock = TestClock::new();
    let layer = SessionLayer::<Prefs>::new(key())
        .with_lifetime(Duration::from_secs(60))
        .unwrap()
        .with_clock(clock.clone());
    let app = Axum(prefs_routes().layer(layer));
    let value = app
        .send("POST", "/theme/dark", &[], "__Host-prefs")
        .await
        .set_cookie
        .unwrap();
    // the client ignores Max-Age and keeps sending it: the sealed expiry,
    // checked on the server's clock, decides
    clock.advance(Duration::from_secs(61));
    let replay = app
        .send(
            "GET",
            "/read",
            &[("cookie", &format!("__Host-prefs={value}"))],
            "__Host-prefs",
        )
        .await;
    assert_eq!(replay.body, "theme= visits=0");
    assert_eq!(replay.set_cookie.as_deref(), Some(""), "and it is cleared");
}

#[tokio::test]
async fn an_id_planted_before_login_is_never_the_id_after_login() {
    let store = MemoryStore::default();
    let app = Axum(axum_app(
        SessionLayer::<Prefs>::new(key()),
        SessionLayer::<Account>::with_store(key(), store),
    ));
    // the attacker gets a valid anonymous session and plants its cookie
    let planted = app
        .send("POST", "/add/1", &[], "__Host-account")
        .await
        .set_cookie
        .unwrap();
    // the victim logs in with it
    let login = app
        .send(
            "POST",
            "/login/42",
            &[("cookie", &format!("__Host-account={planted}"))],
            "__Host-account",
        )
        .await;
    let victims = login.set_cookie.unwrap();
    assert_ne!(victims, planted, "login takes a new ID");
    let attacker = app
        .send(
            "GET",
            "/whoami",
            &[("cookie", &format!("__Host-account={planted}"))],
            "__Host-account",
        )
        .await;
    assert_eq!(attacker.body, "None", "the planted ID opens nothing");
    // and after logout the victim's own cookie cannot be resumed
    app.send(
        "POST",
        "/account/logout",
        &[("cookie", &format!("__Host-account={victims}"))],
        "__Host-account",
    )
    .await;
    let resumed = app
        .send(
            "GET",
            "/whoami",
            &[("cookie", &format!("__Host-account={victims}"))],
            "__Host-account",
        )
        .await;
    assert_eq!(resumed.body, "None");
}

#[tokio::test]
async fn a_cookie_session_cannot_be_revoked_before_it_expires_the_documented_limit() {
    let app = Axum(prefs_routes().layer(SessionLayer::<Prefs>::new(key())));
    let value = app
        .send("POST", "/theme/dark", &[], "__Host-prefs")
        .await
        .set_cookie
        .unwrap();
    let logout = app
        .send(
            "POST",
            "/logout",
            &[("cookie", &format!("__Host-prefs={value}"))],
            "__Host-prefs",
        )
        .await;
    assert_eq!(
        logout.set_cookie.as_deref(),
        Some(""),
        "the browser is told to drop it"
    );
    // but whoever kept a copy still holds the session until its sealed
    // expiry: cookie sessions carry their data, there is nothing to delete
    // (use `storage = "server"` for sessions that must be revocable)
    let copy = app
        .send(
            "GET",
            "/read",
            &[("cookie", &format!("__Host-prefs={value}"))],
            "__Host-prefs",
        )
        .await;
    assert_eq!(copy.body, "theme=dark visits=0");
}

#[tokio::test]
async fn no_sealed_cookie_over_4096_bytes_is_ever_emitted() {
    use session_runtime::Session;
    /// Unbounded: Adaptive, with a threshold far past what a cookie holds.
    #[derive(Session, Default)]
    #[session(cookie = "big")]
    struct Big {
        text: String,
    }
    let layer = SessionLayer::<Big>::with_store(key(), MemoryStore::default())
        .with_cookie_threshold(1 << 20)
        .unwrap();
    let app = Axum(
        Router::new()
            .route(
                "/{len}",
                axum::routing::post(
                    |mut big: Session<Big>,
                     axum::extract::Path(len): axum::extract::Path<usize>| async move {
                        big.set_text("b".repeat(len));
                        "ok"
                    },
                ),
            )
            .layer(layer),
    );
    for len in [100, 2_000, 2_990, 3_000, 3_100, 4_000, 10_000] {
        let reply = app
            .send("POST", &format!("/{len}"), &[], "__Host-big")
            .await;
        assert_eq!(reply.status, 200, "{len}");
        let value = reply.set_cookie.unwrap();
        assert!(
            "__Host-big=".len() + value.len() <= 4096,
            "{len}: {} bytes",
            value.len()
        );
    }
}

#[tokio::test]
async fn a_cookie_session_whose_bound_lies_is_refused_at_write_time_not_emitted() {
    use serde::{Deserialize, Serialize};
    use session_runtime::{MaxEncodedLen, Session};
    /// A hand-written bound that understates: the one way a Cookie
    /// session can outgrow its cookie.
    #[derive(Serialize, Deserialize, Default, Debug)]
    struct Liar(String);
    impl MaxEncodedLen for Liar {
        const MAX_ENCODED_LEN: Option<usize> = Some(8);
        const SHAPE: u64 = session_runtime::bound::shape::named("Liar v1");
    }
    #[derive(Session, Default)]
    #[session(cookie = "liar")]
    struct Small {
        text: Liar,
    }
    const _: () = assert!(matches!(
        <Small as session_runtime::SessionData>::STORAGE,
        session_runtime::Storage::Cookie
    ));
    let app = Axum(
        Router::new()
            .route(
                "/{len}",
                axum::routing::post(
                    |mut s: Session<Small>,
                     axum::extract::Path(len): axum::extract::Path<usize>| async move {
                        s.set_text(Liar("l".repeat(len)));
                        "ok"
                    },
                ),
            )
            .layer(SessionLayer::<Small>::new(key())),
    );
    let small = app.send("POST", "/10", &[], "__Host-liar").await;
    assert_eq!(small.status, 200);
    assert!(small.set_cookie.is_some());
    let big = app.send("POST", "/5000", &[], "__Host-liar").await;
    assert_eq!(big.status, 500, "{}", big.body);
    // why goes to the log; the client gets a generic text
    assert_eq!(big.body, "the session could not be saved");
    assert!(big.headers.get("set-cookie").is_none(), "never emitted");
}
