#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", expires = 3600, secure)]
struct Cart {
    #[session(quick, ttl = 5)]
    seen: u64,
    #[session(rename(to = "x"))]
    count: u32,
}

fn main() {}
