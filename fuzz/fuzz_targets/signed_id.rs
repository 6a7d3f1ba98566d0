//! Parsing a signed server-side ID from a cookie.
use session_runtime::KeyRing;
use session_runtime::id::SessionId;

fn main() {
    let keys = KeyRing::new(sessionkit_fuzz::key());
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let _ = SessionId::verify(&text, &keys, "notes");
    });
}
