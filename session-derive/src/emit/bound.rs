//! Size bounds: the sum of a session's stored fields, and
//! `#[derive(MaxEncodedLen)]` for nested types.

use crate::ast::{Container, Shape, ShapeData};
use crate::dummy::{Expansion, private, private_at};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{Fields, parse_quote};

/// The size bounds of a session, as consts next to its impl (not in it, so
/// that the impl's `type Tier` can use them without a cycle):
///
/// * `__FIELD_BOUNDS`: one bound per stored field, each spanned on the
///   field's type so a missing bound is reported there; a `max_len` field
///   is `prefix + N × item`, unbounded when its items are;
/// * `__MAX_ENCODED_LEN`: their sum (`None` when one is unbounded, or on
///   overflow);
/// * `__FIELDS_BOUNDED`: whether every field has a bound of its own.
pub(crate) fn session_bounds(cont: &Container<'_>) -> TokenStream {
    let private = private();
    let terms: Vec<_> = cont
        .fields
        .iter()
        .filter(|f| f.stored())
        .map(|field| {
            let ty = field.ty;
            let marker = super::marker(field);
            let spanned = private_at(ty.span());
            match &field.attrs.max_len {
                Some(max_len) => {
                    let n = max_len.value;
                    quote_spanned! {ty.span()=>
                        #spanned::collection(
                            #n,
                            <#ty as #spanned::LimitedField<#marker>>::ITEM_LEN,
                        )
                    }
                }
                None => quote_spanned! {ty.span()=>
                    <#ty as #spanned::BoundedField<#marker>>::BOUND
                },
            }
        })
        .collect();
    let count = terms.len();
    quote! {
        const __FIELD_BOUNDS: [#private::Option<usize>; #count] = [#(#terms),*];
        const __MAX_ENCODED_LEN: #private::Option<usize> = #private::sum(&__FIELD_BOUNDS);
        const __FIELDS_BOUNDED: bool = #private::all_known(&__FIELD_BOUNDS);
    }
}

fn sum(terms: impl Iterator<Item = TokenStream>) -> TokenStream {
    let private = private();
    quote! {{
        let __total = #private::Some(0usize);
        #(let __total = #private::add(__total, #terms);)*
        __total
    }}
}

/// The shape of a struct's or variant's fields: names (or positions) in
/// order, each followed by its type's shape.
fn fields_shape(start: TokenStream, fields: &Fields) -> TokenStream {
    let private = private();
    let count = fields.len() as u64;
    let steps = fields.iter().enumerate().map(|(index, field)| {
        let ty = &field.ty;
        let name = field.ident.as_ref().map_or_else(
            || index.to_string(),
            |ident| syn::ext::IdentExt::unraw(ident).to_string(),
        );
        let spanned = private_at(ty.span());
        quote_spanned! {ty.span()=>
            let __shape = #spanned::shape::then_name(__shape, #name);
            let __shape = #spanned::shape::then(__shape, <#ty as #spanned::MaxEncodedLen>::SHAPE);
        }
    });
    quote! {{
        let __shape = #start;
        let __shape = #private::shape::then_number(__shape, #count);
        #(#steps)*
        __shape
    }}
}

fn fields_bound(fields: &Fields) -> TokenStream {
    let terms = fields.iter().map(|field| {
        let ty = &field.ty;
        let spanned = private_at(ty.span());
        quote_spanned!(ty.span()=> <#ty as #spanned::MaxEncodedLen>::MAX_ENCODED_LEN)
    });
    sum(terms)
}

/// `#[derive(MaxEncodedLen)]` for a checked [`Shape`]: the bound and the
/// structural shape as associated consts.
pub(crate) fn max_encoded_len(shape: &Shape<'_>) -> Expansion {
    let private = private();
    let (bound, structure) = match &shape.data {
        ShapeData::Struct(fields) => (
            fields_bound(fields),
            fields_shape(quote!(#private::shape::named("struct")), fields),
        ),
        ShapeData::Enum(variants) => {
            let tag = variants.len().saturating_sub(1) as u64;
            let bounds = variants.iter().map(|(_, fields)| fields_bound(fields));
            let shapes = variants.iter().map(|(name, fields)| {
                let name = syn::ext::IdentExt::unraw(*name).to_string();
                fields_shape(quote!(#private::shape::then_name(__shape, #name)), fields)
            });
            (
                quote! {{
                    let __largest = #private::Some(0usize);
                    #(let __largest = #private::max(__largest, #bounds);)*
                    #private::add(#private::Some(#private::prefix_len(#tag)), __largest)
                }},
                quote! {{
                    let __shape = #private::shape::named("enum");
                    #(let __shape = #shapes;)*
                    __shape
                }},
            )
        }
    };
    impl_max_encoded_len(shape, &bound, &structure)
}

/// The impl itself, with `bound` and `structure` as its consts (also what
/// the fallback writes, with stand-ins). Type parameters get a
/// `MaxEncodedLen` bound.
pub(crate) fn impl_max_encoded_len(
    shape: &Shape<'_>,
    bound: &TokenStream,
    structure: &TokenStream,
) -> Expansion {
    let private = private();
    let ident = shape.ident;
    let mut generics = shape.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(#private::MaxEncodedLen));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Expansion {
        public: TokenStream::new(),
        private: quote! {
            #[automatically_derived]
            impl #impl_generics #private::MaxEncodedLen for #ident #ty_generics #where_clause {
                const MAX_ENCODED_LEN: #private::Option<usize> = #bound;
                const SHAPE: u64 = #structure;
            }
        },
    }
}
