//! A server-side session sealed for its store record, and opened again:
//! the durable blob and, for a cache tier, the quick fields' blob apart.
//! A record opens only under the key it was written for and for the
//! session type (cookie) that wrote it.

use super::Core;
use crate::data::{FieldSet, Part, SessionData};
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

fn quick_fields<S: SessionData>() -> FieldSet {
    let mut set = FieldSet::new();
    for (index, field) in S::FIELDS.iter().enumerate() {
        if field.quick {
            set.insert(index);
        }
    }
    set
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

    /// Opens a record sealed by [`seal_record`](Self::seal_record) with the
    /// same `split_quick`, in any shape of the session's chain.
    pub(crate) fn open_record(
        &self,
        key: &StoreKey,
        record: Record,
        now: u64,
        split_quick: bool,
    ) -> Result<Opened<S>, OpenError> {
        let context = record_context(&self.cookie_name, key);
        let part = if split_quick {
            Part::Durable
        } else {
            Part::All
        };
        let opened = self
            .codec
            .open_part(&self.sealer, &context, record.data, part, Some(now))?;
        let mut data = opened.data;
        if split_quick && !record.quick.is_empty() {
            // quick fields are best effort: a bad blob leaves them default
            let quick = self.codec.open_part(
                &self.sealer,
                &quick_context(&context),
                record.quick,
                Part::Quick,
                None,
            );
            match quick {
                Ok(mut holder) => data.take_fields(&mut holder.data, &quick_fields::<S>()),
                Err(reason) => tracing::debug!(%reason, "quick session fields dropped"),
            }
        }
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
