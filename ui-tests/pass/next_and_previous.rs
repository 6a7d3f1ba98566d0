//! A release in the middle of a two-step rollout: it reads the shape
//! before it, its own, and the one the next release will write.

#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart")]
struct CartV1 {
    items: Vec<u32>,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", previous = CartV1, next = CartV3)]
struct Cart {
    items: Vec<u32>,
    coupon: Option<String>,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "cart", previous = Cart)]
struct CartV3 {
    items: Vec<u32>,
    coupon: Option<String>,
    gift: bool,
}

impl From<CartV1> for Cart {
    fn from(old: CartV1) -> Self {
        Self { items: old.items, coupon: None }
    }
}

impl From<CartV3> for Cart {
    fn from(new: CartV3) -> Self {
        Self { items: new.items, coupon: new.coupon }
    }
}

impl From<Cart> for CartV3 {
    fn from(old: Cart) -> Self {
        Self { items: old.items, coupon: old.coupon, gift: false }
    }
}

fn main() {
    use session_runtime::SessionData as _;
    assert_eq!(Cart::NEXT_FINGERPRINT, Some(CartV3::FINGERPRINT));
    assert_eq!((Cart::VERSIONS, CartV3::VERSIONS), (2, 3));
}
