//! A small shop: log in, fill a cart, pick preferences, log out.
//!
//! Two typed sessions:
//!
//! * [`Prefs`] — theme and currency; bounded and small, so the compiler
//!   keeps it in one sealed cookie. Lives across logins.
//! * [`Cart`] — who is logged in, what they picked and a gift note. The
//!   note is free text, so the cart has no size bound and is `Adaptive`:
//!   in its cookie while small, in the server store (a cache in front of
//!   SQL) once it grows past the cookie threshold, and back when it
//!   shrinks.
//!
//! Pages that do not touch a session send no `Set-Cookie`; reading a session
//! without changing it sends none either.

use axum::Form;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use session_runtime::{
    BoundedString, BoundedVec, ConfigError, KeyRing, MaxEncodedLen, RevocationTimes, Session,
    SessionLayer, SessionStore,
};
use std::fmt::Write as _;

/// One line of the cart.
#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Catalogue number.
    pub sku: u16,
    /// How many.
    pub quantity: u8,
}

/// The shopper and their cart.
#[derive(Session, Default, Debug)]
#[session(cookie = "cart")]
pub struct Cart {
    /// The logged-in user's name: the key of "log out everywhere".
    #[session(user)]
    pub user: Option<BoundedString<32>>,
    /// What is in the cart.
    pub lines: BoundedVec<Line, 12>,
    /// A note for the gift wrap: free text, hence no size bound.
    pub gift_note: String,
}

/// Longest gift note accepted.
const MAX_NOTE: usize = 4000;

/// Carts whose encoding is longer than this live server-side.
pub const CART_COOKIE_THRESHOLD: usize = 512;

/// Display preferences.
#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Theme {
    /// Dark text on light.
    #[default]
    Light,
    /// Light text on dark.
    Dark,
}

/// Currency of the prices shown.
#[derive(Serialize, Deserialize, MaxEncodedLen, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Currency {
    /// Euro.
    #[default]
    Eur,
    /// US dollar.
    Usd,
}

/// Preferences, kept across logins.
#[derive(Session, Default, Debug)]
#[session(cookie = "prefs")]
pub struct Prefs {
    /// The theme.
    pub theme: Theme,
    /// The currency.
    pub currency: Currency,
}

struct Product {
    sku: u16,
    name: &'static str,
    cents: u32,
}

const CATALOGUE: &[Product] = &[
    Product {
        sku: 1,
        name: "Sourdough loaf",
        cents: 450,
    },
    Product {
        sku: 2,
        name: "Rye crackers",
        cents: 320,
    },
    Product {
        sku: 3,
        name: "Hazelnut spread",
        cents: 690,
    },
    Product {
        sku: 4,
        name: "Espresso beans, 250 g",
        cents: 1290,
    },
    Product {
        sku: 5,
        name: "Blood orange marmalade",
        cents: 575,
    },
];

/// Most of one product a cart holds.
const MAX_QUANTITY: u8 = 99;

/// The router with both session layers; carts that outgrow their cookie go
/// to `store`.
///
/// `secure` sets the cookies' `Secure` attribute: keep it on except for
/// plain-HTTP development on a host that is not `localhost`.
///
/// # Errors
///
/// [`ConfigError`] when the cookie settings are refused.
pub fn app(
    keys: impl Into<KeyRing>,
    secure: bool,
    store: impl RevocationTimes,
) -> Result<Router, ConfigError> {
    let (cart, prefs) = layers(keys, secure, store)?;
    Ok(routes(cart, prefs))
}

/// The shop over a store that cannot keep users' revocation times
/// (memcached alone, gae-sessions' `no_datastore`): "log out other devices"
/// still ends their server-side carts, but carts in cookies stay valid.
///
/// # Errors
///
/// [`ConfigError`] when the cookie settings are refused.
pub fn app_without_revocation(
    keys: impl Into<KeyRing>,
    secure: bool,
    store: impl SessionStore,
) -> Result<Router, ConfigError> {
    tracing::warn!("no user revocation times: carts in cookies stay logged in on other devices");
    let (cart, prefs) = plain_layers(keys, secure, store)?;
    Ok(routes(cart, prefs))
}

fn routes(cart: SessionLayer<Cart>, prefs: SessionLayer<Prefs>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/about", get(about))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout-others", post(logout_others))
        .route("/cart/add", post(add))
        .route("/cart/remove", post(remove))
        .route("/cart/note", post(note))
        .route("/prefs", post(set_prefs))
        .layer(cart)
        .layer(prefs)
}

