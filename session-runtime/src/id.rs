//! Server-side session IDs.
//!
//! An ID is 256 bits from the OS CSPRNG. The cookie carries it signed
//! (HMAC-SHA256 with a key HKDF derives for this purpose only), so a forged,
//! guessed or truncated ID is refused before any store is asked. The
//! signature also covers the cookie name the ID was issued under, so an ID
//! issued for one session type (`user_s`) does not verify when it is sent
//! as another's (`admin_s`), even with one key and one store. Stores key
//! their rows by [`StoreKey`], the SHA-256 of the ID: a leaked table yields
//! no usable cookie. Logs show [`SessionId::log_tag`], a salted hash that
//! identifies a session across log lines without revealing it.

use crate::seal::{KeyRing, MasterKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Bytes of a session ID.
pub const ID_LEN: usize = 32;
/// Bytes of the ID's signature in the cookie (a truncated HMAC-SHA256:
/// 128 bits is far beyond guessing over a network).
pub const ID_TAG_LEN: usize = 16;
/// The first byte of a signed ID. No sealed envelope starts with it (their
/// format bytes are 0x03 and 0x04, whose base64url begins `A` or `B`), and
/// in base64url it begins `C`: which kind a token is follows from its first
/// character, never from its length.
pub const FORMAT_ID: u8 = 0x08;
/// Bytes of a signed ID before base64url: format, key id, ID and tag.
const SIGNED_RAW_LEN: usize = 2 + ID_LEN + ID_TAG_LEN;
/// Characters of a signed ID in a cookie: format, key id, ID and tag,
/// base64url.
pub const SIGNED_ID_LEN: usize = crate::seal::envelope::base64_len(SIGNED_RAW_LEN);
/// The first character of every signed ID (see [`FORMAT_ID`]).
pub const SIGNED_ID_FIRST_CHAR: u8 = b'C';
/// Characters of a signed ID issued before IDs had a format byte (key id,
/// ID and tag): still accepted, and re-signed in the current form on the
/// next write. A sealed session can have this length too, so a value of it
/// is taken for an old ID only when it does not open as a sealed session.
pub const LEGACY_SIGNED_ID_LEN: usize = crate::seal::envelope::base64_len(1 + ID_LEN + ID_TAG_LEN);

/// Whether a token is a signed server ID in the current form, from its
/// first character and length alone (no decoding, no key).
#[must_use]
pub fn is_signed_id(value: &[u8]) -> bool {
    value.len() == SIGNED_ID_LEN && value.first() == Some(&SIGNED_ID_FIRST_CHAR)
}

/// A server-side session's identifier. Never printed: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId([u8; ID_LEN]);

/// What a store keys a session's row by: SHA-256 of its [`SessionId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey([u8; 32]);

/// Why a signed ID from a cookie was refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Not the length or alphabet of a signed ID.
    #[error("session id is malformed")]
    Malformed,
    /// Signed with a key the ring does not hold.
    #[error("session id signed with unknown key id {0}")]
    UnknownKey(u8),
    /// The signature does not verify: forged or tampered.
    #[error("session id signature does not verify")]
    Forged,
}

/// The operating system's random source failed (no ID or secret can be
/// made safely without it). Rare: a sandbox without `getrandom(2)` or
/// `/dev/urandom`.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomSourceError(getrandom::Error);

/// Fills `bytes` from the OS CSPRNG.
pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<(), RandomSourceError> {
    getrandom::fill(bytes).map_err(RandomSourceError)
}

