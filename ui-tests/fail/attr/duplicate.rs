#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
#[session(cookie = "basket", storage = "auto", storage = "server")]
struct Cart {
    #[session(quick, quick)]
    seen: u64,
    #[session(max_len = 3)]
    #[session(max_len = 4)]
    tags: Vec<u8>,
}

fn main() {}
