//! `impl SessionData`: the compile-time description and field-wise
//! encode/decode.

use super::{bound, crate_alias, fingerprint, length_fn, marker};
use crate::ast::{Container, Field};
use crate::attr::StorageKind;
use heck::ToSnakeCase as _;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::Path;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) fn session_data_impl(cont: &Container<'_>, krate: &Path, access: &Ident) -> TokenStream {
    let ident = cont.ident;
    let cookie_name = cont.attrs.cookie.as_ref().map_or_else(
        || ident.unraw().to_string().to_snake_case(),
        |c| c.value.clone(),
    );
    let fields_info = cont.fields.iter().map(|field| {
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let skip = !field.stored();
        quote!(#krate::FieldInfo::new(#name, #quick, #skip))
    });
    let fingerprint = fingerprint::fingerprint(cont, krate);
    let previous = previous_items(cont, krate);
    let bounds = bound::session_bounds(cont, krate);
    let decision = storage_decision(cont, krate, &cookie_name);
    let storage = storage_const(cont, krate);
    let encode = encode_fn(cont, krate);
    // spanned on the struct: a missing `Default` is one error, there
    let default_session = quote_spanned! {ident.span()=>
        #[inline]
        fn default_session() -> Self {
            <Self as ::core::default::Default>::default()
        }
    };
    let decode = decode_fn(cont, krate);
    // spanned on the field: a type that is not `Option<id>` errors there
    let user = cont.fields.iter().find(|field| field.user()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        quote_spanned! {ty.span()=>
            const HAS_USER: bool = true;

            fn user_key(&self) -> ::core::option::Option<::std::string::String> {
                #krate::UserField::user_key(&self.#member)
            }
        }
    });
    // what `SessionLayer::with_user_revocation` requires, by trait bound
    let has_user = cont.fields.iter().any(|field| field.user()).then(|| {
        quote! {
            #[automatically_derived]
            impl #krate::user::HasUserField for #ident {}
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
                    ::core::mem::swap(&mut self.#member, &mut from.#member);
                }
            }
        });
    quote! {
        #bounds
        #decision

        #[automatically_derived]
        impl #krate::SessionData for #ident {
            type Access = #access;
            const COOKIE_NAME: &'static str = #cookie_name;
            const FIELDS: &'static [#krate::FieldInfo] = &[#(#fields_info),*];
            const FINGERPRINT: u64 = #fingerprint;
            const MAX_ENCODED_LEN: ::core::option::Option<usize> = __MAX_ENCODED_LEN;
            const STORAGE: #krate::Storage = #storage;
            // the same decision as a type, for the layer constructors'
            // bounds; computed from the consts beside the impl, not from
            // `Self`, which an anonymous const cannot name (and which
            // would be a cycle)
            type Tier = <#krate::__private::TierOf<{
                #krate::__private::tier_code(__STORAGE)
            }> as #krate::__private::TierCode>::Tier;

            #default_session

            #encode
            #decode

            fn take_fields(&mut self, from: &mut Self, fields: &#krate::FieldSet) {
                let _ = (&from, fields);
                #(#take_fields)*
            }

            #previous
            #user
        }

        #has_user
    }
}

/// With `previous = Old`: the chain length (a cycle is a compile error
/// there) and `open_shape`, which decodes a body of `Old`'s shape (or of
/// any shape before it) and converts it with `From`.
fn previous_items(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let Some(previous) = &cont.attrs.previous else {
        return TokenStream::new();
    };
    let old = &previous.value;
    let spanned = crate_alias(old.span());
    let prev_shape = quote_spanned! {old.span()=>
        <#old as #spanned::__private::PreviousShape>
    };
    let migrate = quote_spanned! {old.span()=>
        <Self as #spanned::__private::MigrateFrom<#old>>::migrate_from
    };
    quote! {
        const VERSIONS: usize = #prev_shape::VERSIONS + 1;

        fn open_shape<__C: #krate::Codec>(
            shape: u32,
            part: #krate::Part,
            body: &[u8],
        ) -> ::core::option::Option<::core::result::Result<Self, #krate::CodecError>> {
            if shape == #krate::seal::envelope::shape_tag(<Self as #krate::SessionData>::FINGERPRINT) {
                let mut __data = <Self as #krate::SessionData>::default_session();
                return ::core::option::Option::Some(
                    #krate::SessionData::decode::<__C>(&mut __data, part, body).map(|()| __data),
                );
            }
            match #prev_shape::open_shape::<__C>(shape, part, body) {
                ::core::option::Option::Some(::core::result::Result::Ok(__old)) => {
                    ::core::option::Option::Some(::core::result::Result::Ok(#migrate(__old)))
                }
                ::core::option::Option::Some(::core::result::Result::Err(__error)) => {
                    ::core::option::Option::Some(::core::result::Result::Err(__error))
                }
                ::core::option::Option::None => ::core::option::Option::None,
            }
        }
    }
}

