//! [`Account`]: an always-server-side session and its app (who am I, log
//! in, add to cart, log out), shared by the server-session and tracing
//! tests.

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use session_runtime::{Session, SessionLayer};

/// Always server-side.
#[derive(Session, Default, Debug)]
#[session(cookie = "account", storage = "server")]
pub struct Account {
    /// The logged-in user.
    pub user: Option<u64>,
    /// Items, unbounded.
    pub cart: Vec<u32>,
}

/// `GET /whoami`, `POST /login/{user}` (with `cycle_id`), `POST
/// /add/{item}` and `POST /logout` behind `layer`.
pub fn app(layer: SessionLayer<Account>) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|account: Session<Account>| async move { format!("{:?}", account.user()) }),
        )
        .route(
            "/login/{user}",
            post(
                |mut account: Session<Account>, Path(user): Path<u64>| async move {
                    account.set_user(Some(user));
                    account.cycle_id();
                    "ok"
                },
            ),
        )
        .route(
            "/add/{item}",
            post(
                |mut account: Session<Account>, Path(item): Path<u32>| async move {
                    account.cart_mut().push(item);
                    "ok"
                },
            ),
        )
        .route(
            "/logout",
            post(|mut account: Session<Account>| async move {
                account.terminate();
                "bye"
            }),
        )
        .layer(layer)
}
