//! The sealed envelope: byte layout, length constants and the cookie budget.
//!
//! ```text
//! envelope  = header sealed                      (then base64url, no padding)
//! header    = format:u8 key_id:u8 codec_id:u8
//! format    = 0x03 (v2, AES-256-GCM) | 0x04 (v2, HMAC-SHA256)
//! sealed    = nonce[12] ciphertext(payload) tag[16]        (format 0x03)
//!           | payload mac[32]                               (format 0x04)
//! payload   = shape:u32 issued_at:u32 valid_for:varint lifetime_flags:varint body
//! valid_for = expires_at - issued_at
//! lifetime_flags = lifetime << 1 | browser_session
//! ```
//!
//! Fixed integers are little-endian; varints are LEB128 (at most 5 bytes,
//! 32 bits); times are Unix seconds, kept in 32 bits (until 2106). `shape`
//! is [`shape_tag`] of the session type's fingerprint. A typical cookie's
//! metadata is 12 bytes (a week's validity in 3, the layer's default
//! lifetime in 1): with the header, nonce and tag an encrypted envelope
//! adds 43 bytes to the encoded session (v1, with 64-bit times and
//! fingerprint, added 60). The AEAD's associated
//! data, and the MAC's input before the payload, is the *binding*:
//! `len(name):u32 name header` — so a value cannot be replayed under another
//! cookie name, key id, codec or format. Server-side records bind their store
//! key instead of a cookie name.

use super::Meta;

/// The format byte of a v2 encrypted envelope.
pub const FORMAT_ENCRYPTED: u8 = 0x03;
/// The format byte of a v2 signed envelope.
pub const FORMAT_SIGNED: u8 = 0x04;
/// Bytes of the clear header.
pub const HEADER_LEN: usize = 3;
/// Bytes of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes of an HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// The fewest bytes of the payload's metadata before the body.
pub const META_MIN_LEN: usize = 4 + 4 + 1 + 1;
/// The most bytes of the payload's metadata before the body (both varints
/// at their longest).
pub const META_LEN: usize = 4 + 4 + VARINT_MAX + VARINT_MAX;
/// Bytes of a 32-bit LEB128 varint at most.
const VARINT_MAX: usize = 5;
/// The most bytes sealing adds to a body, in the larger of the two modes.
pub const MAX_OVERHEAD: usize = HEADER_LEN + META_LEN + max(NONCE_LEN + TAG_LEN, MAC_LEN);
/// Browsers keep at most this many bytes of a cookie's name and value.
pub const COOKIE_LIMIT: usize = 4096;
/// The cookie-name prefix the layer may add (`__Host-`), counted in every
/// budget so enabling it can never push a Cookie session over the limit.
pub const NAME_PREFIX_ALLOWANCE: usize = "__Host-".len();

/// Flag bit: a browser-session cookie (no `Max-Age`).
const FLAG_BROWSER_SESSION: u64 = 0b1;

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

/// The most base64url characters a body of `body_len` bytes seals to (the
/// metadata's varints at their longest).
#[must_use]
pub const fn sealed_len(body_len: usize, encrypted: bool) -> usize {
    let tags = if encrypted {
        NONCE_LEN + TAG_LEN
    } else {
        MAC_LEN
    };
    base64_len(HEADER_LEN + META_LEN + tags + body_len)
}

/// The 32 bits of a session type's 64-bit fingerprint that an envelope
/// carries: both halves folded, so a change anywhere in the shape shows.
/// Telling a handful of shapes of one session type apart needs no more.
#[must_use]
pub const fn shape_tag(fingerprint: u64) -> u32 {
    (fingerprint ^ (fingerprint >> 32)) as u32
}

