//! The schema fingerprint: FNV-1a over each stored field's name, type tokens
//! and flags. Changing any of them changes the fingerprint, and sessions
//! written before the change become "no session" instead of mis-decoding.

use crate::ast::Container;
use quote::ToTokens;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

pub(crate) fn fingerprint(cont: &Container<'_>) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    feed(b"sessionkit schema v1");
    for field in cont.fields.iter().filter(|field| field.stored()) {
        feed(field.ident.to_string().as_bytes());
        feed(b":");
        // token text, whitespace-normalised by the tokenizer
        feed(field.ty.to_token_stream().to_string().as_bytes());
        if field.quick() {
            feed(b"#quick");
        }
        if let Some(max_len) = &field.attrs.max_len {
            feed(format!("#max_len={}", max_len.value).as_bytes());
        }
        feed(b";");
    }
    hash
}
