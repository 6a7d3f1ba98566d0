// A bad attribute gives one error: the fallback still declares the accessor
// type and the trait impl, so the code using them reports nothing more.
use session_runtime::{SessionAccess, SessionData};

#[derive(session_runtime::Session, Default)]
#[session(cookies = "cart")]
struct Cart {
    count: u32,
}

fn main() {
    let mut cart = CartAccess::from_data(Cart::default());
    cart.set_count(1);
    let _ = (cart.count(), Cart::STORAGE);
}