/// `GET /metrics`: the session metrics in Prometheus' text format, from the
/// recorder the binary installed (`metrics-exporter-prometheus`).
pub fn metrics(handle: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    )
}

/// What both shop binaries read from the environment: the secret
/// (`SESSION_SECRET`, or a development secret for this run), the cookies'
/// `Secure` attribute (`SESSION_COOKIE_SECURE=0` drops it) and the port
/// (`PORT`, else `default_port`).
#[derive(Debug)]
pub struct Env {
    /// The sealing key.
    pub key: session_runtime::MasterKey,
    /// The cookies' `Secure` attribute.
    pub secure: bool,
    /// Where to listen.
    pub port: u16,
}

impl Env {
    /// Reads the environment.
    ///
    /// # Errors
    ///
    /// A secret that is not base64 of at least 32 bytes, or a port that is
    /// not a number.
    pub fn read(default_port: u16) -> Result<Self, Box<dyn std::error::Error>> {
        use session_runtime::MasterKey;
        let key = match std::env::var("SESSION_SECRET") {
            Ok(secret) => MasterKey::from_base64(&secret)?,
            Err(_) => {
                eprintln!(
                    "SESSION_SECRET is not set: using a development secret for this run only"
                );
                MasterKey::from_base64(&MasterKey::generate_secret()?)?
            }
        };
        let secure = std::env::var("SESSION_COOKIE_SECURE").map_or(true, |v| v != "0");
        let port = match std::env::var("PORT") {
            Ok(port) => port
                .parse()
                .map_err(|_| format!("PORT `{port}` is not a port number"))?,
            Err(_) => default_port,
        };
        Ok(Self { key, secure, port })
    }
}

/// The shop's two session layers, for any framework.
///
/// # Errors
///
/// [`ConfigError`] when the cookie settings are refused.
pub fn layers(
    keys: impl Into<KeyRing>,
    secure: bool,
    store: impl RevocationTimes,
) -> Result<(SessionLayer<Cart>, SessionLayer<Prefs>), ConfigError> {
    let store = std::sync::Arc::new(store);
    let (cart, prefs) = plain_layers(keys, secure, std::sync::Arc::clone(&store))?;
    // the store also keeps each user's revocation time, so "log out other
    // devices" reaches carts that live in a cookie too (memcached alone
    // could not: the bound on `store` says so at compile time)
    Ok((cart.with_user_revocation(store), prefs))
}

/// The layers without user revocation times.
fn plain_layers(
    keys: impl Into<KeyRing>,
    secure: bool,
    store: impl SessionStore,
) -> Result<(SessionLayer<Cart>, SessionLayer<Prefs>), ConfigError> {
    let keys = keys.into();
    let cart = SessionLayer::<Cart>::with_store(keys.clone(), store)
        .with_cookie_threshold(CART_COOKIE_THRESHOLD)?
        .with_secure(secure)?;
    let prefs = SessionLayer::<Prefs>::new(keys).with_secure(secure)?;
    Ok((cart, prefs))
}

/// The page that never looks at a session.
pub const ABOUT: &str =
    "<!doctype html><title>About</title><p>A sessionkit demo shop. <a href=\"/\">Back</a></p>";

/// A page that never looks at a session.
async fn about() -> Html<&'static str> {
    Html(ABOUT)
}

async fn home(cart: Option<Session<Cart>>, prefs: Option<Session<Prefs>>) -> Html<String> {
    Html(page(cart.as_ref(), prefs.as_ref()))
}

