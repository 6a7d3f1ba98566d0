//! Compile-time checks on field types that the impls themselves do not
//! require: `Send + 'static`, and a size bound on every field of a
//! `storage = "cookie"` struct.

use super::marker;
use crate::ast::Container;
use crate::attr::StorageKind;
use crate::dummy::{private, private_at};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

/// The span of a type's last token (`>` of `Vec<String>`).
fn last_span(ty: &syn::Type) -> proc_macro2::Span {
    quote::ToTokens::to_token_stream(ty)
        .into_iter()
        .last()
        .map_or_else(|| ty.span(), |token| token.span())
}

pub(crate) fn field_assertions(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let ident = cont.ident;
    // skipped fields too: the whole struct travels with the request
    let send = cont.fields.iter().map(|field| {
        let ty = field.ty;
        let marker = marker(field);
        let spanned = private_at(ty.span());
        quote_spanned!(ty.span()=> #ty: #spanned::SendField<#marker>,)
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
            let spanned = private_at(ty.span());
            quote_spanned! {ty.span()=>
                const _: () = #spanned::core::assert!(
                    <#ty as #spanned::BoundedField<#marker>>::BOUND.is_some(),
                    #message
                );
            }
        });
    // a `max_len` bounds how many items, so the field is bounded only when
    // its items (a map's keys and values) are: the trait bound names the
    // item type that is not. The conditions are consts of their own, read
    // like `__FIELD_BOUNDS` reads `ITEM_LEN`, so a type without a length
    // is not reported again from inside the bound.
    let items = cont
        .fields
        .iter()
        .filter(|f| cookie_only && f.stored() && f.attrs.max_len.is_some())
        .map(|field| {
            let ty = field.ty;
            let marker = marker(field);
            let spanned = private_at(ty.span());
            let name = field.ident.unraw();
            let limited = quote_spanned!(ty.span()=> <#ty as #spanned::LimitedField<#marker>>);
            // each bound's last token carries the span of the type's last
            // token, so the error underlines the whole type
            let close = quote_spanned!(last_span(ty)=> >);
            let checks = [
                (quote!(ITEMS_BOUNDED), quote!(Item), quote!(ItemBound)),
                (quote!(VALUES_BOUNDED), quote!(Value), quote!(ValueBound)),
            ];
            let checks = checks.into_iter().map(|(condition, item, check)| {
                let holds = format_ident!("__{}_{}", condition.to_string(), name);
                quote_spanned! {ty.span()=>
                    const #holds: bool = #limited::#condition;
                    const _: () = {
                        fn __assert() where
                            #spanned::Holds<{ #holds }>:
                                #spanned::#check<#marker, #limited::#item #close,
                        {}
                    };
                }
            });
            quote!(#(#checks)*)
        });
    let quick_in_cookie = quick_in_resolved_cookie(cont);
    let previous = previous_checks(cont);
    let next = next_checks(cont);
    quote! {
        fn __assert_fields_send() where #(#send)* {}

        #(#bounded)*
        #(#items)*
        #quick_in_cookie
        #previous
        #next

        // evaluate the storage decision now, so a cookie-only struct that does
        // not fit fails to compile even if it is never used; and check that
        // the layer constructors' bounds (`Tier`) say the same as `STORAGE`
        const _: () = #private::core::assert!(
            #private::tier_agrees::<<#ident as #private::SessionData>::Tier>(
                <#ident as #private::SessionData>::STORAGE,
            ),
            "sessionkit bug: `Tier` and `STORAGE` disagree",
        );
    }
}

/// A `quick` field in a struct the compiler put in a cookie (its bound
/// fits): the field would silently live in the cookie. An explicit
/// `storage = "cookie"` is refused earlier, by `check`.
fn quick_in_resolved_cookie(cont: &Container<'_>) -> TokenStream {
    if cont
        .attrs
        .storage
        .as_ref()
        .is_some_and(|s| s.value == StorageKind::Cookie)
    {
        return TokenStream::new();
    }
    let ident = cont.ident;
    let checks = cont.fields.iter().filter_map(|field| {
        let quick = field.attrs.quick.as_ref()?;
        let message = format!(
            "field `{}` is `#[session(quick)]`, but `{}` fits a cookie, so it has no cache tier: add `#[session(storage = \"server\")]`, or remove `quick`",
            field.ident.unraw(),
            ident.unraw()
        );
        let spanned = private_at(quick.span);
        Some(quote_spanned! {quick.span=>
            const _: () = #spanned::core::assert!(
                !#spanned::core::matches!(<#ident as #spanned::SessionData>::STORAGE, #spanned::Storage::Cookie),
                #message
            );
        })
    });
    quote!(#(#checks)*)
}

