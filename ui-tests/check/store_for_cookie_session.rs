// checked with `cargo check` (see tests/ui.rs): the refusal must not wait
// for a full build
use session_runtime::{MasterKey, MemoryStore, SessionLayer};

#[derive(session_runtime::Session, Default)]
struct Prefs {
    dark: bool,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _layer = SessionLayer::<Prefs>::with_store(key, MemoryStore::default());
}
