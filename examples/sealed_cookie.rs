//! The typed core without a web server: derive a session, see the storage
//! decision the compiler made, seal it into a cookie value and open it again.
//!
//! ```text
//! cargo run --example sealed_cookie
//! ```

use serde::{Deserialize, Serialize};
use session_runtime::{
    Bincode, BoundedString, BoundedVec, MasterKey, MaxEncodedLen, Meta, Mode, Sealer, Session,
    SessionAccess, SessionData,
};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone)]
struct Item {
    sku: u32,
    quantity: u16,
}

#[derive(Session, Default, Debug)]
#[session(cookie = "cart")]
struct Cart {
    user_id: Option<u64>,
    name: BoundedString<40>,
    items: BoundedVec<Item, 16>,
}

#[derive(Session, Default, Debug)]
struct Notes {
    text: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "Cart:  bound {:?} bytes -> {:?}",
        Cart::MAX_ENCODED_LEN,
        Cart::STORAGE
    );
    println!(
        "Notes: bound {:?} -> {:?}",
        Notes::MAX_ENCODED_LEN,
        Notes::STORAGE
    );

    let mut cart = CartAccess::from_data(Cart::default());
    cart.set_user_id(Some(7));
    cart.name_mut().try_push_str("Ada")?;
    cart.items_mut().try_push(Item {
        sku: 1001,
        quantity: 2,
    })?;
    println!("changed fields: {:?}", cart.changed());

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let meta = Meta {
        issued_at: now,
        expires_at: now + 7 * 24 * 3600,
        ..Meta::default()
    };
    // a development secret; real deployments load one with MasterKey::from_env
    let sealer = Sealer::new(
        MasterKey::from_base64(&MasterKey::generate_secret()?)?,
        Mode::Encrypted,
    );
    let (data, _) = cart.into_parts();
    let value = sealer.seal::<Cart, Bincode>("cart", &meta, &data)?;
    println!("Set-Cookie: cart={value} ({} bytes)", value.len());

    let opened = sealer.open::<Cart, Bincode>("cart", &value, now)?;
    println!("opened: {:?}", opened.data);
    Ok(())
}
