//! Examples for sessionkit. The shop's application lives here so the
//! end-to-end tests drive the very router `cargo run --example shop` serves.

pub mod shop;
pub mod shop_actix;
pub mod shop_stores;
