//! `impl SessionData`: the compile-time description and field-wise
//! encode/decode.

use super::{bound, fingerprint, length_fn, marker};
use crate::ast::{Container, Field};
use crate::attr::StorageKind;
use crate::dummy::{private, private_at};
use heck::ToSnakeCase as _;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) fn session_data_impl(cont: &Container<'_>, access: &Ident) -> TokenStream {
    let private = private();
    let ident = cont.ident;
    let cookie_name = cont.attrs.cookie.as_ref().map_or_else(
        || ident.unraw().to_string().to_snake_case(),
        |c| c.value.clone(),
    );
    let fields_info = cont.fields.iter().map(|field| {
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let skip = !field.stored();
        quote!(#private::field_info(#name, #quick, #skip))
    });
    let fingerprint = fingerprint::fingerprint(cont);
    let chain = chain_items(cont);
    let bounds = bound::session_bounds(cont);
    let decision = storage_decision(cont, &cookie_name);
    let storage = storage_const(cont);
    let encode = encode_fn(cont);
    // spanned on the struct: a missing `Default` is one error, there
    let spanned = private_at(ident.span());
    let default_session = quote_spanned! {ident.span()=>
        #[inline]
        fn default_session() -> Self {
            <Self as #spanned::core::default::Default>::default()
        }
    };
    let decode = decode_fn(cont);
    // spanned on the field: a type that is not `Option<id>` errors there
    let user = cont.fields.iter().find(|field| field.user()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        let spanned = private_at(ty.span());
        quote_spanned! {ty.span()=>
            const HAS_USER: bool = true;

            fn user_key(&self) -> #spanned::Option<#spanned::String> {
                #spanned::UserField::user_key(&self.#member)
            }
        }
    });
    // what `SessionLayer::with_user_revocation` requires, by trait bound
    let has_user = cont.fields.iter().any(|field| field.user()).then(|| {
        quote! {
            #[automatically_derived]
            impl #private::HasUserField for #ident {}
        }
    });
    let take_fields = cont
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.stored())
        .map(|(index, field)| {
            let member = field.ident;
            quote! {
                if fields.contains(#index) {
                    #private::core::mem::swap(&mut self.#member, &mut from.#member);
                }
            }
        });
    quote! {
        #bounds
        #decision

        #[automatically_derived]
        impl #private::SessionData for #ident {
            type Access = #access;
            const COOKIE_NAME: &'static str = #cookie_name;
            const FIELDS: &'static [#private::FieldInfo] = &[#(#fields_info),*];
            const FINGERPRINT: u64 = #fingerprint;
            const MAX_ENCODED_LEN: #private::Option<usize> = __MAX_ENCODED_LEN;
            const STORAGE: #private::Storage = #storage;
            // the same decision as a type, for the layer constructors'
            // bounds; computed from the consts beside the impl, not from
            // `Self`, which an anonymous const cannot name (and which
            // would be a cycle)
            type Tier = <#private::TierOf<{
                #private::tier_code(__STORAGE)
            }> as #private::TierCode>::Tier;

            #default_session

            #encode
            #decode

            fn take_fields(&mut self, from: &mut Self, fields: &#private::FieldSet) {
                let _ = (&from, fields);
                #(#take_fields)*
            }

            #chain
            #user
        }

        #has_user
    }
}

/// With `previous = Old` and/or `next = New`: the chain length (a cycle
/// of `previous` is a compile error there), `NEXT_FINGERPRINT`, and
/// `open_shape`, which decodes a body of this type's own shape, of `New`'s
/// own shape (converted down with `From<New>`), or of `Old`'s (or any
/// shape before it, converted up with `From<Old>`).
fn chain_items(cont: &Container<'_>) -> TokenStream {
    let (previous, next) = (&cont.attrs.previous, &cont.attrs.next);
    if previous.is_none() && next.is_none() {
        return TokenStream::new();
    }
    let private = private();
    let versions = previous.as_ref().map(|previous| {
        let old = &previous.value;
        let spanned = private_at(old.span());
        quote_spanned! {old.span()=>
            const VERSIONS: usize = <#old as #spanned::PreviousShape>::VERSIONS + 1;
        }
    });
    let (next_fingerprint, open_next) = next
        .as_ref()
        .map(|next| {
            let new = &next.value;
            let spanned = private_at(new.span());
            let shape = quote_spanned! {new.span()=> <#new as #spanned::NextShape> };
            let downgrade = quote_spanned! {new.span()=>
                <Self as #spanned::DowngradeFrom<#new>>::downgrade_from
            };
            (
                quote! {
                    const NEXT_FINGERPRINT: #private::Option<u64> =
                        #private::Some(#shape::FINGERPRINT);
                },
                quote! {
                    match #shape::open_own_shape::<__C>(shape, part, body, quick) {
                        #private::Some(#private::Ok(__new)) => {
                            return #private::Some(#private::Ok(#downgrade(__new)));
                        }
                        #private::Some(#private::Err(__error)) => {
                            return #private::Some(#private::Err(__error));
                        }
                        #private::None => {}
                    }
                },
            )
        })
        .unzip();
    let open_previous = match previous {
        Some(previous) => {
            let old = &previous.value;
            let spanned = private_at(old.span());
            let prev_shape = quote_spanned! {old.span()=>
                <#old as #spanned::PreviousShape>
            };
            let migrate = quote_spanned! {old.span()=>
                <Self as #spanned::MigrateFrom<#old>>::migrate_from
            };
            quote! {
                match #prev_shape::open_shape::<__C>(shape, part, body, quick) {
                    #private::Some(#private::Ok(__old)) => #private::Some(#private::Ok(#migrate(__old))),
                    #private::Some(#private::Err(__error)) => #private::Some(#private::Err(__error)),
                    #private::None => #private::None,
                }
            }
        }
        None => quote!(#private::None),
    };
    quote! {
        #versions
        #next_fingerprint

        fn open_shape<__C: #private::Codec>(
            shape: u32,
            part: #private::Part,
            body: &[u8],
            quick: #private::Option<&[u8]>,
        ) -> #private::Option<#private::Result<Self, #private::CodecError>> {
            if let #private::Some(__own) = #private::open_own_shape::<Self, __C>(shape, part, body, quick) {
                return #private::Some(__own);
            }
            #open_next
            #open_previous
        }
    }
}

