//! Rules that need the whole model: attribute combinations, generics, and
//! clashes between generated method names.

use crate::ast::{Container, Field, Shape};
use crate::attr::StorageKind;
use crate::ctxt::Ctxt;
use std::collections::BTreeMap;
use syn::ext::IdentExt as _;

pub(crate) fn check(cx: &Ctxt, cont: &Container<'_>) {
    check_generics(cx, cont);
    for field in &cont.fields {
        check_field_flags(cx, field);
    }
    check_quick_in_cookie(cx, cont);
    check_user_field(cx, cont);
    check_method_clashes(cx, cont);
}

fn check_generics(cx: &Ctxt, cont: &Container<'_>) {
    let generics = &cont.original.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "`#[derive(Session)]` does not support generic parameters: a session is one concrete struct (use a type alias or a concrete field type)",
        );
    }
}

fn check_field_flags(cx: &Ctxt, field: &Field<'_>) {
    let Some(skip) = &field.attrs.skip else {
        return;
    };
    if let Some(user) = &field.attrs.user {
        cx.syn_error(syn::Error::new(
            user.span,
            "`user` and `skip` conflict: the session's user must be stored",
        ));
    }
    if let Some(quick) = &field.attrs.quick {
        cx.syn_error(syn::Error::new(
            quick.span,
            "`quick` and `skip` conflict: a skipped field is never stored",
        ));
    }
    if let Some(max_len) = &field.attrs.max_len {
        cx.syn_error(syn::Error::new(
            max_len.span,
            "`max_len` has no effect on a `skip` field, which is never stored",
        ));
    }
    let _ = skip;
}

fn check_quick_in_cookie(cx: &Ctxt, cont: &Container<'_>) {
    let cookie_only = cont
        .attrs
        .storage
        .as_ref()
        .is_some_and(|storage| storage.value == StorageKind::Cookie);
    if !cookie_only {
        return;
    }
    for field in &cont.fields {
        if let Some(quick) = &field.attrs.quick {
            cx.syn_error(syn::Error::new(
                quick.span,
                format!(
                    "`quick` field `{}` needs a cache tier, but `storage = \"cookie\"` has none: remove `quick`, or use `storage = \"auto\"`",
                    field.ident.unraw()
                ),
            ));
        }
    }
}

/// One field at most names the session's user, and not a quick one (the
/// user index lives with the durable record).
fn check_user_field(cx: &Ctxt, cont: &Container<'_>) {
    let users: Vec<_> = cont
        .fields
        .iter()
        .filter_map(|field| field.attrs.user.as_ref().map(|user| (field, user)))
        .collect();
    for (field, user) in users.iter().skip(1) {
        cx.syn_error(syn::Error::new(
            user.span,
            format!(
                "`user` on `{}` too: one field names the session's user",
                field.ident.unraw()
            ),
        ));
    }
    for (field, user) in &users {
        if field.quick() {
            cx.syn_error(syn::Error::new(
                user.span,
                "`user` and `quick` conflict: the user index lives with the durable record",
            ));
        }
    }
}

/// `update` is generated, and each field `x` generates `x`, `set_x`, `x_mut`
/// and `take_x`: a field named `set_y` next to a field `y` would collide.
fn check_method_clashes(cx: &Ctxt, cont: &Container<'_>) {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    owners.insert(
        "update".to_owned(),
        "the generated `update` method".to_owned(),
    );
    for field in &cont.fields {
        let name = field.ident.unraw().to_string();
        for method in field.accessor_names() {
            if let Some(owner) = owners.get(&method) {
                cx.error_spanned_by(
                    field.ident,
                    format!("field `{name}` would generate `{method}()`, which clashes with {owner}: rename the field"),
                );
            } else {
                owners.insert(method, format!("the accessor of field `{name}`"));
            }
        }
    }
}

/// `#[derive(MaxEncodedLen)]` takes only `crate = path`: the session
/// attributes have no meaning on a nested type.
pub(crate) fn check_shape(cx: &Ctxt, shape: &Shape<'_>) {
    let attrs = &shape.attrs;
    for (what, span) in [
        ("cookie", attrs.cookie.as_ref().map(|a| a.span)),
        ("storage", attrs.storage.as_ref().map(|a| a.span)),
        ("previous", attrs.previous.as_ref().map(|a| a.span)),
        ("next", attrs.next.as_ref().map(|a| a.span)),
    ] {
        if let Some(span) = span {
            cx.syn_error(syn::Error::new(
                span,
                format!("`{what}` applies to `#[derive(Session)]`, not `#[derive(MaxEncodedLen)]`"),
            ));
        }
    }
}
