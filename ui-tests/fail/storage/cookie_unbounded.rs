#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Cart {
    count: u32,
    note: String,
}

fn main() {}
