//! Compile-time checks on field types that the impls themselves do not
//! require: `Send + 'static`, and a size bound on every field of a
//! `storage = "cookie"` struct.

use super::{marker, respan};
use crate::ast::Container;
use crate::attr::StorageKind;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Path;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) fn field_assertions(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let ident = cont.ident;
    // skipped fields too: the whole struct travels with the request
    let send = cont.fields.iter().map(|field| {
        let ty = field.ty;
        let marker = marker(field);
        let krate = respan(krate, ty.span());
        quote_spanned!(ty.span()=> #ty: #krate::__private::SendField<#marker>,)
    });
    let cookie_only = cont
        .attrs
        .storage
        .as_ref()
        .is_some_and(|s| s.value == StorageKind::Cookie);
    let bounded = cont
        .fields
        .iter()
        .filter(|f| cookie_only && f.stored() && f.attrs.max_len.is_none())
        .map(|field| {
            let ty = field.ty;
            let message = format!(
                "field `{}` has no size bound, but `storage = \"cookie\"` needs one: use `BoundedString<N>`, `BoundedVec<T, N>` or `#[session(max_len = N)]`",
                field.ident.unraw()
            );
            let marker = marker(field);
            let krate = respan(krate, ty.span());
            quote_spanned! {ty.span()=>
                const _: () = ::core::assert!(
                    <#ty as #krate::__private::BoundedField<#marker>>::BOUND.is_some(),
                    #message
                );
            }
        });
    quote! {
        fn __assert_fields_send() where #(#send)* {}

        #(#bounded)*

        // evaluate the storage decision now, so a cookie-only struct that does
        // not fit fails to compile even if it is never used
        const _: #krate::Storage = <#ident as #krate::SessionData>::STORAGE;
    }
}
