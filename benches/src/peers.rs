//! The peers, each used as its documentation shows, on the same data:
//! tower-sessions (MemoryStore), axum-extra's signed and private cookie
//! jars (JSON, as their users store structs) and actix-session's cookie
//! store.

use crate::{NAME, PeerCart, PeerCounter, PeerNote, Size, lines, note};
use axum::Router;
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, Key, PrivateCookieJar, SameSite, SignedCookieJar};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The data a peer stores for `size`, changed the way the handlers do.
pub trait PeerData: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// A filled session (what the first request writes).
    fn filled() -> Self;
    /// The handler's change.
    fn bump(&mut self);
}

impl PeerData for PeerCounter {
    fn filled() -> Self {
        Self { counter: 1 }
    }
    fn bump(&mut self) {
        self.counter += 1;
    }
}

impl PeerData for PeerCart {
    fn filled() -> Self {
        Self {
            user_id: Some(1_234_567),
            name: NAME.to_owned(),
            lines: lines(),
            counter: 1,
        }
    }
    fn bump(&mut self) {
        self.counter += 1;
    }
}

impl PeerData for PeerNote {
    fn filled() -> Self {
        Self {
            note: note(),
            counter: 1,
        }
    }
    fn bump(&mut self) {
        self.counter += 1;
    }
}

/// Runs `f` with the peer data type of `size`.
#[macro_export]
macro_rules! with_peer_data {
    ($size:expr, $f:ident ( $($arg:expr),* )) => {
        match $size {
            $crate::Size::Counter => $f::<$crate::PeerCounter>($($arg),*),
            $crate::Size::Cart => $f::<$crate::PeerCart>($($arg),*),
            $crate::Size::Note => $f::<$crate::PeerNote>($($arg),*),
        }
    };
}

const KEY: &str = "bench";

async fn tower_sessions_rw<T: PeerData>(session: tower_sessions::Session) -> &'static str {
    let mut data: T = session
        .get(KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(T::filled);
    data.bump();
    session
        .insert(KEY, data)
        .await
        .expect("MemoryStore accepts");
    "ok"
}

/// tower-sessions 0.15 over its MemoryStore, secure cookies as in production.
pub fn tower_sessions_app(size: Size) -> Router {
    fn app<T: PeerData>() -> Router {
        Router::new()
            .route("/rw", get(tower_sessions_rw::<T>))
            .route("/untouched", get(crate::sessionkit::untouched))
            .layer(tower_sessions::SessionManagerLayer::new(
                tower_sessions::MemoryStore::default(),
            ))
    }
    with_peer_data!(size, app())
}

/// The cart handlers of a tower-sessions release (0.15 for the cookie
/// path, 0.14 for its Redis and sqlx stores): a store error is a 503.
macro_rules! tower_sessions_cart {
    ($session:ty, $read:ident, $rw:ident) => {
        /// Reads the cart's counter.
        pub async fn $read(session: $session) -> Result<String, http::StatusCode> {
            let cart: Option<PeerCart> = session
                .get(KEY)
                .await
                .map_err(|_| http::StatusCode::SERVICE_UNAVAILABLE)?;
            Ok(cart.map_or(0, |c| c.counter).to_string())
        }

        /// Reads the cart (filling it on the first request) and increments
        /// its counter.
        pub async fn $rw(session: $session) -> Result<&'static str, http::StatusCode> {
            let unavailable = |_| http::StatusCode::SERVICE_UNAVAILABLE;
            let mut cart: PeerCart = session
                .get(KEY)
                .await
                .map_err(unavailable)?
                .unwrap_or_else(PeerCart::filled);
            cart.bump();
            session.insert(KEY, cart).await.map_err(unavailable)?;
            Ok("ok")
        }
    };
}

tower_sessions_cart!(
    tower_sessions::Session,
    tower_sessions_read,
    tower_sessions_rw_cart
);
tower_sessions_cart!(
    tower_sessions_014::Session,
    tower_sessions_014_read,
    tower_sessions_014_rw
);

fn jar_cookie(value: String) -> Cookie<'static> {
    Cookie::build((KEY, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(604_800))
        .build()
}

fn jar_data<T: PeerData>(cookie: Option<Cookie<'static>>) -> T {
    cookie
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .unwrap_or_else(T::filled)
}

async fn signed_rw<T: PeerData>(jar: SignedCookieJar) -> (SignedCookieJar, &'static str) {
    let mut data: T = jar_data(jar.get(KEY));
    data.bump();
    let json = serde_json::to_string(&data).expect("serializes");
    (jar.add(jar_cookie(json)), "ok")
}

async fn private_rw<T: PeerData>(jar: PrivateCookieJar) -> (PrivateCookieJar, &'static str) {
    let mut data: T = jar_data(jar.get(KEY));
    data.bump();
    let json = serde_json::to_string(&data).expect("serializes");
    (jar.add(jar_cookie(json)), "ok")
}

/// axum-extra 0.12's cookie jar, signed (`private = false`) or private.
pub fn jar_app(size: Size, private: bool) -> Router {
    fn app<T: PeerData>(private: bool) -> Router {
        let routes = Router::new().route("/untouched", get(crate::sessionkit::untouched));
        let routes = if private {
            routes.route("/rw", get(private_rw::<T>))
        } else {
            routes.route("/rw", get(signed_rw::<T>))
        };
        routes.with_state(Key::from(&[5u8; 64]))
    }
    with_peer_data!(size, app(private))
}

/// The actix-session handler on `T`.
pub async fn actix_session_rw<T: PeerData>(session: actix_session::Session) -> &'static str {
    let mut data: T = session.get(KEY).ok().flatten().unwrap_or_else(T::filled);
    data.bump();
    session.insert(KEY, data).expect("serializes");
    "ok"
}
