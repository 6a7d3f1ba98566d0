#[derive(session_runtime::Session, Default)]
#[session(cookie = 5, storage = "disk")]
struct Cart {
    #[session(max_len = "ten")]
    tags: Vec<u8>,
    #[session(quick = true)]
    seen: u64,
    #[session(max_len = 0)]
    notes: String,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "my cart")]
struct Basket {
    count: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "__Host-cart")]
struct Prefixed {
    count: u32,
}

fn main() {}
