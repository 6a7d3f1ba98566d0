#[derive(session_runtime::Session)]
struct Cart {
    count: u32,
}

fn main() {}
