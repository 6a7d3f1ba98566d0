//! Typed web sessions.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bound;
pub mod codec;
mod data;
mod field;
pub mod seal;

pub use bound::{BoundedMap, BoundedString, BoundedVec, CapacityError, HasLength, MaxEncodedLen};
#[cfg(feature = "postcard")]
pub use codec::Postcard;
pub use codec::{Bincode, Codec, CodecError};
pub use data::{
    FieldInfo, FieldSet, Part, SessionAccess, SessionData, Storage, decode_from_slice,
    encode_to_vec,
};
pub use seal::{KeyError, KeyRing, MasterKey, Meta, Mode, OpenError, Opened, Sealer};

#[cfg(feature = "derive")]
pub use session_derive::{MaxEncodedLen, Session};

/// Not public API: what `#[derive(Session)]` expands to.
#[doc(hidden)]
pub mod __private {
    pub use crate::bound::{add, collection, length::limited, max, mul, prefix_len};
    pub use crate::data::{MESSAGE_CAPACITY, StorageError, StorageRequest, decide_storage};
    pub use crate::field::{
        DeserializeField, SendField, SerializeField, check_max_len, ensure_max_len, fresh,
    };
    pub use core;
    pub use serde;
}
