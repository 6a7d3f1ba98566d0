//! Per-field encode/decode entry points used by the derive's expansion.
//!
//! Each trait is generic over a marker type named after the field, so the
//! compile error for an unsuitable field type says which field it is and what
//! the type lacks, and points at the field's type.

use crate::bound::{CapacityError, HasLength, MaxEncodedLen};
use crate::codec::{Codec, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A field type that can be encoded.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which does not implement `Serialize`",
    label = "cannot be encoded",
    note = "derive `serde::Serialize` for it, or mark the field `#[session(skip)]` if it need not be stored"
)]
pub trait SerializeField<Field> {
    /// Appends the field's encoding.
    ///
    /// # Errors
    ///
    /// As [`Codec::encode`], naming the field.
    fn encode_field<C: Codec>(
        &self,
        name: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError>;
}

impl<T: Serialize, Field> SerializeField<Field> for T {
    #[inline]
    fn encode_field<C: Codec>(
        &self,
        name: &'static str,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        C::encode(self, out).map_err(|e| e.in_field(name))
    }
}

/// A field type that can be decoded into an owned value.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which does not implement `DeserializeOwned`",
    label = "cannot be decoded",
    note = "derive `serde::Deserialize` for it (borrowed data such as `&str` cannot be stored), or mark the field `#[session(skip)]`"
)]
pub trait DeserializeField<Field>: Sized {
    /// Decodes the field from the front of `input`; returns it and the bytes
    /// read.
    ///
    /// # Errors
    ///
    /// As [`Codec::decode`], naming the field.
    fn decode_field<C: Codec>(
        name: &'static str,
        input: &[u8],
    ) -> Result<(Self, usize), CodecError>;
}

impl<T: DeserializeOwned, Field> DeserializeField<Field> for T {
    #[inline]
    fn decode_field<C: Codec>(
        name: &'static str,
        input: &[u8],
    ) -> Result<(Self, usize), CodecError> {
        C::decode(input).map_err(|e| e.in_field(name))
    }
}

/// A field type that can move between threads with its request.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which is not `Send + 'static`",
    label = "cannot cross threads with the request",
    note = "sessions move between threads: use `Arc` instead of `Rc`, owned data instead of references, and no raw pointers"
)]
pub trait SendField<Field> {}

impl<T: Send + 'static, Field> SendField<Field> for T {}

/// A field type with a size bound.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which has no size bound",
    label = "`{Self}` does not implement `MaxEncodedLen`",
    note = "add `#[derive(session_runtime::MaxEncodedLen)]` to your own types; wrap a foreign type, or implement `MaxEncodedLen` with `MAX_ENCODED_LEN = None` when it is unbounded"
)]
pub trait BoundedField<Field> {
    /// The type's `MAX_ENCODED_LEN`.
    const BOUND: Option<usize>;
    /// The type's `SHAPE`.
    const SHAPE: u64;
}

impl<T: MaxEncodedLen + ?Sized, Field> BoundedField<Field> for T {
    const BOUND: Option<usize> = T::MAX_ENCODED_LEN;
    const SHAPE: u64 = T::SHAPE;
}

/// A field type that `#[session(max_len = N)]` can limit.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` has type `{Self}`, which has no length for `max_len` to limit",
    label = "`max_len` applies to `String`, `Vec<T>`, `VecDeque<T>`, sets and maps",
    note = "use a bounded type instead, or remove `max_len`"
)]
pub trait LimitedField<Field> {
    /// [`HasLength::Item`].
    type Item: MaxEncodedLen + ?Sized;
    /// [`HasLength::Value`].
    type Value: MaxEncodedLen + ?Sized;
    /// The bound of one item.
    const ITEM_LEN: Option<usize>;
    /// Whether [`Item`](Self::Item) has a size bound.
    const ITEMS_BOUNDED: bool;
    /// Whether [`Value`](Self::Value) has a size bound.
    const VALUES_BOUNDED: bool;
    /// The current length.
    fn field_len(&self) -> usize;
}

impl<T: HasLength, Field> LimitedField<Field> for T {
    type Item = T::Item;
    type Value = T::Value;
    const ITEM_LEN: Option<usize> = T::ITEM_LEN;
    const ITEMS_BOUNDED: bool = <T::Item as MaxEncodedLen>::MAX_ENCODED_LEN.is_some();
    const VALUES_BOUNDED: bool = <T::Value as MaxEncodedLen>::MAX_ENCODED_LEN.is_some();
    #[inline]
    fn field_len(&self) -> usize {
        self.length()
    }
}

/// A compile-time condition as a type: `Holds<true>` or `Holds<false>`, so
/// that a trait bound, and its `on_unimplemented` message, can depend on a
/// const (`Holds<{ cond }>: Trait`).
#[derive(Debug)]
pub struct Holds<const CONDITION: bool>;

/// The items of a `max_len` field in a `storage = "cookie"` struct have a
/// size bound: the derive writes `Holds<{ ITEMS_BOUNDED }>: ItemBound<..>`
/// with [`LimitedField::ITEMS_BOUNDED`] of the field's type.
/// A `max_len` limits how many items a field holds, not how large each one
/// is, so without it the field (and the session) has no bound.
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` is limited by `max_len`, but its element or key type `{Item}` has no size bound, so the field has none and `storage = \"cookie\"` cannot hold it",
    label = "`max_len` limits how many items this holds, not how large each one is",
    note = "give the items a bound: `BoundedString<N>` instead of `String`, `BoundedVec<T, N>` instead of `Vec<T>`, `BoundedMap<K, V, N>` instead of a map, `#[derive(MaxEncodedLen)]` on your own types; or remove `storage = \"cookie\"` to store the session adaptively"
)]
pub trait ItemBound<Field, Item: ?Sized> {}

impl<Field, Item: ?Sized> ItemBound<Field, Item> for Holds<true> {}

/// [`ItemBound`] for the values of a map ([`LimitedField::VALUES_BOUNDED`]).
#[diagnostic::on_unimplemented(
    message = "session field `{Field}` is limited by `max_len`, but its value type `{Value}` has no size bound, so the field has none and `storage = \"cookie\"` cannot hold it",
    label = "`max_len` limits how many entries this holds, not how large each value is",
    note = "give the values a bound: `BoundedString<N>` instead of `String`, `BoundedVec<T, N>` instead of `Vec<T>`, `BoundedMap<K, V, N>` instead of a map, `#[derive(MaxEncodedLen)]` on your own types; or remove `storage = \"cookie\"` to store the session adaptively"
)]
pub trait ValueBound<Field, Value: ?Sized> {}

impl<Field, Value: ?Sized> ValueBound<Field, Value> for Holds<true> {}

/// Refuses a value whose length is over a `max_len` limit, handing it back.
///
/// # Errors
///
/// [`CapacityError`] holding `value` when `len > max_len`.
pub fn refuse_over<T>(value: T, len: usize, max_len: usize) -> Result<T, CapacityError<T>> {
    if len > max_len {
        return Err(CapacityError::new(value, max_len, "value"));
    }
    Ok(value)
}

/// The encode- and decode-time check of a `max_len` limit.
///
/// # Errors
///
/// [`CodecError::TooLong`] when `len > max_len`.
pub fn ensure_len(len: usize, max_len: usize, field: &'static str) -> Result<(), CodecError> {
    if len > max_len {
        return Err(CodecError::TooLong {
            field,
            len,
            max_len,
        });
    }
    Ok(())
}
