//! Impl anyway: after a reported error, emit the accessor type and stub
//! impls so other uses of the type do not fail a second time. The stubs
//! never run: the crate does not compile. `dummy` wraps them like the
//! real expansion.

use crate::ast::{Container, Shape};
use crate::dummy::{Expansion, private};
use crate::emit::{access_ident, accessors, field_markers, impl_max_encoded_len, length_fns};
use quote::quote;

/// `#[derive(Session)]`: the accessor type, and a `SessionData` impl with
/// no fields whose tier both layer constructors accept.
pub(crate) fn session(cont: &Container<'_>) -> Expansion {
    if !cont.original.generics.params.is_empty() {
        // a stub would need the generics we refused
        return Expansion::default();
    }
    let private = private();
    let access = access_ident(cont);
    let ident = cont.ident;
    let access_type = accessors::access_type(cont, &access);
    let access_impls = accessors::access_impls(cont, &access, false);
    let markers = field_markers(cont);
    let length_fns = length_fns(cont);
    Expansion {
        public: access_type,
        private: quote! {
            #markers
            #length_fns
            #[automatically_derived]
            impl #private::SessionData for #ident {
                type Access = #access;
                const COOKIE_NAME: &'static str = "";
                const FIELDS: &'static [#private::FieldInfo] = &[];
                const FINGERPRINT: u64 = 0;
                const MAX_ENCODED_LEN: #private::Option<usize> = #private::None;
                const STORAGE: #private::Storage = #private::Storage::Server;
                // accepted by both layer constructors: no second error
                type Tier = #private::Unknown;
                fn default_session() -> Self {
                    #private::core::unimplemented!()
                }
                fn encode<__C: #private::Codec>(&self, _: #private::Part, _: &mut #private::Vec<u8>) -> #private::Result<(), #private::CodecError> {
                    #private::core::unimplemented!()
                }
                fn decode<__C: #private::Codec>(&mut self, _: #private::Part, _: &[u8]) -> #private::Result<(), #private::CodecError> {
                    #private::core::unimplemented!()
                }
                fn take_fields(&mut self, _: &mut Self, _: &#private::FieldSet) {}
            }
            #access_impls
        },
    }
}

/// `#[derive(MaxEncodedLen)]`: the impl, unbounded and of shape 0.
pub(crate) fn max_encoded_len(shape: &Shape<'_>) -> Expansion {
    let private = private();
    impl_max_encoded_len(shape, &quote!(#private::None), &quote!(0))
}
