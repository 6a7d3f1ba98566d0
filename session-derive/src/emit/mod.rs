//! Code generation: one module per piece of the expansion.

pub(crate) mod accessors;
mod assertions;
mod bound;
mod data;
mod fingerprint;

use crate::ast::Container;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::Path;
use syn::ext::IdentExt as _;

pub(crate) use bound::{max_encoded_len, max_encoded_len_fallback};

/// The expansion of a valid `#[derive(Session)]`.
pub(crate) fn session(cont: &Container<'_>) -> TokenStream {
    let krate = crate_path(cont);
    let access = access_ident(cont);
    let access_type = accessors::access_type(cont, &krate, &access);
    let access_impls = accessors::access_impls(cont, &krate, &access, true);
    let data_impl = data::session_data_impl(cont, &krate, &access);
    let assertions = assertions::field_assertions(cont, &krate);
    let markers = field_markers(cont);
    let length_fns = length_fns(cont);
    quote! {
        #access_type

        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            // the crate path, bound once: every generated path inside starts
            // with `__sk`, and an error about one points where we span it
            use #krate as __sk;
            #markers
            #length_fns
            #data_impl
            #access_impls
            #assertions
        };
    }
}

/// `::session_runtime`, or the `crate = path` override.
pub(crate) fn crate_path(cont: &Container<'_>) -> Path {
    cont.attrs.crate_path()
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

/// The crate alias `__sk` (bound by `use <crate path> as __sk;` in the
/// expansion's block) spanned at `span`, so an error about a path that
/// starts with it is reported there (the field's type, the `previous`
/// type) rather than on the derive.
pub(crate) fn crate_alias(span: proc_macro2::Span) -> TokenStream {
    let alias = Ident::new("__sk", span);
    quote::quote!(#alias)
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
            let krate = crate_alias(syn::spanned::Spanned::span(ty));
            quote::quote_spanned! {syn::spanned::Spanned::span(ty)=>
                #[inline]
                fn #name(value: &#ty) -> usize {
                    <#ty as #krate::__private::LimitedField<#marker>>::field_len(value)
                }
            }
        });
    quote!(#(#fns)*)
}
