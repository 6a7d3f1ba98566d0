//! The tracing spans a server-side session runs in. Alone in its test
//! binary: tracing caches each callsite's interest process-wide, so a test
//! running in parallel without a subscriber could switch the spans off for
//! this one's thread-local subscriber.

use axum::Router;
use session_runtime::id::SessionId;
use session_runtime::{KeyRing, MemoryStore, SessionLayer};
use sessionkit_tests::account::{self, Account};
use sessionkit_tests::http::send;
use sessionkit_tests::key;
use std::sync::Arc;

fn app() -> Router {
    account::app(SessionLayer::<Account>::with_store(
        key(),
        MemoryStore::default(),
    ))
}

/// Collects what a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn loads_and_saves_run_in_spans_with_the_log_tag_never_the_id() {
    use tracing::Instrument as _;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let id = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let app = app();
            let mut cookie: Option<String> = None;
            for (n, (method, uri)) in [("POST", "/login/7"), ("POST", "/add/1"), ("GET", "/whoami")]
                .into_iter()
                .enumerate()
            {
                let reply = send(
                    &app,
                    method,
                    uri,
                    cookie.as_deref().map(|c| ("__Host-account", c)),
                )
                .instrument(tracing::info_span!("request", n))
                .await;
                assert!(reply.status.is_success(), "{}", reply.body);
                cookie = reply.set_cookie.or(cookie);
            }
            cookie.unwrap()
        })
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let tag = SessionId::verify(&id, &KeyRing::new(key()), "__Host-account")
        .unwrap()
        .0
        .log_tag(&KeyRing::new(key()));
    // request 0 creates the session (its new ID's tag), 1 loads and saves
    // it without a new token, 2 loads it
    assert!(
        text.contains(&format!(
            "request{{n=0}}:session_save{{session=__Host-account store=\"memory\" log_tag=\"{tag}\" outcome=\"ok\" sends_token=true}}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "request{{n=1}}:session_load{{session=__Host-account store=\"memory\" log_tag=\"{tag}\" outcome=\"loaded\"}}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "request{{n=1}}:session_save{{session=__Host-account store=\"memory\" log_tag=\"{tag}\" outcome=\"ok\" sends_token=false}}"
        )),
        "{text}"
    );
    assert!(text.contains("request{n=2}:session_load{"), "{text}");
    assert!(text.contains("session_store{"), "{text}");
    assert!(!text.contains(&id), "the signed ID leaked into the logs");
    let (session_id, _) = SessionId::verify(&id, &KeyRing::new(key()), "__Host-account").unwrap();
    assert!(!text.contains(&session_id.store_key().to_hex()));
}
