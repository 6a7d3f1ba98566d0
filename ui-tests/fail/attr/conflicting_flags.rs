#[derive(session_runtime::Session, Default)]
struct Cart {
    #[session(quick, skip)]
    seen: u64,
    #[session(skip, max_len = 3)]
    scratch: Vec<u8>,
}

fn main() {}
