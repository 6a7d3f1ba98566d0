//! What the expansion names: nothing but `__sk::__private::..` inside the
//! wrapper, and the crate path only where it binds `__sk` and in the
//! accessor type outside it.

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::DeriveInput;

/// The expansion's tokens, flattened (groups' delimiters dropped): paths
/// are sequences of idents and `::` either way. A `::` is one token.
fn flatten(tokens: TokenStream, out: &mut Vec<String>) {
    let mut joint_colon = false;
    for token in tokens {
        let after_joint_colon = std::mem::take(&mut joint_colon);
        match token {
            TokenTree::Group(group) => flatten(group.stream(), out),
            TokenTree::Punct(punct) if punct.as_char() == ':' && after_joint_colon => {
                *out.last_mut().unwrap() = "::".to_owned();
            }
            TokenTree::Punct(punct) => {
                joint_colon = punct.as_char() == ':' && punct.spacing() == Spacing::Joint;
                out.push(punct.to_string());
            }
            other => out.push(other.to_string()),
        }
    }
}

fn tokens(expansion: TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    flatten(expansion, &mut out);
    out
}

/// The ident a path starting with `::` at `index` names first, if one
/// does: `a::b` and `<T as X>::Y` do not start there; `: ::core`,
/// `use ::core` and `as ::core` do.
fn absolute_path_at(tokens: &[String], index: usize) -> Option<&str> {
    const KEYWORDS: &[&str] = &[
        "use", "as", "impl", "for", "dyn", "where", "in", "mut", "return",
    ];
    if tokens[index] != "::" {
        return None;
    }
    let previous = index.checked_sub(1).map(|i| tokens[i].as_str());
    let continues = previous.is_some_and(|p| {
        p == ">"
            || (p
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !KEYWORDS.contains(&p))
    });
    (!continues).then(|| tokens.get(index + 1).map_or("", String::as_str))
}

/// Every path leaves `__sk` through `__private`; no absolute path but the
/// crate's own, and that only in `allowed` places (the accessor type);
/// none of the old reaches into the runtime.
fn assert_private_only(expansion: TokenStream, krate: &str, allowed: usize) {
    let text = expansion.to_string();
    let tokens = tokens(expansion);
    let mut crate_paths = 0;
    for (i, token) in tokens.iter().enumerate() {
        if token == "__sk" && tokens.get(i + 1).is_some_and(|t| t == "::") {
            assert_eq!(
                tokens.get(i + 2).map(String::as_str),
                Some("__private"),
                "`__sk::` not followed by `__private` at token {i} in {text}"
            );
        }
        if let Some(root) = absolute_path_at(&tokens, i) {
            assert_eq!(
                root, krate,
                "absolute path `::{root}` at token {i} in {text}"
            );
            crate_paths += 1;
        }
    }
    assert_eq!(crate_paths, allowed, "{text}");
    for reach in [
        "seal",
        "envelope",
        "insert",
        "FieldInfo :: new",
        "user :: HasUserField",
    ] {
        assert!(!text.contains(reach), "`{reach}` in {text}");
    }
}

fn input(source: &str) -> DeriveInput {
    syn::parse_str(source).unwrap()
}

const SESSION: &str = r#"
    #[session(cookie = "cart", previous = CartV1)]
    pub struct Cart {
        #[session(user)]
        user: Option<u64>,
        #[session(max_len = 8)]
        items: Vec<u32>,
        #[session(quick)]
        seen: u8,
        #[session(skip)]
        scratch: u8,
    }
"#;

#[test]
fn session_names_only_private() {
    let expansion = super::session(&input(SESSION));
    let text = expansion.to_string();
    assert!(text.contains("use :: session_runtime as __sk"), "{text}");
    assert!(!text.contains("compile_error"), "{text}");
    // the binding, and the accessor type's
    // `__changed: ::session_runtime::__private::FieldSet`
    assert_private_only(expansion, "session_runtime", 2);
}

#[test]
fn cookie_only_session_names_only_private() {
    let source = r#"
        #[session(storage = "cookie")]
        struct Small {
            #[session(max_len = 4)]
            tags: Vec<u8>,
            count: u32,
        }
    "#;
    assert_private_only(super::session(&input(source)), "session_runtime", 2);
}

#[test]
fn crate_override_is_bound_once() {
    let source = r#"
        #[session(crate = framework::sessions, storage = "server")]
        struct Cart { count: u32 }
    "#;
    let expansion = super::session(&input(source));
    let text = expansion.to_string();
    assert!(text.contains("use framework :: sessions as __sk"), "{text}");
    assert!(
        text.contains("__changed : framework :: sessions :: __private :: FieldSet"),
        "{text}"
    );
    assert_private_only(expansion, "", 0);
}

#[test]
fn session_fallback_names_only_private() {
    let source = "struct Cart { #[session(bogus)] count: u32 }";
    let expansion = super::session(&input(source));
    let text = expansion.to_string();
    assert!(text.contains("compile_error"), "{text}");
    assert!(text.contains("__private :: Unknown"), "{text}");
    // `::core::compile_error!` from syn aside
    assert_private_only(
        syn::parse_str(&text.replace(":: core :: compile_error", "compile_error")).unwrap(),
        "session_runtime",
        2,
    );
}

#[test]
fn max_encoded_len_names_only_private() {
    for (source, crate_paths) in [
        ("struct Item { sku: u32, name: Option<u8> }", 1),
        ("enum Choice<T> { A, B(T, u8), C { x: u16 } }", 1),
        (
            "#[session(crate = \"framework::sessions\")] struct Item(u32);",
            0,
        ),
    ] {
        let expansion = super::max_encoded_len(&input(source));
        let text = expansion.to_string();
        assert!(text.contains("const _ : () ="), "{text}");
        assert!(!text.contains("compile_error"), "{text}");
        assert_private_only(expansion, "session_runtime", crate_paths);
    }
}

#[test]
fn max_encoded_len_fallback_is_wrapped() {
    let source = "#[session(bogus)] struct Item { sku: u32 }";
    let text = super::max_encoded_len(&input(source))
        .to_string()
        .replace(":: core :: compile_error", "compile_error");
    assert!(
        text.contains("__sk :: __private :: MaxEncodedLen for Item"),
        "{text}"
    );
    assert_private_only(syn::parse_str(&text).unwrap(), "session_runtime", 1);
}