impl SessionId {
    /// A fresh ID from the OS CSPRNG.
    ///
    /// # Errors
    ///
    /// [`RandomSourceError`] when the OS random source fails.
    pub fn generate() -> Result<Self, RandomSourceError> {
        let mut bytes = [0u8; ID_LEN];
        fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The key a store files this session under.
    #[must_use]
    pub fn store_key(&self) -> StoreKey {
        StoreKey(Sha256::digest(self.0).into())
    }

    /// The ID as the cookie named `cookie` carries it, signed with the
    /// ring's newest key. The signature binds the cookie name: the value
    /// verifies only under that name.
    #[must_use]
    pub fn sign(&self, keys: &KeyRing, cookie: &str) -> String {
        let keys = keys.load();
        let key = keys.current();
        let mut raw = [0u8; SIGNED_RAW_LEN];
        raw[0] = FORMAT_ID;
        raw[1] = key.id();
        raw[2..2 + ID_LEN].copy_from_slice(&self.0);
        raw[2 + ID_LEN..].copy_from_slice(&bound_tag(key, cookie, &self.0));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Verifies a signed ID from the cookie named `cookie`. Constant-time
    /// comparison; no store is involved. The second value is `true` when an
    /// older key of the ring signed it, or it is in the form IDs had before
    /// their format byte ([`LEGACY_SIGNED_ID_LEN`]): re-sign on the next
    /// write.
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying why the value is not a valid signed ID (under
    /// another cookie name it is [`IdError::Forged`]).
    pub fn verify(signed: &str, keys: &KeyRing, cookie: &str) -> Result<(Self, bool), IdError> {
        let mut raw = [0u8; SIGNED_RAW_LEN];
        // the legacy form is the current one without its format byte
        let (body, legacy) = match signed.len() {
            SIGNED_ID_LEN => (&mut raw[..], false),
            LEGACY_SIGNED_ID_LEN => (&mut raw[1..], true),
            _ => return Err(IdError::Malformed),
        };
        match URL_SAFE_NO_PAD.decode_slice(signed, body) {
            Ok(len) if len == body.len() => {}
            _ => return Err(IdError::Malformed),
        }
        if !legacy && raw[0] != FORMAT_ID {
            return Err(IdError::Malformed);
        }
        let key_id = raw[1];
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&raw[2..2 + ID_LEN]);
        let mut known = false;
        let keys = keys.load();
        for (key, current) in keys.candidates(key_id) {
            known = true;
            let mut mac = key.id_mac();
            update_binding(&mut mac, cookie);
            mac.update(&id);
            if mac.verify_truncated_left(&raw[2 + ID_LEN..]).is_ok() {
                return Ok((Self(id), !current || legacy));
            }
        }
        Err(if known {
            IdError::Forged
        } else {
            IdError::UnknownKey(key_id)
        })
    }

    /// A short salted hash for logs: the same session gives the same tag in
    /// one process, and the tag reveals nothing usable.
    #[must_use]
    pub fn log_tag(&self, keys: &KeyRing) -> String {
        self.store_key().log_tag(keys)
    }
}

/// `len(cookie):u32le cookie`, the same framing as a sealed envelope's
/// binding, so no two cookie names feed the MAC the same bytes.
fn update_binding(mac: &mut hmac::Hmac<Sha256>, cookie: &str) {
    let len = u32::try_from(cookie.len()).unwrap_or(u32::MAX);
    mac.update(&len.to_le_bytes());
    mac.update(cookie.as_bytes());
}

fn bound_tag(key: &MasterKey, cookie: &str, id: &[u8]) -> [u8; ID_TAG_LEN] {
    let mut mac = key.id_mac();
    update_binding(&mut mac, cookie);
    mac.update(id);
    truncate(mac)
}

fn tag(key: &MasterKey, id: &[u8]) -> [u8; ID_TAG_LEN] {
    let mut mac = key.id_mac();
    mac.update(id);
    truncate(mac)
}

fn truncate(mac: hmac::Hmac<Sha256>) -> [u8; ID_TAG_LEN] {
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; ID_TAG_LEN];
    out.copy_from_slice(&full[..ID_TAG_LEN]);
    out
}

impl StoreKey {
    /// The 32 bytes, for a store's key column.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From a key column's bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A short tag for logs and "your devices" pages: the first 6 bytes
    /// of a MAC of the key under the ring's newest key, base64url (8
    /// characters). The same session always gets the same tag under one
    /// key; the tag reveals neither the ID nor the key.
    #[must_use]
    pub fn log_tag(&self, keys: &KeyRing) -> String {
        let tag = tag(keys.load().current(), &self.0);
        URL_SAFE_NO_PAD.encode(&tag[..6])
    }

