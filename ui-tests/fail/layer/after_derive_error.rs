use session_runtime::{MasterKey, MemoryStore, SessionLayer};

// after a derive error, building a layer of either kind adds no error of
// its own: the one mistake is reported once
#[derive(session_runtime::Session, Default)]
#[session(bogus)]
struct Broken {
    count: u32,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _cookie = SessionLayer::<Broken>::new(key.clone());
    let _store = SessionLayer::<Broken>::with_store(key, MemoryStore::default());
}
