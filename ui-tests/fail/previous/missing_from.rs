#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV1 {
    count: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", previous = CartV1)]
struct Cart {
    count: u64,
}

fn main() {}
