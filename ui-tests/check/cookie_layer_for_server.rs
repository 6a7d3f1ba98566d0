// checked with `cargo check` (see tests/ui.rs): the refusal must not wait
// for a full build
use session_runtime::{MasterKey, SessionLayer};

#[derive(session_runtime::Session, Default)]
#[session(storage = "server")]
struct Account {
    user_id: u64,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _layer = SessionLayer::<Account>::new(key);
}
