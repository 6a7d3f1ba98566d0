//! `#[session(..)]` attributes: parsed, validated for form, duplicates
//! reported at their second occurrence, unknown keys refused.

use crate::ctxt::Ctxt;
use crate::symbol::{
    COOKIE, CRATE, MAX_LEN, NEXT, PREVIOUS, QUICK, SESSION, SKIP, STORAGE, Symbol, USER,
};
use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, LitInt, LitStr, Path};

/// One attribute value together with where it was written.
pub(crate) struct Attr<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// A slot for an attribute that may be given once.
struct Slot<'c, T> {
    cx: &'c Ctxt,
    name: Symbol,
    value: Option<Attr<T>>,
}

impl<'c, T> Slot<'c, T> {
    fn new(cx: &'c Ctxt, name: Symbol) -> Self {
        Self {
            cx,
            name,
            value: None,
        }
    }

    fn set(&mut self, path: &Path, value: T) {
        if self.value.is_some() {
            self.cx.error_spanned_by(
                path,
                format!("duplicate `session({})` attribute", self.name),
            );
        } else {
            self.value = Some(Attr {
                value,
                span: path.span(),
            });
        }
    }

    fn get(self) -> Option<Attr<T>> {
        self.value
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageKind {
    Auto,
    Cookie,
    Server,
}

/// Struct-level attributes.
pub(crate) struct Container {
    pub(crate) cookie: Option<Attr<String>>,
    pub(crate) storage: Option<Attr<StorageKind>>,
    pub(crate) krate: Option<Attr<Path>>,
    /// `previous = OldShape`: the session type this one replaced.
    pub(crate) previous: Option<Attr<syn::Type>>,
    /// `next = NewShape`: the shape the next release writes, read (and
    /// converted down) by this one during a rolling deploy.
    pub(crate) next: Option<Attr<syn::Type>>,
}

impl Container {
    /// `::session_runtime`, or the `crate = path` override.
    pub(crate) fn crate_path(&self) -> Path {
        self.crate_override()
            .cloned()
            .unwrap_or_else(|| syn::parse_quote!(::session_runtime))
    }

    /// The `crate = path` override, if given.
    pub(crate) fn crate_override(&self) -> Option<&Path> {
        self.krate.as_ref().map(|krate| &krate.value)
    }

    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut cookie = Slot::new(cx, COOKIE);
        let mut storage = Slot::new(cx, STORAGE);
        let mut krate = Slot::new(cx, CRATE);
        let mut previous = Slot::new(cx, PREVIOUS);
        let mut next = Slot::new(cx, NEXT);
        for attr in attrs.iter().filter(|attr| attr.path() == SESSION) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path == COOKIE {
                    if let Some(name) = string_value(cx, &meta, "`cookie = \"name\"`")? {
                        if let Some(problem) = cookie_name_problem(&name.value()) {
                            cx.error_spanned_by(&name, problem);
                        } else {
                            cookie.set(&meta.path, name.value());
                        }
                    }
                } else if meta.path == STORAGE {
                    let expected = "`storage = \"cookie\"`, `\"server\"` or `\"auto\"`";
                    if let Some(kind) = string_value(cx, &meta, expected)? {
                        match kind.value().as_str() {
                            "auto" => storage.set(&meta.path, StorageKind::Auto),
                            "cookie" => storage.set(&meta.path, StorageKind::Cookie),
                            "server" => storage.set(&meta.path, StorageKind::Server),
                            other => cx.error_spanned_by(
                                &kind,
                                format!("unknown storage `{other}`: expected {expected}"),
                            ),
                        }
                    }
                } else if meta.path == CRATE {
                    // `crate = path` or serde's `crate = "path"`
                    let value = meta.value()?;
                    let path = if value.peek(LitStr) {
                        value.parse::<LitStr>()?.parse::<Path>()?
                    } else {
                        value.call(Path::parse_mod_style)?
                    };
                    krate.set(&meta.path, path);
                } else if meta.path == PREVIOUS {
                    let ty: syn::Type = meta.value()?.parse()?;
                    previous.set(&meta.path, ty);
                } else if meta.path == NEXT {
                    let ty: syn::Type = meta.value()?.parse()?;
                    next.set(&meta.path, ty);
                } else {
                    unknown(
                        cx,
                        &meta,
                        "`cookie`, `storage`, `crate`, `previous` or `next`",
                    )?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        Self {
            cookie: cookie.get(),
            storage: storage.get(),
            krate: krate.get(),
            previous: previous.get(),
            next: next.get(),
        }
    }
}

/// Field-level attributes.
pub(crate) struct Field {
    pub(crate) quick: Option<Attr<()>>,
    pub(crate) skip: Option<Attr<()>>,
    pub(crate) max_len: Option<Attr<usize>>,
    /// The field names the session's user (log out everywhere).
    pub(crate) user: Option<Attr<()>>,
}

impl Field {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut quick = Slot::new(cx, QUICK);
        let mut skip = Slot::new(cx, SKIP);
        let mut max_len = Slot::new(cx, MAX_LEN);
        let mut user = Slot::new(cx, USER);
        for attr in attrs.iter().filter(|attr| attr.path() == SESSION) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path == QUICK {
                    flag(cx, &meta, QUICK)?;
                    quick.set(&meta.path, ());
                } else if meta.path == SKIP {
                    flag(cx, &meta, SKIP)?;
                    skip.set(&meta.path, ());
                } else if meta.path == USER {
                    flag(cx, &meta, USER)?;
                    user.set(&meta.path, ());
                } else if meta.path == MAX_LEN {
                    let value = meta.value()?;
                    if value.peek(LitInt) {
                        let lit: LitInt = value.parse()?;
                        match lit.base10_parse::<usize>() {
                            Ok(n) if n > 0 => max_len.set(&meta.path, n),
                            _ => cx.error_spanned_by(&lit, "`max_len` must be a positive integer"),
                        }
                    } else {
                        let expr: Expr = value.parse()?;
                        cx.error_spanned_by(&expr, "expected an integer literal: `max_len = 64`");
                    }
                } else {
                    unknown(cx, &meta, "`quick`, `skip`, `max_len` or `user`")?;
                }
                Ok(())
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        Self {
            quick: quick.get(),
            skip: skip.get(),
            max_len: max_len.get(),
            user: user.get(),
        }
    }
}

/// Refuses a value on a flag attribute (`quick = true`).
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, name: Symbol) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let value: Expr = meta.value()?.parse()?;
        cx.error_spanned_by(
            &value,
            format!("`{name}` takes no value: write `#[session({name})]`"),
        );
    }
    Ok(())
}

