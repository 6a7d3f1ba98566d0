//! `#[derive(Session)]` and `#[derive(MaxEncodedLen)]` for
//! [session-runtime](https://docs.rs/session-runtime).
//!
//! Use them through `session_runtime`, which re-exports both; the expansion
//! refers to `::session_runtime` (override with `#[session(crate = path)]`).
//!
//! The pipeline reads top to bottom: `ast` parses syn's tree into our model
//! (with `attr` reading `#[session(..)]`), `check` validates it, `emit`
//! writes the impls, and `fallback` writes stub impls when there were errors
//! so that one mistake gives one error. `dummy` wraps either in one
//! anonymous const that binds the crate as `__sk`: the expansion names
//! nothing but `__sk::__private::..`. Errors are collected in `ctxt`, so a
//! build reports every bad attribute at once.

mod ast;
mod attr;
mod check;
mod ctxt;
mod dummy;
mod emit;
mod fallback;
mod symbol;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `session_runtime::SessionData` and the `{Name}Access` accessor
/// type for a struct with named fields.
///
/// For `struct Cart { items: BoundedVec<Item, 16>, .. }` it generates, next
/// to the struct, `CartAccess` (what `Session<Cart>` derefs to) with, per
/// field, `items()`, `set_items(v)`, `items_mut()` and `take_items()`, plus
/// `update(|cart| ..)`; each write marks its field changed. It also computes
/// the consts `MAX_ENCODED_LEN`, `FINGERPRINT` and `STORAGE` at compile time.
///
/// Every stored field must be `Serialize + DeserializeOwned + Send +
/// 'static` and implement `MaxEncodedLen`; a field that is not gets an error
/// on its type naming the field and what it lacks. The struct must implement
/// `Default` and have no generic parameters.
///
/// | attribute | on | meaning |
/// | --- | --- | --- |
/// | `cookie = "name"` | struct | cookie name (default: snake_case type name); no `__Host-` prefix here |
/// | `storage = "auto"` | struct | cookie when the bound fits 4096 bytes sealed, else adaptive (default) |
/// | `storage = "cookie"` | struct | always a cookie; a compile error stating bound and budget if it cannot fit |
/// | `storage = "server"` | struct | always server-side (revocable) |
/// | `crate = path` | struct | path to `session_runtime` when it is re-exported |
/// | `previous = Old` | struct | sessions sealed in `Old`'s shape (or any before it) open, converted with `From<Old>`; same cookie name |
/// | `next = New` | struct | sessions the next release seals in `New`'s shape open, converted down with `From<New>`, and are written back only when a handler changes them (a rolling deploy's first step); same cookie name |
/// | `quick` | field | cache tier only; not allowed with `storage = "cookie"` |
/// | `skip` | field | not stored; default on every request (must still be `Send`) |
/// | `user` | field | the session's user (an `Option` of a user id): indexes it for "log out everywhere" and user revocation |
/// | `max_len = N` | field | limit for a `String`, `Vec`, set or map: setter refuses, save checks; bounds the field only when its items (keys, values) are bounded |
///
/// Unknown, duplicate and malformed attributes are errors, all reported in
/// one build.
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    session(&input).into()
}

fn session(input: &DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::default();
    let cont = ast::Container::from_ast(&cx, input);
    if let Some(cont) = &cont {
        check::check(&cx, cont);
    }
    finish(cx, cont.as_ref(), emit::session, fallback::session)
}

/// Derives `session_runtime::MaxEncodedLen` for a struct or enum: the sum of
/// its fields' bounds (the largest variant plus a tag for enums). Type
/// parameters get a `MaxEncodedLen` bound. The bound assumes serde's default
/// representation: `#[serde(with = ..)]` or custom impls can break it.
/// `#[session(crate = path)]` is accepted here too.
#[proc_macro_derive(MaxEncodedLen, attributes(session))]
pub fn derive_max_encoded_len(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    max_encoded_len(&input).into()
}

fn max_encoded_len(input: &DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::default();
    let shape = ast::Shape::from_ast(&cx, input);
    if let Some(shape) = &shape {
        check::check_shape(&cx, shape);
    }
    finish(
        cx,
        shape.as_ref(),
        emit::max_encoded_len,
        fallback::max_encoded_len,
    )
}

/// The end of both pipelines (parse -> check -> here): the expansion, or
/// every error collected plus the fallback impls, so other uses of the
/// type do not fail a second time; either wrapped by `dummy`.
fn finish<M: ast::Model>(
    cx: ctxt::Ctxt,
    model: Option<&M>,
    expand: impl FnOnce(&M) -> dummy::Expansion,
    fallback: impl FnOnce(&M) -> dummy::Expansion,
) -> proc_macro2::TokenStream {
    let wrap =
        |model: &M, expansion| dummy::wrap_in_const(model.attrs().crate_override(), expansion);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => wrap(model, expand(model)),
        (Err(errors), Some(model)) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(wrap(model, fallback(model)));
            tokens
        }
        (Err(errors), None) => errors.to_compile_error(),
        (Ok(()), None) => proc_macro2::TokenStream::new(),
    }
}

#[cfg(test)]
mod tests;
