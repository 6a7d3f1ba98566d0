#[derive(session_runtime::Session)]
enum Cart {
    Empty,
    Full(u32),
}

fn main() {}
