// without `cookie = ..`, each takes its snake_case type name: the next
// release's `cart_v2` sessions never reach the `cart` layer
#[derive(session_runtime::Session, Default)]
struct CartV2 {
    count: u64,
}

#[derive(session_runtime::Session, Default)]
#[session(next = CartV2)]
struct Cart {
    count: u32,
}

impl From<CartV2> for Cart {
    fn from(new: CartV2) -> Self {
        Self { count: new.count.try_into().unwrap_or(u32::MAX) }
    }
}

fn main() {}
