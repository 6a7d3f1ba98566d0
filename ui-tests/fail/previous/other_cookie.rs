// without `cookie = ..`, each takes its snake_case type name: sessions
// sealed for `cart_v1` never reach the `cart` layer
#[derive(session_runtime::Session, Default)]
struct CartV1 {
    count: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(previous = CartV1)]
struct Cart {
    count: u64,
}

impl From<CartV1> for Cart {
    fn from(old: CartV1) -> Self {
        Self { count: old.count.into() }
    }
}

fn main() {}
