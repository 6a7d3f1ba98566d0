// checked with `cargo check`: a session type without a `#[session(user)]`
// field cannot have per-user revocation
use session_runtime::{MasterKey, MemoryStore, SessionLayer};

#[derive(session_runtime::Session, Default)]
struct Anonymous {
    theme: u8,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _layer = SessionLayer::<Anonymous>::new(key).with_user_revocation(MemoryStore::default());
}
