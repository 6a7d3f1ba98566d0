#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV1 {
    count: u32,
}

// the same fields: the migration would do nothing
#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", previous = CartV1)]
struct Cart {
    count: u32,
}

impl From<CartV1> for Cart {
    fn from(old: CartV1) -> Self {
        Self { count: old.count }
    }
}

fn main() {}
