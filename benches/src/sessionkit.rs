//! The sessionkit configurations: one Tower layer per session type and
//! mode, and the handlers (`Session<S>` extracts on axum and actix-web
//! alike, so one handler serves both).

use crate::{Cart, Counter, NAME, Note, ServerCart, Size, UserCart, lines, note};
use axum::Router;
use axum::routing::get;
use session_runtime::{BoundedString, BoundedVec, MasterKey, Mode, Session, SessionLayer};

/// The master secret every configuration seals with.
#[must_use]
pub fn key() -> MasterKey {
    MasterKey::from_secret(&[7; 32]).expect("a 32-byte secret")
}

/// Reads and increments the counter.
pub async fn counter(mut session: Session<Counter>) -> &'static str {
    *session.counter_mut() += 1;
    "ok"
}

/// The handlers of a cart type (the same fields kept in a cookie or on
/// the server), for axum and actix-web alike.
macro_rules! cart_handlers {
    ($session:ty, $fill:ident, $read:ident, $rw:ident) => {
        /// Fills a fresh cart the way the peers' handlers do.
        pub fn $fill(cart: &mut Session<$session>) {
            if cart.user_id().is_none() {
                cart.set_user_id(Some(1_234_567));
                cart.set_name(BoundedString::try_from(NAME).expect("fits"));
                cart.set_lines(BoundedVec::try_from(lines()).expect("fits"));
            }
        }

        /// Reads the cart's counter.
        pub async fn $read(cart: Session<$session>) -> String {
            cart.counter().to_string()
        }

        /// Reads the cart (filling it on the first request) and increments
        /// its counter.
        pub async fn $rw(mut cart: Session<$session>) -> &'static str {
            $fill(&mut cart);
            *cart.counter_mut() += 1;
            "ok"
        }
    };
}

cart_handlers!(Cart, fill_cart, cart_read, cart);
cart_handlers!(ServerCart, fill_server_cart, server_cart_read, server_cart);
cart_handlers!(UserCart, fill_user_cart, user_cart_read, user_cart);

/// Reads the note (filling it on the first request) and increments its
/// counter.
pub async fn note_rw(mut session: Session<Note>) -> &'static str {
    if session.note().is_empty() {
        session.set_note(BoundedString::try_from(note()).expect("fits"));
    }
    *session.counter_mut() += 1;
    "ok"
}

/// A route that never extracts the session.
pub async fn untouched() -> &'static str {
    "ok"
}

/// `/rw` (read + write of `size`) and `/untouched` behind a cookie layer
/// in `mode`.
pub fn cookie_app(size: Size, mode: Mode) -> Router {
    let routes = Router::new().route("/untouched", get(untouched));
    match size {
        Size::Counter => routes
            .route("/rw", get(counter))
            .layer(SessionLayer::<Counter>::new(key()).with_mode(mode)),
        Size::Cart => routes
            .route("/rw", get(cart))
            .layer(SessionLayer::<Cart>::new(key()).with_mode(mode)),
        Size::Note => routes
            .route("/rw", get(note_rw))
            .layer(SessionLayer::<Note>::new(key()).with_mode(mode)),
    }
}
