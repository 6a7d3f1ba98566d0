use serde::{Deserialize, Serialize};

// serde, but no `#[derive(MaxEncodedLen)]`
#[derive(Serialize, Deserialize, Default)]
struct Item {
    sku: u32,
}

#[derive(session_runtime::Session, Default)]
struct Cart {
    item: Item,
}

fn main() {}
