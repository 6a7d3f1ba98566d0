//! `impl SessionData`: the compile-time description and field-wise
//! encode/decode.

use super::{bound, fingerprint, length_fn, marker, respan};
use crate::ast::{Container, Field};
use crate::attr::StorageKind;
use heck_free::snake_case;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};
use syn::Path;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

pub(crate) fn session_data_impl(cont: &Container<'_>, krate: &Path, access: &Ident) -> TokenStream {
    let ident = cont.ident;
    let cookie_name = cont.attrs.cookie.as_ref().map_or_else(
        || snake_case(&ident.unraw().to_string()),
        |c| c.value.clone(),
    );
    let fields_info = cont.fields.iter().map(|field| {
        let name = field.ident.unraw().to_string();
        let quick = field.quick();
        let skip = !field.stored();
        quote!(#krate::FieldInfo::new(#name, #quick, #skip))
    });
    let fingerprint = fingerprint::fingerprint(cont);
    let max_encoded_len = bound::session_bound(cont, krate);
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
        #[automatically_derived]
        impl #krate::SessionData for #ident {
            type Access = #access;
            const COOKIE_NAME: &'static str = #cookie_name;
            const FIELDS: &'static [#krate::FieldInfo] = &[#(#fields_info),*];
            const FINGERPRINT: u64 = #fingerprint;
            const MAX_ENCODED_LEN: ::core::option::Option<usize> = #max_encoded_len;
            const STORAGE: #krate::Storage = #storage;

            #default_session

            #encode
            #decode

            fn take_fields(&mut self, from: &mut Self, fields: &#krate::FieldSet) {
                let _ = (&from, fields);
                #(#take_fields)*
            }
        }
    }
}

/// The storage decision; a `storage = "cookie"` struct over the budget
/// panics at compile time with the bound and the budget.
fn storage_const(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let request = match cont.attrs.storage.as_ref().map(|s| s.value) {
        None | Some(StorageKind::Auto) => quote!(Auto),
        Some(StorageKind::Cookie) => quote!(Cookie),
        Some(StorageKind::Server) => quote!(Server),
    };
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
        match #krate::__private::decide_storage(
            <Self as #krate::SessionData>::MAX_ENCODED_LEN,
            <Self as #krate::SessionData>::COOKIE_NAME.len(),
            #krate::__private::StorageRequest::#request,
        ) {
            ::core::result::Result::Ok(__storage) => __storage,
            // an unbounded field is reported on the field itself
            ::core::result::Result::Err(__error) if __error.bound.is_none() => #krate::Storage::Cookie,
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
        let spanned = respan(krate, ty.span());
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
        let spanned = respan(krate, ty.span());
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

/// `snake_case` for the default cookie name, without a dependency.
mod heck_free {
    pub(crate) fn snake_case(name: &str) -> String {
        let mut out = String::with_capacity(name.len() + 4);
        let chars: Vec<char> = name.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if c.is_uppercase() {
                let prev_lower =
                    i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                let prev_upper = i > 0 && chars[i - 1].is_uppercase();
                if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            } else {
                out.push(*c);
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn snake_case() {
            assert_eq!(super::snake_case("Cart"), "cart");
            assert_eq!(super::snake_case("UserPrefs"), "user_prefs");
            assert_eq!(super::snake_case("HTTPState"), "http_state");
            assert_eq!(super::snake_case("V2Session"), "v2_session");
        }
    }
}
