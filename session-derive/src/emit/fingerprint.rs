//! The schema fingerprint, as a const expression: each stored field's name,
//! flags and the `SHAPE` of its type (which covers nested types all the
//! way down). Changing any of them changes the fingerprint, and sessions
//! written before the change open through `#[session(previous = ..)]` or
//! become "no session", never mis-decoded values.

use super::marker;
use crate::ast::Container;
use crate::dummy::{private, private_at};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) fn fingerprint(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let steps = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let ty = field.ty;
        let name = field.ident.unraw().to_string();
        let marker = marker(field);
        let spanned = private_at(ty.span());
        let shape = quote_spanned! {ty.span()=>
            <#ty as #spanned::BoundedField<#marker>>::SHAPE
        };
        let quick = field
            .quick()
            .then(|| quote!(let __shape = #private::shape::then_name(__shape, "#quick");));
        let max_len = field.attrs.max_len.as_ref().map(|max_len| {
            let n = max_len.value as u64;
            quote! {
                let __shape = #private::shape::then_number(
                    #private::shape::then_name(__shape, "#max_len"),
                    #n,
                );
            }
        });
        quote! {
            let __shape = #private::shape::then_name(__shape, #name);
            let __shape = #private::shape::then(__shape, #shape);
            #quick
            #max_len
        }
    });
    quote! {{
        let __shape = #private::shape::named("sessionkit session v2");
        #(#steps)*
        __shape
    }}
}
