//! The attribute names we accept, in one place.

use std::fmt;
use syn::{Ident, Path};

#[derive(Copy, Clone)]
pub(crate) struct Symbol(&'static str);

pub(crate) const SESSION: Symbol = Symbol("session");
// container
pub(crate) const COOKIE: Symbol = Symbol("cookie");
pub(crate) const STORAGE: Symbol = Symbol("storage");
pub(crate) const CRATE: Symbol = Symbol("crate");
pub(crate) const PREVIOUS: Symbol = Symbol("previous");
pub(crate) const NEXT: Symbol = Symbol("next");
// field
pub(crate) const QUICK: Symbol = Symbol("quick");
pub(crate) const SKIP: Symbol = Symbol("skip");
pub(crate) const USER: Symbol = Symbol("user");
pub(crate) const MAX_LEN: Symbol = Symbol("max_len");

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl PartialEq<Symbol> for &Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}
