//! The sealed envelope: byte layout, length constants and the cookie budget.
//!
//! ```text
//! envelope  = header sealed                      (then base64url, no padding)
//! header    = format:u8 key_id:u8 codec_id:u8
//! format    = 0x01 (v1, AES-256-GCM) | 0x02 (v1, HMAC-SHA256)
//! sealed    = nonce[12] ciphertext(payload) tag[16]        (format 0x01)
//!           | payload mac[32]                               (format 0x02)
//! payload   = fingerprint:u64 issued_at:u64 expires_at:u64 lifetime:u32 flags:u8 body
//! ```
//!
//! Integers are little-endian; times are Unix seconds. The AEAD's associated
//! data, and the MAC's input before the payload, is the *binding*:
//! `len(name):u32 name header` — so a value cannot be replayed under another
//! cookie name, key id, codec or format. Server-side records bind their store
//! key instead of a cookie name.

use super::Meta;

/// The format byte of a v1 encrypted envelope.
pub const FORMAT_ENCRYPTED: u8 = 0x01;
/// The format byte of a v1 signed envelope.
pub const FORMAT_SIGNED: u8 = 0x02;
/// Bytes of the clear header.
pub const HEADER_LEN: usize = 3;
/// Bytes of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes of an HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Bytes of the payload's fixed prefix before the body.
pub const META_LEN: usize = 8 + 8 + 8 + 4 + 1;
/// The most bytes sealing adds to a body, in the larger of the two modes.
pub const MAX_OVERHEAD: usize = HEADER_LEN + META_LEN + max(NONCE_LEN + TAG_LEN, MAC_LEN);
/// Browsers keep at most this many bytes of a cookie's name and value.
pub const COOKIE_LIMIT: usize = 4096;
/// The cookie-name prefix the layer may add (`__Host-`), counted in every
/// budget so enabling it can never push a Cookie session over the limit.
pub const NAME_PREFIX_ALLOWANCE: usize = "__Host-".len();

/// Flag bit: a browser-session cookie (no `Max-Age`).
const FLAG_BROWSER_SESSION: u8 = 0b1;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Characters of base64url without padding for `n` bytes.
#[must_use]
pub const fn base64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// The largest encoded body whose sealed cookie, under a name of
/// `cookie_name_len` bytes (plus the `__Host-` allowance and the `=`), stays
/// within [`COOKIE_LIMIT`] in either mode.
#[must_use]
pub const fn cookie_body_budget(cookie_name_len: usize) -> usize {
    let name = cookie_name_len + NAME_PREFIX_ALLOWANCE + 1;
    if name >= COOKIE_LIMIT {
        return 0;
    }
    // the largest n with ceil(4n / 3) <= room is floor(3 * room / 4)
    let envelope = (COOKIE_LIMIT - name) * 3 / 4;
    envelope.saturating_sub(MAX_OVERHEAD)
}

/// The sealed length of a body of `body_len` bytes, as base64url characters.
#[must_use]
pub const fn sealed_len(body_len: usize, encrypted: bool) -> usize {
    let tags = if encrypted {
        NONCE_LEN + TAG_LEN
    } else {
        MAC_LEN
    };
    base64_len(HEADER_LEN + META_LEN + tags + body_len)
}

/// Appends the payload's fixed prefix: fingerprint, times, lifetime, flags.
pub(crate) fn write_meta(meta: &Meta, fingerprint: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&meta.issued_at.to_le_bytes());
    out.extend_from_slice(&meta.expires_at.to_le_bytes());
    out.extend_from_slice(&meta.lifetime.to_le_bytes());
    out.push(if meta.browser_session {
        FLAG_BROWSER_SESSION
    } else {
        0
    });
}

/// Reads the payload's fixed prefix: the fingerprint and the times.
pub(crate) fn read_meta(payload: &[u8]) -> Option<(u64, Meta)> {
    let fixed: &[u8; META_LEN] = payload.get(..META_LEN)?.try_into().ok()?;
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&fixed[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let mut lifetime = [0u8; 4];
    lifetime.copy_from_slice(&fixed[24..28]);
    Some((
        u64_at(0),
        Meta {
            issued_at: u64_at(8),
            expires_at: u64_at(16),
            lifetime: u32::from_le_bytes(lifetime),
            browser_session: fixed[28] & FLAG_BROWSER_SESSION != 0,
        },
    ))
}

/// Contexts up to this long (every sensible cookie name, and a store key in
/// hex) build their binding on the stack.
const INLINE_CONTEXT: usize = 96;

/// The binding (associated data / MAC prefix) for a context and a header:
/// `len(context):u32 context header`.
pub(crate) enum Binding {
    Inline([u8; 4 + INLINE_CONTEXT + HEADER_LEN], usize),
    Heap(Vec<u8>),
}

impl Binding {
    pub(crate) fn new(context: &[u8], header: &[u8; HEADER_LEN]) -> Self {
        let len = (context.len() as u32).to_le_bytes();
        if context.len() <= INLINE_CONTEXT {
            let mut buf = [0u8; 4 + INLINE_CONTEXT + HEADER_LEN];
            let total = 4 + context.len() + HEADER_LEN;
            buf[..4].copy_from_slice(&len);
            buf[4..4 + context.len()].copy_from_slice(context);
            buf[4 + context.len()..total].copy_from_slice(header);
            Self::Inline(buf, total)
        } else {
            let mut out = Vec::with_capacity(4 + context.len() + HEADER_LEN);
            out.extend_from_slice(&len);
            out.extend_from_slice(context);
            out.extend_from_slice(header);
            Self::Heap(out)
        }
    }

    /// The whole binding (the AEAD's associated data).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline(buf, len) => &buf[..*len],
            Self::Heap(vec) => vec,
        }
    }

    /// The binding without the header (the MAC covers the header as part of
    /// the envelope that follows).
    pub(crate) fn context_part(&self) -> &[u8] {
        let all = self.as_bytes();
        &all[..all.len() - HEADER_LEN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_is_the_same_inline_and_on_the_heap() {
        let header = [FORMAT_ENCRYPTED, 7, 1];
        for len in [0, 1, INLINE_CONTEXT, INLINE_CONTEXT + 1, 300] {
            let context = vec![b'x'; len];
            let binding = Binding::new(&context, &header);
            let mut expected = (len as u32).to_le_bytes().to_vec();
            expected.extend_from_slice(&context);
            expected.extend_from_slice(&header);
            assert_eq!(binding.as_bytes(), expected.as_slice());
            assert_eq!(
                binding.context_part(),
                &expected[..expected.len() - HEADER_LEN]
            );
            assert_eq!(
                matches!(binding, Binding::Inline(..)),
                len <= INLINE_CONTEXT
            );
        }
    }

    #[test]
    fn budget_is_tight() {
        for name_len in [1usize, 4, 32, 200] {
            let body = cookie_body_budget(name_len);
            let total = name_len + NAME_PREFIX_ALLOWANCE + 1;
            for encrypted in [true, false] {
                assert!(total + sealed_len(body, encrypted) <= COOKIE_LIMIT);
            }
            // one more byte overflows in the worse mode
            let worst = sealed_len(body + 1, true).max(sealed_len(body + 1, false));
            assert!(total + worst > COOKIE_LIMIT, "name {name_len}");
        }
        assert_eq!(cookie_body_budget(5000), 0);
    }
}
