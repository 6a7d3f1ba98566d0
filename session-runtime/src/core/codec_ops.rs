//! [`CodecOps`]: the few operations the core needs from a codec, object
//! safe, so neither the core nor the extractor type carries a codec
//! parameter.

use crate::codec::{Codec, CodecError};
use crate::data::{Part, SessionData};
use crate::seal::{Meta, OpenError, Opened, Sealer};
use std::marker::PhantomData;

pub(crate) trait CodecOps<S>: Send + Sync + 'static {
    /// The codec's name, for `Debug`.
    fn name(&self) -> &'static str;
    /// Every stored field, encoded.
    fn encode(&self, data: &S) -> Result<Vec<u8>, CodecError>;
    /// A cookie or token value, opened (in any shape of the chain).
    fn open_value(
        &self,
        sealer: &Sealer,
        context: &str,
        value: &[u8],
        now: u64,
    ) -> Result<Opened<S>, OpenError>;
    /// An encoded body sealed for a cookie or token value (raw bytes: the
    /// caller base64-encodes them where the value goes).
    fn seal_value(&self, sealer: &Sealer, context: &str, meta: &Meta, body: &[u8]) -> Vec<u8>;
    /// The fields of `part`, sealed as a raw blob for a store.
    fn seal_part(
        &self,
        sealer: &Sealer,
        context: &str,
        meta: &Meta,
        data: &S,
        part: Part,
    ) -> Result<Vec<u8>, CodecError>;
    /// A record's blob holding the fields of `part`, opened with the quick
    /// fields' blob (its context and bytes) when the store keeps one.
    fn open_with_quick(
        &self,
        sealer: &Sealer,
        context: &str,
        blob: Vec<u8>,
        part: Part,
        quick: Option<(&str, Vec<u8>)>,
        now: Option<u64>,
    ) -> Result<Opened<S>, OpenError>;
}

/// The codec `C` for session type `S`.
pub(crate) struct With<C>(PhantomData<fn() -> C>);

impl<C> With<C> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<S: SessionData, C: Codec> CodecOps<S> for With<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn encode(&self, data: &S) -> Result<Vec<u8>, CodecError> {
        crate::data::encode_to_vec::<S, C>(data)
    }

    fn open_value(
        &self,
        sealer: &Sealer,
        context: &str,
        value: &[u8],
        now: u64,
    ) -> Result<Opened<S>, OpenError> {
        sealer.open_bytes::<S, C>(context, value, now)
    }

    fn seal_value(&self, sealer: &Sealer, context: &str, meta: &Meta, body: &[u8]) -> Vec<u8> {
        sealer.seal_raw::<C>(context, S::FINGERPRINT, meta, body)
    }

    fn seal_part(
        &self,
        sealer: &Sealer,
        context: &str,
        meta: &Meta,
        data: &S,
        part: Part,
    ) -> Result<Vec<u8>, CodecError> {
        let mut body = Vec::new();
        data.encode::<C>(part, &mut body)?;
        Ok(sealer.seal_raw::<C>(context, S::FINGERPRINT, meta, &body))
    }

    fn open_with_quick(
        &self,
        sealer: &Sealer,
        context: &str,
        blob: Vec<u8>,
        part: Part,
        quick: Option<(&str, Vec<u8>)>,
        now: Option<u64>,
    ) -> Result<Opened<S>, OpenError> {
        sealer.open_with_quick::<S, C>(context, blob, part, quick, now)
    }
}