/// The home page: who is logged in, the cart, the preferences. `None` for a
/// session the request does not carry.
pub fn page(cart: Option<&Session<Cart>>, prefs: Option<&Session<Prefs>>) -> String {
    let theme = prefs.as_ref().map_or(Theme::Light, |p| *p.theme());
    let currency = prefs.as_ref().map_or(Currency::Eur, |p| *p.currency());
    let (bg, fg) = match theme {
        Theme::Light => ("#fafafa", "#222"),
        Theme::Dark => ("#1d1f21", "#e8e8e8"),
    };
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=utf-8><title>sessionkit shop</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;background:{bg};color:{fg}}}\
         table{{border-collapse:collapse}}td,th{{padding:.3em .8em;text-align:left}}form{{display:inline}}</style>\
         </head><body><h1>sessionkit shop</h1>"
    );
    let user = cart.as_ref().and_then(|c| c.user().clone());
    match &user {
        Some(name) => {
            let _ = write!(
                page,
                "<p>Signed in as <b>{}</b>. <form method=post action=/logout><button>Log out</button></form> \
                 <form method=post action=/logout-others><button>Log out other devices</button></form></p>",
                escape(name)
            );
        }
        None => page.push_str(
            "<form method=post action=/login><label>Name <input name=name maxlength=32 required></label> \
             <button>Log in</button></form>",
        ),
    }
    page.push_str("<h2>Products</h2><table>");
    for product in CATALOGUE {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td><form method=post action=/cart/add>\
             <input type=hidden name=sku value={}><button>Add</button></form></td></tr>",
            product.name,
            price(product.cents, currency),
            product.sku
        );
    }
    page.push_str("</table><h2>Cart</h2>");
    let lines = cart
        .as_ref()
        .map(|c| c.lines().to_vec())
        .unwrap_or_default();
    if lines.is_empty() {
        page.push_str("<p>Empty.</p>");
    } else {
        page.push_str("<table>");
        let mut total = 0;
        for line in &lines {
            let Some(product) = CATALOGUE.iter().find(|p| p.sku == line.sku) else {
                continue;
            };
            total += product.cents * u32::from(line.quantity);
            let _ = write!(
                page,
                "<tr><td>{} × {}</td><td>{}</td><td><form method=post action=/cart/remove>\
                 <input type=hidden name=sku value={}><button>Remove one</button></form></td></tr>",
                line.quantity,
                product.name,
                price(product.cents * u32::from(line.quantity), currency),
                line.sku
            );
        }
        let _ = write!(
            page,
            "<tr><th>Total</th><th>{}</th></tr></table>",
            price(total, currency)
        );
    }
    let note = cart
        .as_ref()
        .map(|c| c.gift_note().clone())
        .unwrap_or_default();
    let _ = write!(
        page,
        "<h2>Gift note</h2><form method=post action=/cart/note><textarea name=note rows=3 cols=60 maxlength={MAX_NOTE}>{}</textarea> \
         <button>Save note</button></form><p><small>Short carts live in their cookie; a long note moves the cart to the server.</small></p>",
        escape(&note)
    );
    let selected = |on: bool| if on { " selected" } else { "" };
    let _ = write!(
        page,
        "<h2>Preferences</h2><form method=post action=/prefs>\
         <select name=theme><option value=light{}>Light</option><option value=dark{}>Dark</option></select> \
         <select name=currency><option value=eur{}>EUR</option><option value=usd{}>USD</option></select> \
         <button>Save</button></form><p><a href=/about>About</a></p></body></html>",
        selected(theme == Theme::Light),
        selected(theme == Theme::Dark),
        selected(currency == Currency::Eur),
        selected(currency == Currency::Usd),
    );
    page
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

/// Why a form was refused: 404 or 422, with a message for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// What to tell the user.
    pub message: &'static str,
}

const fn unprocessable(message: &'static str) -> Refused {
    Refused {
        status: 422,
        message,
    }
}

/// The actions behind the forms, framework neutral: the axum routes here
/// and the actix-web ones in [`crate::shop_actix`] both call them.
pub mod actions {
    use super::{
        BoundedString, CATALOGUE, Cart, Currency, Line, MAX_NOTE, MAX_QUANTITY, Prefs, Refused,
        Session, Theme, unprocessable,
    };

    /// Logs `name` in, with a new session identity.
    ///
    /// # Errors
    ///
    /// A name that is empty or longer than 32 bytes.
    pub fn login(cart: &mut Session<Cart>, name: &str) -> Result<(), Refused> {
        let Ok(name) = BoundedString::try_from(name.trim()) else {
            return Err(unprocessable("names are at most 32 bytes"));
        };
        if name.is_empty() {
            return Err(unprocessable("a name is required"));
        }
        // a new identity for the new privilege level: no session fixation
        cart.cycle_id();
        cart.set_user(Some(name));
        Ok(())
    }

    /// Ends the cart's session (preferences stay).
    pub fn logout(cart: &mut Session<Cart>) {
        cart.terminate();
    }

    /// Logs the shopper out on every other device (browsers, phones):
    /// their carts, in cookies or on the server, are refused from their
    /// next request. This one stays.
    ///
    /// # Errors
    ///
    /// The session store failed.
    pub async fn logout_others(cart: &mut Session<Cart>) -> Result<(), Refused> {
        match cart.revoke_user_sessions(true).await {
            Ok(_) => Ok(()),
            Err(session_runtime::StoreError::Unsupported { .. }) => Err(Refused {
                status: 501,
                message: "this shop's session store cannot log out other devices",
            }),
            Err(err) => {
                tracing::warn!(error = %err, "log out other devices failed");
                Err(Refused {
                    status: 503,
                    message: "the session store is unavailable; please retry",
                })
            }
        }
    }

