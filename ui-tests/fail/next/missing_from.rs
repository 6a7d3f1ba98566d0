#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV2 {
    count: u64,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", next = CartV2)]
struct Cart {
    count: u32,
}

fn main() {}
