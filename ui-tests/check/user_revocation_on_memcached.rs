// checked with `cargo check`: memcached may evict revocation times, so it
// cannot be the revocation store
use session_runtime::store::MemcachedStore;
use session_runtime::{MasterKey, SessionLayer};

#[derive(session_runtime::Session, Default)]
struct Badge {
    #[session(user)]
    user: Option<u64>,
}

async fn layer(cache: MemcachedStore) -> SessionLayer<Badge> {
    let key = MasterKey::from_secret(&[1; 32]).unwrap();
    SessionLayer::<Badge>::new(key).with_user_revocation(cache)
}

fn main() {
    let _ = layer;
}
