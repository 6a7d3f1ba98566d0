//! `#[session(crate = path)]` for a re-exported or renamed runtime.
mod framework {
    pub use session_runtime as sessions;
}

use framework::sessions::{SessionData, Storage};

#[derive(framework::sessions::Session, Default)]
#[session(crate = framework::sessions, storage = "server")]
struct Cart {
    count: u32,
}

#[derive(framework::sessions::MaxEncodedLen)]
#[session(crate = "framework::sessions")]
struct Item {
    sku: u32,
}

fn main() {
    assert_eq!(Cart::STORAGE, Storage::Server);
    assert_eq!(<Item as framework::sessions::MaxEncodedLen>::MAX_ENCODED_LEN, Some(5));
    let _ = (Cart::default().count, Item { sku: 1 }.sku);
}