/// `__STORAGE`: the table on `Storage` applied to the fields' bound, the
/// cookie name and the `storage` attribute, as a const next to the impl
/// (`STORAGE` and `Tier` are both read from it, so they cannot disagree).
fn storage_decision(cont: &Container<'_>, cookie_name: &str) -> TokenStream {
    let private = private();
    let request = match cont.attrs.storage.as_ref().map(|s| s.value) {
        None | Some(StorageKind::Auto) => quote!(Auto),
        Some(StorageKind::Cookie) => quote!(Cookie),
        Some(StorageKind::Server) => quote!(Server),
    };
    quote! {
        const __STORAGE: #private::Result<#private::Storage, #private::StorageError> =
            #private::decide_storage(
                __MAX_ENCODED_LEN,
                #cookie_name.len(),
                #private::StorageRequest::#request,
            );
    }
}

/// `STORAGE`: the decision; a `storage = "cookie"` struct over the budget
/// panics at compile time with the bound and the budget.
fn storage_const(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let span = cont
        .attrs
        .storage
        .as_ref()
        .map_or_else(proc_macro2::Span::call_site, |s| s.span);
    let spanned = private_at(span);
    let panic = quote_spanned! {span=>
        match #spanned::core::str::from_utf8(__message.split_at(__len).0) {
            #spanned::Ok(__text) => #spanned::core::panic!("{}", __text),
            #spanned::Err(_) => #spanned::core::panic!("session does not fit a cookie"),
        }
    };
    quote! {
        match __STORAGE {
            #private::Ok(__storage) => __storage,
            // a field without a bound of its own (`String`, or a `max_len`
            // on unbounded items) is reported on the field itself
            #private::Err(__error) if __error.bound.is_none() && !__FIELDS_BOUNDED => {
                #private::Storage::Cookie
            }
            #private::Err(__error) => {
                let (__message, __len) = __error.message();
                #panic
            }
        }
    }
}

/// The encode- and decode-time check of a `max_len` field on `value`.
fn max_len_check(field: &Field<'_>, value: &TokenStream) -> Option<TokenStream> {
    let private = private();
    let max_len = field.attrs.max_len.as_ref()?.value;
    let length = length_fn(field);
    let name = field.ident.unraw().to_string();
    Some(quote!(#private::ensure_len(#length(#value), #max_len, #name)?;))
}

fn encode_fn(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let steps = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let marker = marker(field);
        let check = max_len_check(field, &quote!(&self.#member));
        let spanned = private_at(ty.span());
        let encode = quote_spanned! {ty.span()=>
            <#ty as #spanned::SerializeField<#marker>>::encode_field::<__C>(&self.#member, #name, out)?;
        };
        quote! {
            if part.includes(#quick) {
                #check
                #encode
            }
        }
    });
    quote! {
        fn encode<__C: #private::Codec>(
            &self,
            part: #private::Part,
            out: &mut #private::Vec<u8>,
        ) -> #private::Result<(), #private::CodecError> {
            let _ = (&part, &out);
            #(#steps)*
            #private::Ok(())
        }
    }
}

fn decode_fn(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let steps = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let marker = marker(field);
        let check = max_len_check(field, &quote!(&__value));
        let spanned = private_at(ty.span());
        let decode = quote_spanned! {ty.span()=>
            <#ty as #spanned::DeserializeField<#marker>>::decode_field::<__C>(#name, &input[__at..])?
        };
        quote! {
            if part.includes(#quick) {
                let (__value, __read) = #decode;
                #check
                self.#member = __value;
                __at += __read;
            }
        }
    });
    quote! {
        fn decode<__C: #private::Codec>(
            &mut self,
            part: #private::Part,
            input: &[u8],
        ) -> #private::Result<(), #private::CodecError> {
            let _ = &part;
            let mut __at = 0usize;
            #(#steps)*
            if __at != input.len() {
                return #private::Err(#private::CodecError::TrailingBytes(input.len() - __at));
            }
            #private::Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use heck::ToSnakeCase as _;

    #[test]
    fn default_cookie_names() {
        assert_eq!("Cart".to_snake_case(), "cart");
        assert_eq!("UserPrefs".to_snake_case(), "user_prefs");
        assert_eq!("HTTPState".to_snake_case(), "http_state");
        assert_eq!("V2Session".to_snake_case(), "v2_session");
    }
}
