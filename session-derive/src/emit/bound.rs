//! Size bounds: the sum of a session's stored fields, and
//! `#[derive(MaxEncodedLen)]` for nested types.

use crate::ast::{Container, Shape, ShapeData};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Fields, Path, parse_quote};

/// The size bounds of a session, as consts next to its impl (not in it, so
/// that the impl's `type Tier` can use them without a cycle):
///
/// * `__FIELD_BOUNDS`: one bound per stored field, each spanned on the
///   field's type so a missing bound is reported there; a `max_len` field
///   is `prefix + N × item`, unbounded when its items are;
/// * `__MAX_ENCODED_LEN`: their sum (`None` when one is unbounded, or on
///   overflow);
/// * `__FIELDS_BOUNDED`: whether every field has a bound of its own.
pub(crate) fn session_bounds(cont: &Container<'_>, krate: &Path) -> TokenStream {
    let terms: Vec<_> = cont
        .fields
        .iter()
        .filter(|f| f.stored())
        .map(|field| {
            let ty = field.ty;
            let marker = super::marker(field);
            let spanned = super::crate_alias(ty.span());
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
        })
        .collect();
    let count = terms.len();
    quote! {
        const __FIELD_BOUNDS: [::core::option::Option<usize>; #count] = [#(#terms),*];
        const __MAX_ENCODED_LEN: ::core::option::Option<usize> =
            #krate::__private::sum(&__FIELD_BOUNDS);
        const __FIELDS_BOUNDED: bool = #krate::__private::all_known(&__FIELD_BOUNDS);
    }
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

/// `#[derive(MaxEncodedLen)]` for a checked [`Shape`]: the bound and the
/// structural shape as associated consts.
pub(crate) fn max_encoded_len(shape: &Shape<'_>) -> TokenStream {
    let krate = shape.attrs.crate_path();
    let (bound, structure) = match &shape.data {
        ShapeData::Struct(fields) => (
            fields_bound(&krate, fields),
            fields_shape(
                &krate,
                quote!(#krate::__private::shape::named("struct")),
                fields,
            ),
        ),
        ShapeData::Enum(variants) => {
            let tag = variants.len().saturating_sub(1) as u64;
            let bounds = variants
                .iter()
                .map(|(_, fields)| fields_bound(&krate, fields));
            let shapes = variants.iter().map(|(name, fields)| {
                let name = syn::ext::IdentExt::unraw(*name).to_string();
                fields_shape(
                    &krate,
                    quote!(#krate::__private::shape::then_name(__shape, #name)),
                    fields,
                )
            });
            (
                quote! {{
                    let __largest = ::core::option::Option::Some(0usize);
                    #(let __largest = #krate::__private::max(__largest, #bounds);)*
                    #krate::__private::add(
                        ::core::option::Option::Some(#krate::__private::prefix_len(#tag)),
                        __largest,
                    )
                }},
                quote! {{
                    let __shape = #krate::__private::shape::named("enum");
                    #(let __shape = #shapes;)*
                    __shape
                }},
            )
        }
    };
    impl_max_encoded_len(shape, &krate, &bound, &structure)
}

/// After an error: the impl anyway (unbounded, shape 0), so every use of
/// the type does not fail a second time.
pub(crate) fn max_encoded_len_fallback(shape: &Shape<'_>) -> TokenStream {
    let krate = shape.attrs.crate_path();
    impl_max_encoded_len(
        shape,
        &krate,
        &quote!(::core::option::Option::None),
        &quote!(0),
    )
}

fn impl_max_encoded_len(
    shape: &Shape<'_>,
    krate: &Path,
    bound: &TokenStream,
    structure: &TokenStream,
) -> TokenStream {
    let ident = shape.ident;
    let mut generics = shape.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(#krate::MaxEncodedLen));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[doc(hidden)]
        #[allow(unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::MaxEncodedLen for #ident #ty_generics #where_clause {
                const MAX_ENCODED_LEN: ::core::option::Option<usize> = #bound;
                const SHAPE: u64 = #structure;
            }
        };
    }
}
