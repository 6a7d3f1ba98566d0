use session_runtime::{MasterKey, MemoryStore, SessionLayer};

// bounded and small: always in its cookie, a store would never be used
#[derive(session_runtime::Session, Default)]
struct Prefs {
    dark: bool,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _layer = SessionLayer::<Prefs>::with_store(key, MemoryStore::default());
}
