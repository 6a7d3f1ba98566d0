#[derive(session_runtime::Session, Default)]
struct Cart {
    #[session(max_len = 4)]
    count: u32,
}

fn main() {}
