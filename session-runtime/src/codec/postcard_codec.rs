use super::{Codec, CodecError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// postcard 1.x: a maintained format with a stable, documented wire format.
/// Enabled by the `postcard` feature.
///
/// Decoding never allocates more than the (already size-checked) input
/// implies, so it needs no separate limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Postcard;

impl Codec for Postcard {
    const ID: u8 = 2;
    const NAME: &'static str = "postcard";

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let buffer = core::mem::take(out);
        *out = postcard::to_extend(value, buffer).map_err(|e| CodecError::Encode {
            field: "?",
            codec: Self::NAME,
            source: Box::new(e),
        })?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), CodecError> {
        let (value, rest) = postcard::take_from_bytes(input).map_err(|e| CodecError::Decode {
            field: "?",
            codec: Self::NAME,
            source: Box::new(e),
        })?;
        Ok((value, input.len() - rest.len()))
    }
}
