#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV2 {
    count: u32,
}

// the same fields: nothing to read ahead
#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", next = CartV2)]
struct Cart {
    count: u32,
}

impl From<CartV2> for Cart {
    fn from(new: CartV2) -> Self {
        Self { count: new.count }
    }
}

fn main() {}
