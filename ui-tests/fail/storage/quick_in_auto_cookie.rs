// every field is bounded, so the compiler puts the session in a cookie:
// a `quick` field would silently live there, with no cache tier
#[derive(session_runtime::Session, Default)]
struct Cart {
    count: u32,
    #[session(quick)]
    last_seen: u64,
}

fn main() {}
