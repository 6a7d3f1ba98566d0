//! `#[derive(Session)]` and `#[derive(MaxEncodedLen)]` for
//! [session-runtime](https://docs.rs/session-runtime).
//!
//! Use them through `session_runtime`, which re-exports both; the expansion
//! refers to `::session_runtime` (override with `#[session(crate = path)]`).
//!
//! The pipeline reads top to bottom: `ast` parses syn's tree into our model
//! (with `attr` reading `#[session(..)]`), `check` validates it, `emit`
//! writes the impls, and `fallback` writes stub impls when there were errors
//! so that one mistake gives one error. Errors are collected in `ctxt`, so a
//! build reports every bad attribute at once.

mod ast;
mod attr;
mod check;
mod ctxt;
mod emit;
mod fallback;
mod symbol;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `session_runtime::SessionData` and the `{Name}Access` accessor
/// type for a struct with named fields. See the `session_runtime` docs.
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    emit::session(&input).into()
}

/// Derives `session_runtime::MaxEncodedLen` for a struct or enum: the sum of
/// its fields' bounds (the largest variant plus a tag for enums).
#[proc_macro_derive(MaxEncodedLen, attributes(session))]
pub fn derive_max_encoded_len(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    emit::max_encoded_len(&input).into()
}