/// Appends the payload's metadata: shape, times, lifetime, flags. Times
/// past 2106 are kept as 2106.
pub(crate) fn write_meta(meta: &Meta, shape: u32, out: &mut Vec<u8>) {
    let issued_at = u32::try_from(meta.issued_at).unwrap_or(u32::MAX);
    let expires_at = u32::try_from(meta.expires_at).unwrap_or(u32::MAX);
    out.extend_from_slice(&shape.to_le_bytes());
    out.extend_from_slice(&issued_at.to_le_bytes());
    // an expiry before the issue time says "expired" as well as "at it"
    write_varint(u64::from(expires_at.saturating_sub(issued_at)), out);
    let lifetime_flags = u64::from(meta.lifetime) << 1
        | if meta.browser_session {
            FLAG_BROWSER_SESSION
        } else {
            0
        };
    write_varint(lifetime_flags, out);
}

/// Reads the payload's metadata: the shape tag, the times and how many
/// bytes they took.
pub(crate) fn read_meta(payload: &[u8]) -> Option<(u32, Meta, usize)> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            payload.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let shape = u32_at(0)?;
    let issued_at = u32_at(4)?;
    let (valid_for, used) = read_varint(payload.get(8..)?)?;
    let mut at = 8 + used;
    let (lifetime_flags, used) = read_varint(payload.get(at..)?)?;
    at += used;
    let lifetime = u32::try_from(lifetime_flags >> 1).ok()?;
    Some((
        shape,
        Meta {
            issued_at: u64::from(issued_at),
            expires_at: u64::from(issued_at) + valid_for,
            lifetime,
            browser_session: lifetime_flags & FLAG_BROWSER_SESSION != 0,
        },
        at,
    ))
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A LEB128 varint of at most [`VARINT_MAX`] bytes (33 bits): the value
/// and its length. Only what [`write_varint`] writes is accepted (no
/// padding bytes), so every value has one encoding.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(VARINT_MAX).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // a last byte of 0 after others is padding
            return (i == 0 || byte != 0).then_some((value, i + 1));
        }
    }
    None
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

    fn meta(issued_at: u64, expires_at: u64, lifetime: u32, browser_session: bool) -> Meta {
        Meta {
            issued_at,
            expires_at,
            lifetime,
            browser_session,
        }
    }

    #[test]
    fn meta_round_trips_at_every_varint_length() {
        let issued = 1_700_000_000;
        for valid_for in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            604_800,
            u64::from(u32::MAX) - issued,
        ] {
            for lifetime in [0, 1, 63, 64, 604_800, u32::MAX] {
                for browser_session in [false, true] {
                    let meta = meta(issued, issued + valid_for, lifetime, browser_session);
                    let mut out = Vec::new();
                    write_meta(&meta, 0xdead_beef, &mut out);
                    assert!((META_MIN_LEN..=META_LEN).contains(&out.len()));
                    out.extend_from_slice(b"body");
                    let (shape, read, used) = read_meta(&out).expect("reads back");
                    assert_eq!(
                        (shape, read, &out[used..]),
                        (0xdead_beef, meta, &b"body"[..])
                    );
                }
            }
        }
    }

    #[test]
    fn a_default_week_long_cookie_has_twelve_bytes_of_metadata() {
        let mut out = Vec::new();
        write_meta(&meta(1_700_000_000, 1_700_604_800, 0, false), 1, &mut out);
        assert_eq!(out.len(), 12);
    }

    #[test]
    fn times_past_2106_and_expiry_before_issue_stay_expired_safe() {
        let mut out = Vec::new();
        write_meta(&meta(u64::MAX, u64::MAX, 0, false), 1, &mut out);
        let (_, read, _) = read_meta(&out).unwrap();
        assert_eq!(
            (read.issued_at, read.expires_at),
            (u64::from(u32::MAX), u64::from(u32::MAX))
        );
        // an expiry before the issue time reads as expiring at issue time
        out.clear();
        write_meta(&meta(2_000, 1_000, 0, false), 1, &mut out);
        let (_, read, _) = read_meta(&out).unwrap();
        assert_eq!(read.expires_at, 2_000);
    }

    #[test]
    fn truncated_or_padded_metadata_is_refused() {
        let mut out = Vec::new();
        write_meta(&meta(1_700_000_000, 1_700_604_800, 300, true), 1, &mut out);
        for len in 0..out.len() {
            assert!(read_meta(&out[..len]).is_none(), "{len} bytes");
        }
        // a varint with a padding byte (0x80 0x00 for 0) has no meaning
        let mut padded = out[..8].to_vec();
        padded.extend_from_slice(&[0x80, 0x00, 0x00]);
        assert!(read_meta(&padded).is_none());
        // six continuation bytes: longer than any 32-bit varint
        let mut long = out[..8].to_vec();
        long.extend_from_slice(&[0xff; 6]);
        assert!(read_meta(&long).is_none());
    }

    #[test]
    fn shape_tag_folds_both_halves() {
        assert_ne!(shape_tag(1), shape_tag(1 << 32 | 1));
        assert_ne!(shape_tag(1 << 40), shape_tag(0));
        assert_eq!(shape_tag(0x0123_4567_89ab_cdef), 0x0123_4567 ^ 0x89ab_cdef);
    }

    /// Metadata with both varints at their longest: a validity of
    /// `u32::MAX` seconds and the longest lifetime, browser-session flag set.
    fn longest_meta() -> Meta {
        meta(0, u64::from(u32::MAX), u32::MAX, true)
    }

    #[test]
    fn metadata_takes_exactly_its_documented_least_and_most_bytes() {
        let mut out = Vec::new();
        write_meta(&meta(1_700_000_000, 1_700_000_000, 0, false), 1, &mut out);
        assert_eq!(
            out.len(),
            META_MIN_LEN,
            "shape, issue time, two 1-byte varints"
        );
        out.clear();
        write_meta(&longest_meta(), 1, &mut out);
        assert_eq!(out.len(), META_LEN, "shape, issue time, two 5-byte varints");
        let (_, read, used) = read_meta(&out).unwrap();
        assert_eq!((read, used), (longest_meta(), META_LEN));
    }

    fn sealers() -> [(crate::seal::Sealer, bool); 2] {
        use crate::seal::{MasterKey, Mode, Sealer};
        let key = MasterKey::from_secret(&[9; 32]).unwrap();
        [
            (Sealer::new(key.clone(), Mode::Encrypted), true),
            (Sealer::new(key, Mode::Signed), false),
        ]
    }

    #[test]
    fn sealed_len_is_the_length_sealing_produces_at_the_longest_metadata() {
        for (sealer, encrypted) in sealers() {
            for body_len in [0, 1, 2, 3, 4, 100, 1000] {
                let body = vec![0x5a; body_len];
                let value =
                    sealer.seal_body::<crate::codec::Bincode>("cart", 7, &longest_meta(), &body);
                assert_eq!(
                    value.len(),
                    sealed_len(body_len, encrypted),
                    "{body_len} bytes, encrypted {encrypted}"
                );
                // and no metadata makes it longer
                let short = sealer.seal_body::<crate::codec::Bincode>(
                    "cart",
                    7,
                    &meta(1, 2, 0, false),
                    &body,
                );
                assert!(short.len() <= value.len());
            }
        }
    }

    #[test]
    fn a_body_of_the_budget_fits_a_cookie_in_both_modes_and_one_more_byte_does_not() {
        for name_len in [1usize, 4, 5, 6, 32, 200, 3000] {
            let budget = cookie_body_budget(name_len);
            // the cookie line's name part: the name, the `__Host-` allowance, `=`
            let name = name_len + NAME_PREFIX_ALLOWANCE + 1;
            let mut longest_over = 0;
            for (sealer, encrypted) in sealers() {
                let seal = |len: usize| {
                    sealer
                        .seal_body::<crate::codec::Bincode>(
                            "cart",
                            7,
                            &longest_meta(),
                            &vec![1; len],
                        )
                        .len()
                };
                assert!(
                    name + seal(budget) <= COOKIE_LIMIT,
                    "name {name_len}, encrypted {encrypted}"
                );
                longest_over = longest_over.max(seal(budget + 1));
            }
            assert!(name + longest_over > COOKIE_LIMIT, "name {name_len}");
        }
        // no room at all for a name that fills the cookie
        assert_eq!(
            cookie_body_budget(COOKIE_LIMIT - NAME_PREFIX_ALLOWANCE - 1),
            0
        );
        assert_eq!(cookie_body_budget(COOKIE_LIMIT), 0);
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