/// `next = New`: not the same shape as this one (or as `previous`), the
/// same cookie (a session of another cookie never reaches this layer), and
/// not a shape that may live server-side when this one is cookie-only.
fn next_checks(cont: &Container<'_>) -> TokenStream {
    let Some(next) = &cont.attrs.next else {
        return TokenStream::new();
    };
    let ident = cont.ident;
    let name = ident.unraw();
    let new = &next.value;
    let new_name = quote!(#new).to_string().replace(' ', "");
    let same = format!(
        "`next = {new_name}` has the same shape as `{name}`: there is nothing to read ahead; remove `next`, or copy the struct the next release writes"
    );
    let cookie = format!(
        "`next = {new_name}` has another cookie name than `{name}`: its sessions belong to another cookie and never reach this layer; give both the same `#[session(cookie = ..)]`"
    );
    let storage = format!(
        "`{name}` lives in a cookie, but sessions of `next = {new_name}` may live server-side: a cookie-only layer has no store to read them from; keep `{name}` server-side (`storage = \"server\"`) before the next release moves sessions there"
    );
    let spanned = private_at(new.span());
    let not_previous = cont.attrs.previous.as_ref().map(|previous| {
        let old = &previous.value;
        let old_name = quote!(#old).to_string().replace(' ', "");
        let message = format!(
            "`next = {new_name}` has the same shape as `previous = {old_name}`: a shape is either the one before this or the one after"
        );
        quote_spanned! {new.span()=>
            const _: () = #spanned::core::assert!(
                <#new as #spanned::NextShape>::FINGERPRINT
                    != <#old as #spanned::PreviousShape>::FINGERPRINT,
                #message
            );
        }
    });
    quote_spanned! {new.span()=>
        const _: () = #spanned::core::assert!(
            <#new as #spanned::NextShape>::FINGERPRINT
                != <#ident as #spanned::SessionData>::FINGERPRINT,
            #same
        );
        const _: () = #spanned::core::assert!(
            #spanned::same_str(
                <#new as #spanned::NextShape>::COOKIE_NAME,
                <#ident as #spanned::SessionData>::COOKIE_NAME,
            ),
            #cookie
        );
        const _: () = #spanned::core::assert!(
            !#spanned::core::matches!(<#ident as #spanned::SessionData>::STORAGE, #spanned::Storage::Cookie)
                || #spanned::core::matches!(
                    <#new as #spanned::NextShape>::STORAGE,
                    #spanned::Storage::Cookie
                ),
            #storage
        );
        #not_previous
    }
}

/// `previous = Old`: not the same shape (a no-op migration), the same
/// cookie (another cookie's sessions never reach this layer), and not a
/// shape that may live server-side when this one is cookie-only (its layer
/// has no store to find those sessions in). The chain length is evaluated
/// so a cycle of `previous` fails to compile.
fn previous_checks(cont: &Container<'_>) -> TokenStream {
    let Some(previous) = &cont.attrs.previous else {
        return TokenStream::new();
    };
    let ident = cont.ident;
    let old = &previous.value;
    let old_name = quote!(#old).to_string().replace(' ', "");
    let same = format!(
        "`previous = {old_name}` has the same shape as `{}`: the migration would do nothing; remove `previous`, or keep the old struct as it was",
        ident.unraw()
    );
    let cookie = format!(
        "`previous = {old_name}` has another cookie name than `{}`: its sessions belong to another cookie and never reach this layer; give both the same `#[session(cookie = ..)]`",
        ident.unraw()
    );
    let storage = format!(
        "`{}` lives in a cookie, but sessions of `previous = {old_name}` may live server-side: a cookie-only layer has no store to read them from; keep `{}` server-side (`storage = \"server\"`) while such sessions can exist",
        ident.unraw(),
        ident.unraw()
    );
    let spanned = private_at(old.span());
    quote_spanned! {old.span()=>
        const _: () = #spanned::core::assert!(
            <#old as #spanned::PreviousShape>::FINGERPRINT
                != <#ident as #spanned::SessionData>::FINGERPRINT,
            #same
        );
        const _: () = #spanned::core::assert!(
            #spanned::same_str(
                <#old as #spanned::PreviousShape>::COOKIE_NAME,
                <#ident as #spanned::SessionData>::COOKIE_NAME,
            ),
            #cookie
        );
        const _: () = #spanned::core::assert!(
            !#spanned::core::matches!(<#ident as #spanned::SessionData>::STORAGE, #spanned::Storage::Cookie)
                || #spanned::core::matches!(
                    <#old as #spanned::PreviousShape>::STORAGE,
                    #spanned::Storage::Cookie
                ),
            #storage
        );
        const _: usize = <#ident as #spanned::SessionData>::VERSIONS;
    }
}
