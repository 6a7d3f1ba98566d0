//! Impl anyway: after a reported error, emit the accessor type and a stub
//! `SessionData` impl so other uses of the struct do not fail a second time.
//! The stubs never run: the crate does not compile.

use crate::ast::Container;
use crate::emit::{access_ident, accessors, crate_path, field_markers};
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn session(cont: &Container<'_>) -> TokenStream {
    if !cont.original.generics.params.is_empty() {
        // a stub would need the generics we refused
        return TokenStream::new();
    }
    let krate = crate_path(cont);
    let access = access_ident(cont);
    let ident = cont.ident;
    let access_type = accessors::access_type(cont, &krate, &access);
    let access_impls = accessors::access_impls(cont, &krate, &access, false);
    let markers = field_markers(cont);
    let length_fns = crate::emit::length_fns(cont);
    quote! {
        #access_type

        const _: () = {
            use #krate as __sk;
            #markers
            #length_fns
            #[automatically_derived]
            impl #krate::SessionData for #ident {
                type Access = #access;
                const COOKIE_NAME: &'static str = "";
                const FIELDS: &'static [#krate::FieldInfo] = &[];
                const FINGERPRINT: u64 = 0;
                const MAX_ENCODED_LEN: ::core::option::Option<usize> = ::core::option::Option::None;
                const STORAGE: #krate::Storage = #krate::Storage::Server;
                // accepted by both layer constructors: no second error
                type Tier = #krate::__private::Unknown;
                fn default_session() -> Self {
                    ::core::unimplemented!()
                }
                fn encode<__C: #krate::Codec>(&self, _: #krate::Part, _: &mut ::std::vec::Vec<u8>) -> ::core::result::Result<(), #krate::CodecError> {
                    ::core::unimplemented!()
                }
                fn decode<__C: #krate::Codec>(&mut self, _: #krate::Part, _: &[u8]) -> ::core::result::Result<(), #krate::CodecError> {
                    ::core::unimplemented!()
                }
                fn take_fields(&mut self, _: &mut Self, _: &#krate::FieldSet) {}
            }
            #access_impls
        };
    }
}
