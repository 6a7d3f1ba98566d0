//! A server-side session sealed for its store record, and opened again:
//! the durable blob and, for a cache tier, the quick fields' blob apart.
//! A record opens only under the key it was written for and for the
//! session type (cookie) that wrote it.

use super::Core;
use crate::data::{Part, SessionData};
use crate::id::StoreKey;
use crate::seal::{Meta, OpenError, Opened};
use crate::store::Record;

/// The sealing context of a server record: the cookie name and the row's
/// key. A record opens only under the key it was written for and for the
/// session type (cookie) that wrote it; the fingerprint inside the
/// envelope then checks the shape.
fn record_context(cookie_name: &str, key: &StoreKey) -> String {
    format!("{cookie_name}/{}", key.to_hex())
}

/// The sealing context of a record's quick-fields blob: distinct from the
/// durable blob's, so one cannot be passed off as the other.
fn quick_context(context: &str) -> String {
    format!("{context}/quick")
}

impl<S: SessionData> Core<S> {
    /// Seals `data` for the store under `key`: the durable blob and, when
    /// `split_quick`, the quick fields' blob.
    pub(crate) fn seal_record(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
        split_quick: bool,
    ) -> Result<(Vec<u8>, Vec<u8>), crate::codec::CodecError> {
        let context = record_context(&self.cookie_name, key);
        let seal = |part, context: &str| {
            self.codec
                .seal_part(&self.sealer, context, meta, data, part)
        };
        if split_quick {
            Ok((
                seal(Part::Durable, &context)?,
                seal(Part::Quick, &quick_context(&context))?,
            ))
        } else {
            Ok((seal(Part::All, &context)?, Vec::new()))
        }
    }

    /// Seals only the quick fields of `data` for the record under `key`.
    pub(crate) fn seal_quick(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
    ) -> Result<Vec<u8>, crate::codec::CodecError> {
        let context = quick_context(&record_context(&self.cookie_name, key));
        self.codec
            .seal_part(&self.sealer, &context, meta, data, Part::Quick)
    }

    /// Opens a record sealed by [`seal_record`](Self::seal_record), in any
    /// shape of the session's chain. `store_splits`: the store keeps quick
    /// fields apart, so whichever shape wrote the record sealed its durable
    /// fields alone in the main blob (all of them, for a shape without
    /// quick fields), whether or not this one has quick fields, and its
    /// quick fields in the quick blob.
    pub(crate) fn open_record(
        &self,
        key: &StoreKey,
        record: Record,
        now: u64,
        store_splits: bool,
    ) -> Result<Opened<S>, OpenError> {
        let context = record_context(&self.cookie_name, key);
        // a shape's durable part is all of it when it has no quick field,
        // so this reads both the records a shape with quick fields wrote
        // and those one without wrote (a `quick` added or removed by a
        // `previous` or `next` shape)
        let part = if store_splits {
            Part::Durable
        } else {
            Part::All
        };
        // the quick fields sealed apart join the durable ones before any
        // conversion, so a `quick` added or removed by a shape change keeps
        // the value (best effort, as quick fields are)
        // (its context is built only for a record that has the blob: this
        // is every server-side load)
        let quick_context =
            (store_splits && !record.quick.is_empty()).then(|| quick_context(&context));
        let quick = quick_context
            .as_deref()
            .map(|quick_context| (quick_context, record.quick));
        let opened = self.codec.open_with_quick(
            &self.sealer,
            &context,
            record.data,
            part,
            quick,
            Some(now),
        )?;
        let data = opened.data;
        // the full encoding, to tell later whether anything changed
        let body = self.codec.encode(&data).map_err(OpenError::Decode)?;
        Ok(Opened {
            data,
            meta: opened.meta,
            body,
            stale_key: opened.stale_key,
            shape: opened.shape,
        })
    }
}