/// Reads `key = "string"`; records an error (and skips the value) otherwise.
fn string_value(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    expected: &str,
) -> syn::Result<Option<LitStr>> {
    let value = meta.value()?;
    if value.peek(LitStr) {
        return value.parse().map(Some);
    }
    let expr: Expr = value.parse()?;
    cx.error_spanned_by(&expr, format!("expected a string literal: {expected}"));
    Ok(None)
}

/// Records an unknown key and skips its value so the remaining keys are
/// still checked.
fn unknown(cx: &Ctxt, meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<()> {
    let name = meta
        .path
        .get_ident()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    cx.error_spanned_by(
        &meta.path,
        format!("unknown session attribute `{name}`: expected {expected}"),
    );
    if meta.input.peek(syn::Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|nested| {
            // swallow anything inside `unknown(..)`
            if nested.input.peek(syn::Token![=]) {
                let _: Expr = nested.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Why `name` cannot be a cookie name, if it cannot (RFC 6265 `token`).
fn cookie_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the cookie name is empty".to_owned());
    }
    if name.starts_with("__Host-") || name.starts_with("__Secure-") {
        return Some(
            "write the cookie name without its prefix: the layer's `with_host_prefix()` adds `__Host-` and enforces its rules"
                .to_owned(),
        );
    }
    let bad = name
        .chars()
        .find(|c| !c.is_ascii_graphic() || "()<>@,;:\\\"/[]?={}".contains(*c));
    bad.map(|c| format!("`{c}` cannot appear in a cookie name (RFC 6265 token)"))
}
