//! A session type's [`Storage`] as a type, so that the layer's
//! constructors can require it in a trait bound.
//!
//! `SessionLayer::new` is for cookie-only session types and
//! `SessionLayer::with_store` for the others. A `const { assert!(..) }` on
//! `S::STORAGE` in their bodies would fail only when the function is
//! monomorphized: `cargo build` reports it, pointing into the layer, while
//! `cargo check` and rust-analyzer pass. A bound on `S::Tier` is checked by
//! the type checker, at the user's call.
//!
//! `#[derive(Session)]` computes the decision as a const from the field
//! types (not from the impl's own consts, which would be a cycle) and
//! selects the type with a const generic argument:
//! `type Tier = <TierOf<{ tier_code(__STORAGE) }> as TierCode>::Tier`.
//! `STORAGE` is read from the same decision, and the expansion asserts that
//! the two agree.
//!
//! Nothing here is public API; the derive reaches it through `__private`.

use crate::data::{Storage, StorageError};

/// A storage decision as a const generic argument; [`TierCode`] maps it to
/// its type.
#[derive(Debug)]
pub struct TierOf<const CODE: u8>;

/// The type of a [`TierOf`] code.
pub trait TierCode {
    /// [`Cookie`], [`Adaptive`] or [`Server`].
    type Tier: Tier;
}

const COOKIE: u8 = 0;
const ADAPTIVE: u8 = 1;
const SERVER: u8 = 2;

impl TierCode for TierOf<COOKIE> {
    type Tier = Cookie;
}

impl TierCode for TierOf<ADAPTIVE> {
    type Tier = Adaptive;
}

impl TierCode for TierOf<SERVER> {
    type Tier = Server;
}

/// The code of a storage decision, for [`TierOf`]. A refused
/// `storage = "cookie"` request is `Cookie`: it is a compile error of its
/// own, and the layer should not add a second one.
#[must_use]
pub const fn tier_code(decision: Result<Storage, StorageError>) -> u8 {
    match decision {
        Ok(Storage::Cookie) | Err(_) => COOKIE,
        Ok(Storage::Adaptive) => ADAPTIVE,
        Ok(Storage::Server) => SERVER,
    }
}

/// A tier type: the [`Storage`] it stands for.
pub trait Tier {
    /// `None` for [`Unknown`], the tier of a struct whose derive failed.
    const STORAGE: Option<Storage>;
}

/// [`Storage::Cookie`].
#[derive(Debug)]
pub struct Cookie;

/// [`Storage::Adaptive`].
#[derive(Debug)]
pub struct Adaptive;

/// [`Storage::Server`].
#[derive(Debug)]
pub struct Server;

/// The tier of the stub impl written after a derive error: both layer
/// constructors accept it, so the error is not followed by another one.
#[derive(Debug)]
pub struct Unknown;

impl Tier for Cookie {
    const STORAGE: Option<Storage> = Some(Storage::Cookie);
}

impl Tier for Adaptive {
    const STORAGE: Option<Storage> = Some(Storage::Adaptive);
}

impl Tier for Server {
    const STORAGE: Option<Storage> = Some(Storage::Server);
}

impl Tier for Unknown {
    const STORAGE: Option<Storage> = None;
}

/// Whether a tier type stands for `storage`: the derive asserts it of
/// every session type's `Tier` and `STORAGE`.
#[must_use]
pub const fn tier_agrees<T: Tier>(storage: Storage) -> bool {
    matches!(
        (T::STORAGE, storage),
        (Some(Storage::Cookie), Storage::Cookie)
            | (Some(Storage::Adaptive), Storage::Adaptive)
            | (Some(Storage::Server), Storage::Server)
    )
}

/// The bound of `SessionLayer::new`: the session type `S` is
/// [`Storage::Cookie`].
#[diagnostic::on_unimplemented(
    message = "`{S}` is not `Storage::Cookie`, so it needs a server-side store: use `SessionLayer::with_store`",
    label = "`SessionLayer::new` is only for session types that always live in their cookie",
    note = "`{S}` has an unbounded field, does not fit a cookie, or is `#[session(storage = \"server\")]`: build its layer with `SessionLayer::<{S}>::with_store(keys, store)`, or give every field a bound (`BoundedString<N>`, `BoundedVec<T, N>`, `max_len` on bounded items) to keep it in its cookie"
)]
pub trait CookieTier<S> {}

impl<S> CookieTier<S> for Cookie {}

#[diagnostic::do_not_recommend]
impl<S> CookieTier<S> for Unknown {}

/// The bound of `SessionLayer::with_store`: the session type `S` is
/// [`Storage::Adaptive`] or [`Storage::Server`].
#[diagnostic::on_unimplemented(
    message = "`{S}` is `Storage::Cookie`, so a store would never be used: use `SessionLayer::new`, or `#[session(storage = \"server\")]` on `{S}` to keep it server-side",
    label = "`SessionLayer::with_store` is only for session types that may live server-side",
    note = "every field of `{S}` is bounded and the sum fits a cookie, so its data always lives in the cookie"
)]
pub trait StoreTier<S> {}

impl<S> StoreTier<S> for Adaptive {}

impl<S> StoreTier<S> for Server {}

#[diagnostic::do_not_recommend]
impl<S> StoreTier<S> for Unknown {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{StorageRequest, decide_storage};

    /// `Tier` stands for the `Storage` of the same decision, for every row
    /// of the table on `Storage` (the derive asserts the same of each type).
    #[test]
    fn tier_follows_the_decision() {
        const fn tier(decision: Result<Storage, StorageError>) -> Option<Storage> {
            match tier_code(decision) {
                COOKIE => <<TierOf<COOKIE> as TierCode>::Tier as Tier>::STORAGE,
                ADAPTIVE => <<TierOf<ADAPTIVE> as TierCode>::Tier as Tier>::STORAGE,
                SERVER => <<TierOf<SERVER> as TierCode>::Tier as Tier>::STORAGE,
                _ => None,
            }
        }
        use StorageRequest::{Auto, Cookie as CookieRequest, Server as ServerRequest};
        for bound in [None, Some(10), Some(1 << 20)] {
            for request in [Auto, CookieRequest, ServerRequest] {
                let decision = decide_storage(bound, 4, request);
                let expected = decision.ok().or(Some(Storage::Cookie));
                assert_eq!(tier(decision), expected, "{bound:?} {request:?}");
            }
        }
        assert!(tier_agrees::<Cookie>(Storage::Cookie));
        assert!(tier_agrees::<Adaptive>(Storage::Adaptive));
        assert!(tier_agrees::<Server>(Storage::Server));
        assert!(!tier_agrees::<Server>(Storage::Cookie));
        assert!(!tier_agrees::<Cookie>(Storage::Adaptive));
        assert!(!tier_agrees::<Unknown>(Storage::Server));
    }
}
