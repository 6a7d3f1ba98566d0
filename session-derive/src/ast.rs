//! Our model of the input: a session struct and its fields, with attributes
//! parsed. Shape problems are recorded in the context, pointing at the
//! narrowest token.

use crate::attr;
use crate::ctxt::Ctxt;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Type, Visibility};

pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) attrs: attr::Container,
    pub(crate) fields: Vec<Field<'a>>,
    pub(crate) original: &'a DeriveInput,
}

pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: attr::Field,
}

impl Field<'_> {
    /// Stored fields are encoded; `skip` ones are not.
    pub(crate) fn stored(&self) -> bool {
        self.attrs.skip.is_none()
    }

    pub(crate) fn quick(&self) -> bool {
        self.attrs.quick.is_some()
    }

    /// Whether the field names the session's user.
    pub(crate) fn user(&self) -> bool {
        self.attrs.user.is_some()
    }

    /// The names of the accessors generated for this field: `x`, `set_x`,
    /// `x_mut`, `take_x` (what `check` compares and `emit` writes).
    pub(crate) fn accessor_names(&self) -> [String; 4] {
        let name = syn::ext::IdentExt::unraw(self.ident).to_string();
        [
            name.clone(),
            format!("set_{name}"),
            format!("{name}_mut"),
            format!("take_{name}"),
        ]
    }
}

impl<'a> Container<'a> {
    /// Builds the model, or `None` when the input is not a struct with named
    /// fields (the reason is recorded in `cx`).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let fields = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .filter_map(|field| {
                        Some(Field {
                            ident: field.ident.as_ref()?,
                            ty: &field.ty,
                            attrs: attr::Field::from_ast(cx, &field.attrs),
                        })
                    })
                    .collect(),
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        "`#[derive(Session)]` needs named fields: each field gets accessors named after it",
                    );
                    return None;
                }
                Fields::Unit => Vec::new(),
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "`#[derive(Session)]` needs a struct with named fields, not an enum: put the enum in a field",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(Session)]` needs a struct with named fields, not a union",
                );
                return None;
            }
        };
        Some(Self {
            ident: &input.ident,
            vis: &input.vis,
            attrs,
            fields,
            original: input,
        })
    }
}

/// What both derives' models share.
pub(crate) trait Model {
    /// The struct-level `#[session(..)]` attributes.
    fn attrs(&self) -> &attr::Container;
}

impl Model for Container<'_> {
    fn attrs(&self) -> &attr::Container {
        &self.attrs
    }
}

impl Model for Shape<'_> {
    fn attrs(&self) -> &attr::Container {
        &self.attrs
    }
}

/// A type deriving `MaxEncodedLen`: a struct or an enum, any generics.
pub(crate) struct Shape<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: attr::Container,
    pub(crate) data: ShapeData<'a>,
}

/// What a [`Shape`] holds.
pub(crate) enum ShapeData<'a> {
    Struct(&'a Fields),
    /// Variants in declaration order: name and fields.
    Enum(Vec<(&'a Ident, &'a Fields)>),
}

impl<'a> Shape<'a> {
    /// Builds the model, or `None` for a union (recorded in `cx`: serde
    /// cannot encode one).
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let data = match &input.data {
            Data::Struct(data) => ShapeData::Struct(&data.fields),
            Data::Enum(data) => ShapeData::Enum(
                data.variants
                    .iter()
                    .map(|variant| (&variant.ident, &variant.fields))
                    .collect(),
            ),
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "`#[derive(MaxEncodedLen)]` does not support unions: serde cannot encode them",
                );
                return None;
            }
        };
        Some(Self {
            ident: &input.ident,
            generics: &input.generics,
            attrs,
            data,
        })
    }
}