    /// Adds one of `sku`.
    ///
    /// # Errors
    ///
    /// An unknown product, or a full cart.
    pub fn add(cart: &mut Session<Cart>, sku: u16) -> Result<(), Refused> {
        if !CATALOGUE.iter().any(|p| p.sku == sku) {
            return Err(Refused {
                status: 404,
                message: "no such product",
            });
        }
        let lines = cart.lines_mut();
        if let Some(line) = lines.iter_mut().find(|line| line.sku == sku) {
            line.quantity = line.quantity.saturating_add(1).min(MAX_QUANTITY);
        } else if lines.try_push(Line { sku, quantity: 1 }).is_err() {
            return Err(unprocessable(
                "the cart holds at most 12 different products",
            ));
        }
        Ok(())
    }

    /// Removes one of `sku`.
    pub fn remove(cart: &mut Session<Cart>, sku: u16) {
        let lines = cart.lines_mut();
        if let Some(at) = lines.iter().position(|line| line.sku == sku) {
            if lines[at].quantity > 1 {
                lines[at].quantity -= 1;
            } else {
                lines.remove(at);
            }
        }
    }

    /// Sets the gift note.
    ///
    /// # Errors
    ///
    /// A note longer than 4000 bytes.
    pub fn note(cart: &mut Session<Cart>, note: String) -> Result<(), Refused> {
        if note.len() > MAX_NOTE {
            return Err(unprocessable("notes are at most 4000 bytes"));
        }
        cart.set_gift_note(note);
        Ok(())
    }

    /// Sets the preferences.
    ///
    /// # Errors
    ///
    /// An unknown theme or currency.
    pub fn set_prefs(
        prefs: &mut Session<Prefs>,
        theme: &str,
        currency: &str,
    ) -> Result<(), Refused> {
        let theme = match theme {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            _ => return Err(unprocessable("unknown theme")),
        };
        let currency = match currency {
            "eur" => Currency::Eur,
            "usd" => Currency::Usd,
            _ => return Err(unprocessable("unknown currency")),
        };
        prefs.set_theme(theme);
        prefs.set_currency(currency);
        Ok(())
    }
}

/// A redirect home, or the refusal.
fn done(result: Result<(), Refused>) -> Response {
    match result {
        Ok(()) => Redirect::to("/").into_response(),
        Err(refused) => (
            StatusCode::from_u16(refused.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            refused.message,
        )
            .into_response(),
    }
}

async fn login(mut cart: Session<Cart>, Form(form): Form<LoginForm>) -> Response {
    done(actions::login(&mut cart, &form.name))
}

async fn logout_others(mut cart: Session<Cart>) -> Response {
    done(actions::logout_others(&mut cart).await)
}

async fn logout(mut cart: Session<Cart>) -> Redirect {
    actions::logout(&mut cart);
    Redirect::to("/")
}

#[derive(Deserialize)]
struct SkuForm {
    sku: u16,
}

async fn add(mut cart: Session<Cart>, Form(form): Form<SkuForm>) -> Response {
    done(actions::add(&mut cart, form.sku))
}

async fn remove(mut cart: Session<Cart>, Form(form): Form<SkuForm>) -> Redirect {
    actions::remove(&mut cart, form.sku);
    Redirect::to("/")
}

#[derive(Deserialize)]
struct NoteForm {
    note: String,
}

async fn note(mut cart: Session<Cart>, Form(form): Form<NoteForm>) -> Response {
    done(actions::note(&mut cart, form.note))
}

#[derive(Deserialize)]
struct PrefsForm {
    theme: String,
    currency: String,
}

async fn set_prefs(mut prefs: Session<Prefs>, Form(form): Form<PrefsForm>) -> Response {
    done(actions::set_prefs(&mut prefs, &form.theme, &form.currency))
}

fn price(cents: u32, currency: Currency) -> String {
    match currency {
        Currency::Eur => format!("€{}.{:02}", cents / 100, cents % 100),
        // a fixed demo rate: 1 EUR = 1.08 USD
        Currency::Usd => {
            let usd = cents * 108 / 100;
            format!("${}.{:02}", usd / 100, usd % 100)
        }
    }
}

/// HTML-escapes user input.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
