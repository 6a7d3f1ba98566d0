//! How field values become bytes.
//!
//! A session is encoded field by field, each through the configured [`Codec`],
//! back to back with no framing of our own: the field list is known at compile
//! time on both sides. The sealed envelope records the codec's [`ID`](Codec::ID),
//! so switching codecs turns old cookies into "no session" rather than
//! garbage.
//!
//! | codec | feature | notes |
//! | --- | --- | --- |
//! | [`Bincode`] | always | bincode `=2.0.1`, serde, standard config (varints), decode limit 1 MiB. The crate is marked unmaintained (RUSTSEC-2025-0141) and 3.0.0 is empty, so the version is pinned exactly. |
//! | `Postcard` | `postcard` | postcard 1.x: maintained, stable documented wire format, slightly smaller varints for small values. |

mod bincode_codec;
#[cfg(feature = "postcard")]
mod postcard_codec;

pub use bincode_codec::Bincode;
#[cfg(feature = "postcard")]
pub use postcard_codec::Postcard;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest session there is, 1 MiB (gae-sessions' cap): the most
/// bytes any one decode may allocate for (larger inputs are refused, never
/// allocated), so also the default and the largest
/// [`SessionLayer::with_max_size`](crate::SessionLayer::with_max_size), and
/// the default record limit of every store (`with_max_record`).
pub const DECODE_LIMIT: usize = 1 << 20;

/// A serde data format that session fields are written in.
///
/// Implemented by zero-sized marker types; the layer and the sealer are generic
/// over it, so the choice costs nothing at run time.
pub trait Codec: Copy + Default + core::fmt::Debug + Send + Sync + 'static {
    /// The byte that identifies this codec in a sealed envelope.
    const ID: u8;

    /// A short name for logs and `inspect`.
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    ///
    /// [`CodecError::Encode`] when the value's `Serialize` impl fails (for
    /// example a map with non-string keys in a format that needs them).
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes one value from the front of `input`; returns it and the number
    /// of bytes read.
    ///
    /// # Errors
    ///
    /// [`CodecError::Decode`] for malformed or truncated input, or input that
    /// would allocate more than [`DECODE_LIMIT`].
    fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), CodecError>;
}

/// Encoding or decoding a session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A value could not be encoded.
    #[error("cannot encode session field `{field}` with {codec}")]
    Encode {
        /// The field, or `?` when not known.
        field: &'static str,
        /// The codec's name.
        codec: &'static str,
        /// What the format reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Bytes could not be decoded as the expected type.
    #[error("cannot decode session field `{field}` with {codec}")]
    Decode {
        /// The field, or `?` when not known.
        field: &'static str,
        /// The codec's name.
        codec: &'static str,
        /// What the format reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `#[session(max_len = N)]` field holds more than `N`.
    #[error("session field `{field}` has length {len}, over its `max_len` of {max_len}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Its limit.
        max_len: usize,
    },
    /// Bytes were left over after the last field: the data was written by a
    /// different struct.
    #[error("{0} unexpected bytes after the last session field")]
    TrailingBytes(usize),
}

impl CodecError {
    /// Names the field an error came from (codecs do not know it).
    #[must_use]
    pub fn in_field(mut self, name: &'static str) -> Self {
        match &mut self {
            Self::Encode { field, .. } | Self::Decode { field, .. } => *field = name,
            Self::TooLong { .. } | Self::TrailingBytes(_) => {}
        }
        self
    }
}
