//! The expansion is clean under strict lints in the user's crate.
#![deny(unused_qualifications, missing_docs, unreachable_pub, unused_results)]
#![deny(missing_debug_implementations, rust_2018_idioms, non_snake_case)]

use session_runtime::{BoundedString, MaxEncodedLen, Session};

/// An item.
#[derive(serde::Serialize, serde::Deserialize, MaxEncodedLen, Debug)]
pub struct Item {
    /// Stock keeping unit.
    pub sku: u32,
}

/// A public session type: the generated accessor type is public too, with
/// documented methods.
#[derive(Session, Default, Debug)]
#[session(cookie = "cart")]
pub struct Cart {
    /// The signed-in user.
    pub user: Option<u64>,
    /// Display name.
    pub name: BoundedString<20>,
    /// The r#type field exercises raw identifiers.
    pub r#type: u8,
}

fn main() {
    let _ = Item { sku: 1 }.sku;
    let mut cart = <CartAccess as session_runtime::SessionAccess>::from_data(Cart::default());
    cart.set_type(1);
    let _ = cart.r#type();
}
