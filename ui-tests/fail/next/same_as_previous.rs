#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV1 {
    count: u64,
}

// the shape after this one cannot also be the shape before it
#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", previous = CartV1, next = CartV1)]
struct Cart {
    count: u32,
}

impl From<CartV1> for Cart {
    fn from(old: CartV1) -> Self {
        Self { count: old.count.try_into().unwrap_or(u32::MAX) }
    }
}

fn main() {}
