//! The wrapper around what both derives emit (after serde_derive's
//! `dummy.rs`): one anonymous const that binds the runtime crate as `__sk`,
//! so every path inside is `__sk::__private::..` and the expansion adds no
//! name to the user's module. Only the accessor type of `#[derive(Session)]`
//! stays outside, since users name it.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Path;

/// What one derive writes.
#[derive(Default)]
pub(crate) struct Expansion {
    /// Items the user names (`CartAccess`), emitted as they are: the one
    /// place that spells the crate path out, as `<crate>::__private::..`.
    pub(crate) public: TokenStream,
    /// The impls and checks: inside the const, where `__sk` is bound.
    pub(crate) private: TokenStream,
}

/// `expansion` with its private part in
/// `const _: () = { use <crate> as __sk; .. };`, the crate being
/// `::session_runtime` or the `crate = path` override. A `use`, not an
/// `extern crate`: rustc prints a trait's path through a local
/// `extern crate` alias, so errors would name `__sk::__private::..`
/// instead of `session_runtime::__private::..`.
pub(crate) fn wrap_in_const(krate: Option<&Path>, expansion: Expansion) -> TokenStream {
    let Expansion { public, private } = expansion;
    if private.is_empty() {
        return public;
    }
    let krate = krate.map_or_else(|| quote!(::session_runtime), |path| quote!(#path));
    quote! {
        #public

        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            use #krate as __sk;
            #private
        };
    }
}

/// `__sk::__private`: how the code inside the wrapper names every item of
/// the runtime, std's included.
pub(crate) fn private() -> TokenStream {
    private_at(Span::call_site())
}

/// [`private`] spanned at `span`, so an error about a path that starts
/// with it is reported there (the field's type, the `previous` type)
/// rather than on the derive.
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote_spanned!(span=> __sk::__private)
}
