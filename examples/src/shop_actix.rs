//! The same shop on actix-web: the same session types, layers, store and
//! actions as [`crate::shop`], wired to actix-web's request types.

use crate::shop::{self, Cart, Prefs, Refused, actions};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use session_runtime::actix::SessionMiddleware;
use session_runtime::{ConfigError, KeyRing, RevocationTimes, Session};

/// Registers the shop's routes and session middleware on an actix-web
/// service config: `App::new().configure(shop_actix::configure(..)?)`.
///
/// # Errors
///
/// [`ConfigError`] when the cookie settings are refused.
pub fn scope(
    keys: impl Into<KeyRing>,
    secure: bool,
    store: impl RevocationTimes,
) -> Result<
    actix_web::Scope<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    ConfigError,
> {
    let (cart, prefs) = shop::layers(keys, secure, store)?;
    Ok(web::scope("")
        .wrap(SessionMiddleware::new(cart))
        .wrap(SessionMiddleware::new(prefs))
        .route("/", web::get().to(home))
        .route("/about", web::get().to(about))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/logout-others", web::post().to(logout_others))
        .route("/cart/add", web::post().to(add))
        .route("/cart/remove", web::post().to(remove))
        .route("/cart/note", web::post().to(note))
        .route("/prefs", web::post().to(set_prefs)))
}

async fn about() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(shop::ABOUT)
}

async fn home(cart: Session<Cart>, prefs: Session<Prefs>) -> HttpResponse {
    // actix-web's `Option<T>` extractor would hide a store outage: ask
    // whether the request carried a session instead
    let cart = (!cart.is_new()).then_some(&cart);
    let prefs = (!prefs.is_new()).then_some(&prefs);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(shop::page(cart, prefs))
}

fn done(result: Result<(), Refused>) -> HttpResponse {
    match result {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header(("location", "/"))
            .finish(),
        Err(refused) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(refused.status)
                .unwrap_or(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY),
        )
        .body(refused.message),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
}

async fn login(mut cart: Session<Cart>, form: web::Form<LoginForm>) -> HttpResponse {
    done(actions::login(&mut cart, &form.name))
}

async fn logout_others(mut cart: Session<Cart>) -> HttpResponse {
    done(actions::logout_others(&mut cart).await)
}

async fn logout(mut cart: Session<Cart>) -> HttpResponse {
    actions::logout(&mut cart);
    done(Ok(()))
}

#[derive(Deserialize)]
struct SkuForm {
    sku: u16,
}

async fn add(mut cart: Session<Cart>, form: web::Form<SkuForm>) -> HttpResponse {
    done(actions::add(&mut cart, form.sku))
}

async fn remove(mut cart: Session<Cart>, form: web::Form<SkuForm>) -> HttpResponse {
    actions::remove(&mut cart, form.sku);
    done(Ok(()))
}

#[derive(Deserialize)]
struct NoteForm {
    note: String,
}

async fn note(mut cart: Session<Cart>, form: web::Form<NoteForm>) -> HttpResponse {
    done(actions::note(&mut cart, form.into_inner().note))
}

#[derive(Deserialize)]
struct PrefsForm {
    theme: String,
    currency: String,
}

async fn set_prefs(mut prefs: Session<Prefs>, form: web::Form<PrefsForm>) -> HttpResponse {
    done(actions::set_prefs(&mut prefs, &form.theme, &form.currency))
}
