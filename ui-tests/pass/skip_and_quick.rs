//! `skip` fields need no serde and no bound (only `Send`, as the struct
//! travels with the request); `quick` fields are ordinary to the type system.
use session_runtime::{SessionData, Storage};
use std::time::Instant;

#[derive(session_runtime::Session, Default)]
#[session(storage = "server")] // quick fields need a cache tier
struct Cart {
    count: u32,
    #[session(skip)]
    scratch: Option<Instant>,
    #[session(quick)]
    last_seen: u64,
}

fn main() {
    assert_eq!(Cart::STORAGE, Storage::Server);
    assert_eq!(Cart::MAX_ENCODED_LEN, Some(5 + 10));
    let cart = Cart::default();
    let _ = (cart.count, cart.scratch, cart.last_seen);
}