    /// From [`to_hex`](Self::to_hex)'s 64 hex digits (either case).
    #[must_use]
    pub fn from_hex(hex: &[u8]) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let digit = |c: u8| {
            char::from(c)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// Lowercase hex, for stores keyed by text (Redis, memcached).
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        out
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(REDACTED)")
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the hash of an ID is safe to show
        write!(f, "StoreKey({})", &self.to_hex()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(byte: u8) -> KeyRing {
        KeyRing::new(MasterKey::from_secret(&[byte; 32]).unwrap())
    }

    #[test]
    fn signed_ids_round_trip_and_have_a_fixed_length() {
        let keys = ring(1);
        let id = SessionId::generate().unwrap();
        let signed = id.sign(&keys, "s");
        assert_eq!(signed.len(), SIGNED_ID_LEN);
        assert!(is_signed_id(signed.as_bytes()));
        assert_eq!(
            SessionId::verify(&signed, &keys, "s"),
            Ok((id.clone(), false))
        );
        assert_ne!(SessionId::generate().unwrap(), id, "fresh ids differ");
    }

    #[test]
    fn forged_tampered_and_foreign_ids_are_refused() {
        let keys = ring(1);
        let signed = SessionId::generate().unwrap().sign(&keys, "s");
        for at in 0..signed.len() {
            let mut bytes = signed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                SessionId::verify(&tampered, &keys, "s").is_err(),
                "position {at}"
            );
        }
        assert_eq!(
            SessionId::verify("short", &keys, "s"),
            Err(IdError::Malformed)
        );
        assert_eq!(
            SessionId::verify(&"!".repeat(SIGNED_ID_LEN), &keys, "s"),
            Err(IdError::Malformed)
        );
        let foreign = SessionId::generate().unwrap().sign(&ring(2), "s");
        assert!(SessionId::verify(&foreign, &keys, "s").is_err());
    }

    #[test]
    fn the_first_character_tells_ids_from_sealed_envelopes() {
        use crate::seal::envelope::{FORMAT_ENCRYPTED, FORMAT_SIGNED};
        // every envelope format byte, and any key id after it
        for format in [FORMAT_ENCRYPTED, FORMAT_SIGNED] {
            for second in [0u8, 1, 255] {
                let value = URL_SAFE_NO_PAD.encode([format, second, 0, 0, 0, 0]);
                assert_ne!(value.as_bytes()[0], SIGNED_ID_FIRST_CHAR, "{format:#x}");
            }
        }
        let keys = ring(1);
        for _ in 0..64 {
            let signed = SessionId::generate().unwrap().sign(&keys, "s");
            assert_eq!(signed.as_bytes()[0], SIGNED_ID_FIRST_CHAR);
        }
        // a value of the ID's length that is not an ID
        assert!(!is_signed_id("A".repeat(SIGNED_ID_LEN).as_bytes()));
        assert!(!is_signed_id("C".repeat(SIGNED_ID_LEN - 1).as_bytes()));
    }

    #[test]
    fn ids_signed_before_the_format_byte_still_verify_and_are_re_signed() {
        let keys = ring(1);
        let id = SessionId::generate().unwrap();
        let current = id.sign(&keys, "s");
        // the old form: the current raw bytes without the format byte
        let raw = URL_SAFE_NO_PAD.decode(&current).unwrap();
        let legacy = URL_SAFE_NO_PAD.encode(&raw[1..]);
        assert_eq!(legacy.len(), LEGACY_SIGNED_ID_LEN);
        assert_eq!(
            SessionId::verify(&legacy, &keys, "s"),
            Ok((id.clone(), true)),
            "verified, and flagged for re-signing"
        );
        assert_eq!(SessionId::verify(&legacy, &keys, "t"), Err(IdError::Forged));
        // a current-length value with another format byte is no ID
        let mut other = raw.clone();
        other[0] = 0x09;
        assert_eq!(
            SessionId::verify(&URL_SAFE_NO_PAD.encode(&other), &keys, "s"),
            Err(IdError::Malformed)
        );
    }

    #[test]
    fn an_id_verifies_only_under_the_cookie_name_it_was_issued_for() {
        let keys = ring(1);
        let signed = SessionId::generate().unwrap().sign(&keys, "user_s");
        assert!(SessionId::verify(&signed, &keys, "user_s").is_ok());
        assert_eq!(
            SessionId::verify(&signed, &keys, "admin_s"),
            Err(IdError::Forged)
        );
        // the framing keeps names from running into the id bytes
        assert_eq!(
            SessionId::verify(&signed, &keys, "user_"),
            Err(IdError::Forged)
        );
    }

    #[test]
    fn rotation_verifies_old_ids_and_flags_them() {
        let old = MasterKey::from_secret(&[1; 32]).unwrap();
        let new = MasterKey::from_secret(&[2; 32]).unwrap();
        let id = SessionId::generate().unwrap();
        let signed = id.sign(&KeyRing::new(old.clone()), "s");
        let rotated = KeyRing::new(new).with_previous(old);
        assert_eq!(SessionId::verify(&signed, &rotated, "s"), Ok((id, true)));
    }

    #[test]
    fn the_store_key_is_the_sha256_of_the_id() {
        // SHA-256 of 32 zero bytes, as `sha256sum` prints it
        let key = SessionId([0; ID_LEN]).store_key();
        assert_eq!(
            key.to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(key.as_bytes()[..4], [0x66, 0x68, 0x7a, 0xad]);
        // a key column's bytes come back as they went in
        let bytes: [u8; 32] = core::array::from_fn(|i| i as u8 * 7 + 1);
        assert_eq!(StoreKey::from_bytes(bytes).as_bytes(), &bytes);
    }

    #[test]
    fn hex_round_trips_and_refuses_anything_else() {
        for _ in 0..16 {
            let key = SessionId::generate().unwrap().store_key();
            let hex = key.to_hex();
            assert_eq!(hex.len(), 64);
            assert!(
                hex.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            );
            assert_eq!(StoreKey::from_hex(hex.as_bytes()), Some(key));
            assert_eq!(
                StoreKey::from_hex(hex.to_ascii_uppercase().as_bytes()),
                Some(key),
                "either case"
            );
        }
        // every digit in both nibbles of a byte
        let bytes: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(0x3d) ^ 0xa5);
        let key = StoreKey::from_bytes(bytes);
        assert_eq!(StoreKey::from_hex(key.to_hex().as_bytes()), Some(key));
        assert_eq!(
            StoreKey::from_bytes([0x1f; 32]).to_hex(),
            "1f".repeat(32),
            "high nibble first"
        );
        assert_eq!(
            StoreKey::from_hex("f1".repeat(32).as_bytes()),
            Some(StoreKey::from_bytes([0xf1; 32]))
        );
        let hex = key.to_hex();
        assert_eq!(StoreKey::from_hex(&hex.as_bytes()[..63]), None);
        assert_eq!(StoreKey::from_hex(format!("{hex}0").as_bytes()), None);
        assert_eq!(StoreKey::from_hex(b""), None);
        assert_eq!(StoreKey::from_hex("g0".repeat(32).as_bytes()), None);
        assert_eq!(StoreKey::from_hex("0x".repeat(32).as_bytes()), None);
    }

    #[test]
    fn log_tags_tell_sessions_apart_and_depend_on_the_key() {
        let keys = ring(1);
        let tags: std::collections::HashSet<String> = (0..64)
            .map(|_| {
                let id = SessionId::generate().unwrap();
                let tag = id.log_tag(&keys);
                assert_eq!(tag, id.store_key().log_tag(&keys));
                assert_eq!(tag.len(), 8);
                assert!(
                    tag.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                    "{tag}"
                );
                tag
            })
            .collect();
        // `revoke_device` finds a device by its tag: one tag, one session
        assert_eq!(tags.len(), 64);
        // the tag is a MAC: another key gives another tag
        let key = SessionId::generate().unwrap().store_key();
        assert_ne!(key.log_tag(&keys), key.log_tag(&ring(2)));
        // the tag comes from the ring's newest key
        let rotated = ring(2).with_previous(MasterKey::from_secret(&[1; 32]).unwrap());
        assert_eq!(key.log_tag(&rotated), key.log_tag(&ring(2)));
    }

    #[test]
    fn a_store_keys_debug_shows_a_prefix_of_its_hex_and_no_more() {
        let key = SessionId::generate().unwrap().store_key();
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("StoreKey({})", &key.to_hex()[..16]));
    }

    #[test]
    fn store_keys_and_log_tags_hide_the_id() {
        let keys = ring(1);
        let id = SessionId::generate().unwrap();
        let key = id.store_key();
        assert_eq!(key, id.store_key());
        assert_eq!(key.to_hex().len(), 64);
        assert_ne!(key.as_bytes(), &id.0);
        assert_eq!(id.log_tag(&keys), id.log_tag(&keys));
        assert_eq!(format!("{id:?}"), "SessionId(REDACTED)");
    }
}