/// `__STORAGE`: the table on `Storage` applied to the fields' bound, the
/// cookie name and the `storage` attribute, as a const next to the impl
/// (`STORAGE` and `Tier` are both read from it, so they cannot disagree).
fn storage_decision(cont: &Container<'_>, krate: &Path, cookie_name: &str) -> TokenStream {
    let request = match cont.attrs.storage.as_ref().map(|s| s.value) {
        None | Some(StorageKind::Auto) => quote!(Auto),
        Some(StorageKind::Cookie) => quote!(Cookie),
        Some(StorageKind::Server) => quote!(Server),
    };
    quote! {
        const __STORAGE: ::core::result::Result<#krate::Storage, #krate::__private::StorageError> =
            #krate::__private::decide_storage(
                __MAX_ENCODED_LEN,
                #cookie_name.len(),
                #krate::__private::StorageRequest::#request,
            );
    }
}

/// `STORAGE`: the decision; a `storage = "cookie"` struct over the budget
/// panics at compile time with the bound and the budget.
fn storage_const(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let span = cont
        .attrs
        .storage
        .as_ref()
        .map_or_else(proc_macro2::Span::call_site, |s| s.span);
    let panic = quote_spanned! {span=>
        match ::core::str::from_utf8(__message.split_at(__len).0) {
            ::core::result::Result::Ok(__text) => ::core::panic!("{}", __text),
            ::core::result::Result::Err(_) => ::core::panic!("session does not fit a cookie"),
        }
    };
    quote! {
        match __STORAGE {
            ::core::result::Result::Ok(__storage) => __storage,
            // a field without a bound of its own (`String`, or a `max_len`
            // on unbounded items) is reported on the field itself
            ::core::result::Result::Err(__error) if __error.bound.is_none() && !__FIELDS_BOUNDED => {
                #krate::Storage::Cookie
            }
            ::core::result::Result::Err(__error) => {
                let (__message, __len) = __error.message();
                #panic
            }
        }
    }
}

/// The encode- and decode-time check of a `max_len` field on `value`.
fn max_len_check(field: &Field<'_>, krate: &Path, value: &TokenStream) -> Option<TokenStream> {
    let max_len = field.attrs.max_len.as_ref()?.value;
    let length = length_fn(field);
    let name = field.ident.unraw().to_string();
    Some(quote!(#krate::__private::ensure_len(#length(#value), #max_len, #name)?;))
}

fn encode_fn(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let steps = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let marker = marker(field);
        let check = max_len_check(field, krate, &quote!(&self.#member));
        let spanned = crate_alias(ty.span());
        let encode = quote_spanned! {ty.span()=>
            <#ty as #spanned::__private::SerializeField<#marker>>::encode_field::<__C>(&self.#member, #name, out)?;
        };
        quote! {
            if part.includes(#quick) {
                #check
                #encode
            }
        }
    });
    quote! {
        fn encode<__C: #krate::Codec>(
            &self,
            part: #krate::Part,
            out: &mut ::std::vec::Vec<u8>,
        ) -> ::core::result::Result<(), #krate::CodecError> {
            let _ = (&part, &out);
            #(#steps)*
            ::core::result::Result::Ok(())
        }
    }
}

fn decode_fn(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let steps = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let member = field.ident;
        let ty = field.ty;
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let marker = marker(field);
        let check = max_len_check(field, krate, &quote!(&__value));
        let spanned = crate_alias(ty.span());
        let decode = quote_spanned! {ty.span()=>
            <#ty as #spanned::__private::DeserializeField<#marker>>::decode_field::<__C>(#name, &input[__at..])?
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
        fn decode<__C: #krate::Codec>(
            &mut self,
            part: #krate::Part,
            input: &[u8],
        ) -> ::core::result::Result<(), #krate::CodecError> {
            let _ = &part;
            let mut __at = 0usize;
            #(#steps)*
            if __at != input.len() {
                return ::core::result::Result::Err(#krate::CodecError::TrailingBytes(input.len() - __at));
            }
            ::core::result::Result::Ok(())
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
