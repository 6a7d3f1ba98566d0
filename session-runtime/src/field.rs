//! Per-field encode/decode entry points used by the derive's expansion.
//!
//! Each trait is generic over a marker type named after the field, so the
//! compile error for an unsuitable field type says which field it is and what
//! the type lacks, and points at the field's type.

use crate::bound::CapacityError;
use crate::bound::HasLength;
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

/// Refuses a value longer than a `max_len` limit, handing it back.
///
/// # Errors
///
/// [`CapacityError`] holding `value` when it is too long.
pub fn check_max_len<T: HasLength>(value: T, max_len: usize) -> Result<T, CapacityError<T>> {
    if value.length() > max_len {
        return Err(CapacityError::new(value, max_len, "value"));
    }
    Ok(value)
}

/// The encode-time check of a `max_len` limit.
///
/// # Errors
///
/// [`CodecError::TooLong`] when the value is too long.
pub fn ensure_max_len<T: HasLength>(
    value: &T,
    max_len: usize,
    field: &'static str,
) -> Result<(), CodecError> {
    let len = value.length();
    if len > max_len {
        return Err(CodecError::TooLong {
            field,
            len,
            max_len,
        });
    }
    Ok(())
}

/// A default session struct (for `take_x` accessors).
#[must_use]
pub fn fresh<S: crate::SessionData>() -> S {
    S::default()
}
