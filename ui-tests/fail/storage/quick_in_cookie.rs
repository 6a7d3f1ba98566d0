#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Cart {
    count: u32,
    #[session(quick)]
    last_seen: u64,
}

fn main() {}
