#[derive(session_runtime::Session, Default)]
struct CartV1 {
    count: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(previous = CartV1)]
struct Cart {
    count: u64,
}

fn main() {}
