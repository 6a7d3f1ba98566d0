//! Code generation: one module per piece of the expansion. Everything here
//! runs inside `dummy`'s wrapper and names the runtime as `private()`
//! (`__sk::__private`), spanned with `private_at` where an error should
//! point at the user's tokens.

pub(crate) mod accessors;
mod assertions;
mod bound;
mod data;
mod fingerprint;

use crate::ast::Container;
use crate::dummy::{Expansion, private_at};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) use bound::{impl_max_encoded_len, max_encoded_len};

/// The expansion of a valid `#[derive(Session)]`.
pub(crate) fn session(cont: &Container<'_>) -> Expansion {
    let access = access_ident(cont);
    let access_type = accessors::access_type(cont, &access);
    let access_impls = accessors::access_impls(cont, &access, true);
    let data_impl = data::session_data_impl(cont, &access);
    let assertions = assertions::field_assertions(cont);
    let markers = field_markers(cont);
    let length_fns = length_fns(cont);
    Expansion {
        public: access_type,
        private: quote! {
            #markers
            #length_fns
            #data_impl
            #access_impls
            #assertions
        },
    }
}

/// `CartAccess` for `struct Cart`.
pub(crate) fn access_ident(cont: &Container<'_>) -> Ident {
    format_ident!("{}Access", cont.ident.unraw())
}

/// One zero-sized type per field, named like it, so a trait error can name
/// the field (`{Field}` in `#[diagnostic::on_unimplemented]`).
pub(crate) fn field_markers(cont: &Container<'_>) -> TokenStream {
    let names = cont.fields.iter().map(|field| field.ident);
    quote! {
        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
        mod __field {
            #(pub struct #names;)*
        }
    }
}

/// The marker type of a field.
pub(crate) fn marker(field: &crate::ast::Field<'_>) -> TokenStream {
    let name = field.ident;
    quote!(__field::#name)
}

/// The generated function that measures a `max_len` field: the one place
/// that needs `LimitedField`, so a wrong type is reported once per body.
pub(crate) fn length_fn(field: &crate::ast::Field<'_>) -> Ident {
    format_ident!("__length_of_{}", field.ident.unraw())
}

/// `fn __length_of_x(value: &T) -> usize` for each `max_len` field.
pub(crate) fn length_fns(cont: &Container<'_>) -> TokenStream {
    let fns = cont
        .fields
        .iter()
        .filter(|f| f.attrs.max_len.is_some())
        .map(|field| {
            let ty = field.ty;
            let name = length_fn(field);
            let marker = marker(field);
            let private = private_at(ty.span());
            quote_spanned! {ty.span()=>
                #[inline]
                fn #name(value: &#ty) -> usize {
                    <#ty as #private::LimitedField<#marker>>::field_len(value)
                }
            }
        });
    quote!(#(#fns)*)
}
