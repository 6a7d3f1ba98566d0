//! Size bounds: the sum of a session's stored fields, and
//! `#[derive(MaxEncodedLen)]` for nested types.

use crate::ast::Container;
use crate::ctxt::Ctxt;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Data, DeriveInput, Fields, Path, parse_quote};

/// `MAX_ENCODED_LEN` of a session: one term per stored field, each spanned
/// on the field's type so a missing bound is reported there.
pub(crate) fn session_bound(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let terms = cont.fields.iter().filter(|f| f.stored()).map(|field| {
        let ty = field.ty;
        let marker = super::marker(field);
        let spanned = super::respan(krate, ty.span());
        match &field.attrs.max_len {
            Some(max_len) => {
                let n = max_len.value;
                quote_spanned! {ty.span()=>
                    #krate::__private::collection(
                        #n,
                        <#ty as #spanned::__private::LimitedField<#marker>>::ITEM_LEN,
                    )
                }
            }
            None => quote_spanned! {ty.span()=>
                <#ty as #spanned::__private::BoundedField<#marker>>::BOUND
            },
        }
    });
    sum(krate, terms)
}

fn sum(krate: &Path, terms: impl Iterator<Item = TokenStream>) -> TokenStream {
    quote! {{
        let __total = ::core::option::Option::Some(0usize);
        #(let __total = #krate::__private::add(__total, #terms);)*
        __total
    }}
}

/// The shape of a struct's or variant's fields: names (or positions) in
/// order, each followed by its type's shape.
fn fields_shape(krate: &Path, start: TokenStream, fields: &Fields) -> TokenStream {
    let count = fields.len() as u64;
    let steps = fields.iter().enumerate().map(|(index, field)| {
        let ty = &field.ty;
        let name = field
            .ident
            .as_ref()
            .map_or_else(|| index.to_string(), |ident| syn::ext::IdentExt::unraw(ident).to_string());
        quote_spanned! {ty.span()=>
            let __shape = #krate::__private::shape::then_name(__shape, #name);
            let __shape = #krate::__private::shape::then(__shape, <#ty as #krate::MaxEncodedLen>::SHAPE);
        }
    });
    quote! {{
        let __shape = #start;
        let __shape = #krate::__private::shape::then_number(__shape, #count);
        #(#steps)*
        __shape
    }}
}

fn fields_bound(krate: &Path, fields: &Fields) -> TokenStream {
    let terms = fields.iter().map(|field| {
        let ty = &field.ty;
        quote_spanned!(ty.span()=> <#ty as #krate::MaxEncodedLen>::MAX_ENCODED_LEN)
    });
    sum(krate, terms)
}

/// `#[derive(MaxEncodedLen)]`.
pub(crate) fn max_encoded_len(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::default();
    let attrs = crate::attr::Container::from_ast(&cx, &input.attrs);
    for (what, given) in [
        ("cookie", attrs.cookie.is_some()),
        ("storage", attrs.storage.is_some()),
        ("previous", attrs.previous.is_some()),
    ] {
        if given {
            cx.error_spanned_by(
                &input.ident,
                format!("`{what}` applies to `#[derive(Session)]`, not `#[derive(MaxEncodedLen)]`"),
            );
        }
    }
    let krate: Path = attrs
        .krate
        .map_or_else(|| parse_quote!(::session_runtime), |k| k.value);
    let bound = match &input.data {
        Data::Struct(data) => fields_bound(&krate, &data.fields),
        Data::Enum(data) => {
            let tag = data.variants.len().saturating_sub(1) as u64;
            let variants = data
                .variants
                .iter()
                .map(|v| fields_bound(&krate, &v.fields));
            quote! {{
                let __largest = ::core::option::Option::Some(0usize);
                #(let __largest = #krate::__private::max(__largest, #variants);)*
                #krate::__private::add(
                    ::core::option::Option::Some(#krate::__private::prefix_len(#tag)),
                    __largest,
                )
            }}
        }
        Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "`#[derive(MaxEncodedLen)]` does not support unions: serde cannot encode them",
            );
            quote!(::core::option::Option::None)
        }
    };
    let shape = match &input.data {
        Data::Struct(data) => fields_shape(
            &krate,
            quote!(#krate::__private::shape::named("struct")),
            &data.fields,
        ),
        Data::Enum(data) => {
            let variants = data.variants.iter().map(|variant| {
                let name = syn::ext::IdentExt::unraw(&variant.ident).to_string();
                fields_shape(
                    &krate,
                    quote!(#krate::__private::shape::then_name(__shape, #name)),
                    &variant.fields,
                )
            });
            quote! {{
                let __shape = #krate::__private::shape::named("enum");
                #(let __shape = #variants;)*
                __shape
            }}
        }
        Data::Union(_) => quote!(0),
    };
    let errors = cx.check().err().map(|e| e.to_compile_error());
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(#krate::MaxEncodedLen));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #errors
        #[doc(hidden)]
        #[allow(unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::MaxEncodedLen for #ident #ty_generics #where_clause {
                const MAX_ENCODED_LEN: ::core::option::Option<usize> = #bound;
                const SHAPE: u64 = #shape;
            }
        };
    }
}
