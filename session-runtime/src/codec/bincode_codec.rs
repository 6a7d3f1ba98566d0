use super::{Codec, CodecError, DECODE_LIMIT};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// bincode 2 with serde, standard configuration (little-endian varints) and a
/// decode limit of [`DECODE_LIMIT`]. The default codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bincode;

const CONFIG: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT>,
> = bincode::config::standard().with_limit::<DECODE_LIMIT>();

impl Codec for Bincode {
    const ID: u8 = 1;
    const NAME: &'static str = "bincode";

    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        bincode::serde::encode_into_std_write(value, out, CONFIG)
            .map(drop)
            .map_err(|e| CodecError::Encode {
                field: "?",
                codec: Self::NAME,
                source: Box::new(e),
            })
    }

    fn decode<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), CodecError> {
        bincode::serde::decode_from_slice(input, CONFIG).map_err(|e| CodecError::Decode {
            field: "?",
            codec: Self::NAME,
            source: Box::new(e),
        })
    }
}
