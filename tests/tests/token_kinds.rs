//! Sealed sessions and signed server IDs share one cookie: which one a
//! value is follows from its first character, never from its length. Every
//! size of several Adaptive shapes, from empty to past the cookie
//! threshold, in both modes and both codecs, survives the next request
//! (a sealed value of exactly a signed ID's length was once taken for an
//! ID, refused, and the session lost); IDs of the form before the format
//! byte still open.

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use session_runtime::id::{LEGACY_SIGNED_ID_LEN, SIGNED_ID_LEN, is_signed_id};
use session_runtime::{Bincode, MemoryStore, Mode, Postcard, Session, SessionLayer};
use sessionkit_tests::figure;
use sessionkit_tests::http::send;
use sessionkit_tests::key;

/// The README's own example: one string.
#[derive(Session, Default)]
#[session(cookie = "notes")]
struct Notes {
    text: String,
}

/// Fixed fields around the string shift every size by a few bytes.
#[derive(Session, Default)]
#[session(cookie = "mixed_notes")]
struct Mixed {
    flag: bool,
    text: String,
    count: u64,
}

/// Bytes instead of text, under a long cookie name (a smaller threshold).
#[derive(Session, Default)]
#[session(cookie = "a_rather_long_cookie_name_for_blobs")]
struct Blob {
    text: Vec<u8>,
}

/// The app for one shape in `mode` with codec `codec` (0 bincode, 1
/// postcard): `POST /set/{len}` sets a text of that length, `GET /len`
/// reads its length back.
macro_rules! shape_app {
    ($name:ident, $shape:ty, |$s:ident, $len:ident| $set:expr) => {
        fn $name(mode: Mode, codec: u8) -> Router {
            let layer =
                SessionLayer::<$shape>::with_store(key(), MemoryStore::default()).with_mode(mode);
            let layer = match codec {
                0 => layer.with_codec::<Bincode>(),
                _ => layer.with_codec::<Postcard>(),
            };
            Router::new()
                .route(
                    "/set/{len}",
                    post(
                        |mut $s: Session<$shape>, Path($len): Path<usize>| async move {
                            $set;
                            "ok"
                        },
                    ),
                )
                .route(
                    "/len",
                    get(|s: Session<$shape>| async move { s.text().len().to_string() }),
                )
                .layer(layer)
        }
    };
}

shape_app!(notes_app, Notes, |s, len| s.set_text("n".repeat(len)));
shape_app!(mixed_app, Mixed, |s, len| {
    s.set_flag(true);
    s.set_count(u64::MAX);
    s.set_text("m".repeat(len));
});
shape_app!(blob_app, Blob, |s, len| s.set_text(vec![0xA5; len]));

/// Every size from 0 to past the threshold: each one is read back whole
/// on the next request. Returns (sizes tried, cookie values of a signed
/// ID's length or the old ID length, sizes stored server-side).
async fn every_size(app: Router, name: &str, mode: Mode, codec: u8) -> (usize, usize, usize) {
    let (mut tried, mut id_length, mut server) = (0, 0, 0);
    // the default threshold is the cookie budget: ~3 KB of encoded session
    for len in 0..=3_200 {
        let set = send(&app, "POST", &format!("/set/{len}"), None).await;
        assert_eq!(set.status, 200, "{name} {mode:?} codec {codec} len {len}");
        let Some(value) = set.set_cookie else {
            // a session equal to a fresh one sends nothing
            assert_eq!(
                len, 0,
                "{name} {mode:?} codec {codec}: no cookie for len {len}"
            );
            continue;
        };
        tried += 1;
        if value.len() == SIGNED_ID_LEN || value.len() == LEGACY_SIGNED_ID_LEN {
            id_length += 1;
        }
        if is_signed_id(value.as_bytes()) {
            server += 1;
        }
        let read = send(&app, "GET", "/len", Some((name, &value))).await;
        assert_eq!(
            read.body,
            len.to_string(),
            "{name} {mode:?} codec {codec}: a session of {len} bytes ({} characters sealed) was lost",
            value.len()
        );
    }
    (tried, id_length, server)
}

async fn all_modes(app: fn(Mode, u8) -> Router, name: &str) -> (usize, usize, usize) {
    let mut total = (0, 0, 0);
    for mode in [Mode::Encrypted, Mode::Signed] {
        for codec in [0, 1] {
            let (tried, id_length, server) = every_size(app(mode, codec), name, mode, codec).await;
            assert!(
                server > 0,
                "{name} {mode:?} codec {codec}: the sizes reached the store"
            );
            total = (total.0 + tried, total.1 + id_length, total.2 + server);
        }
    }
    total
}

#[tokio::test]
async fn every_size_of_every_shape_survives_the_next_request() {
    let notes = all_modes(notes_app, "__Host-notes").await;
    let mixed = all_modes(mixed_app, "__Host-mixed_notes").await;
    let blob = all_modes(blob_app, "__Host-a_rather_long_cookie_name_for_blobs").await;
    let tried = notes.0 + mixed.0 + blob.0;
    let id_length = notes.1 + mixed.1 + blob.1;
    // each shape, mode and codec passes through both ID lengths once
    assert!(
        id_length >= 3 * 4,
        "sealed values of an ID's length were tried: {id_length}"
    );
    figure(&format!(
        "token kinds: {tried} session sizes (3 Adaptive shapes x 2 modes x 2 codecs, 0..=3200 bytes) read back whole, {id_length} of them sealed to a signed ID's length, {} server-side; 0 lost",
        notes.2 + mixed.2 + blob.2
    ));
}

#[tokio::test]
async fn the_readme_example_at_the_size_that_was_lost() {
    // `text = "hello"` sealed to exactly the old ID length (66 characters)
    let app = notes_app(Mode::Encrypted, 0);
    let set = send(&app, "POST", "/set/5", None).await;
    let value = set.set_cookie.unwrap();
    assert!(!is_signed_id(value.as_bytes()));
    let read = send(&app, "GET", "/len", Some(("__Host-notes", &value))).await;
    assert_eq!(read.body, "5");
}

#[tokio::test]
async fn ids_signed_before_the_format_byte_still_open_and_are_re_signed() {
    let app = notes_app(Mode::Encrypted, 0);
    let set = send(&app, "POST", "/set/4000", None).await;
    let current = set.set_cookie.unwrap();
    assert!(is_signed_id(current.as_bytes()), "server-side: {current}");
    // the old form is the current one without its first byte
    let raw = URL_SAFE_NO_PAD.decode(&current).unwrap();
    let legacy = URL_SAFE_NO_PAD.encode(&raw[1..]);
    assert_eq!(legacy.len(), LEGACY_SIGNED_ID_LEN);
    let read = send(&app, "GET", "/len", Some(("__Host-notes", &legacy))).await;
    assert_eq!(read.body, "4000", "the old ID opens its record");
    // the next write moves the client to the current form, same record
    let write = send(&app, "POST", "/set/4001", Some(("__Host-notes", &legacy))).await;
    let resigned = write.set_cookie.expect("re-signed in the current form");
    assert!(is_signed_id(resigned.as_bytes()));
    let read = send(&app, "GET", "/len", Some(("__Host-notes", &resigned))).await;
    assert_eq!(read.body, "4001");
}
