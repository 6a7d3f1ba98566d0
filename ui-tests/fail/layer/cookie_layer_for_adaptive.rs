use session_runtime::{MasterKey, SessionLayer};

// unbounded: stored adaptively, so it needs a server store
#[derive(session_runtime::Session, Default)]
struct Notes {
    text: String,
}

fn main() {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    let _layer = SessionLayer::<Notes>::new(key);
}
