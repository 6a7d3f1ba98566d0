//! Sealing: turning session bytes into a tamper-proof cookie value and back.
//!
//! One master secret of at least 32 bytes; HKDF-SHA256 derives independent
//! keys for encryption, MACs and key ids. [`Mode::Encrypted`] (the default)
//! uses AES-256-GCM with a random 96-bit nonce from the OS generator;
//! [`Mode::Signed`] uses HMAC-SHA256 and leaves the data readable (but not
//! forgeable) by the client. Both bind the cookie name, format, key id and
//! codec, and carry the issue and expiry times inside the sealed payload. See
//! [`envelope`] for the byte layout.
//!
//! Only data that passed authentication is ever decoded.

pub mod envelope;
mod key;
pub mod managed;

pub use key::{KeyError, KeyRing, MIN_SECRET_LEN, MasterKey};
pub use managed::{KeyInfo, KeyPolicy, KeyState, KeyStatus, ManagedKeyError, ManagedKeys};

use crate::codec::{Codec, CodecError};
use crate::data::{Part, SessionData};
use aes_gcm::aead::AeadInOut as _;
use aes_gcm::aead::inout::InOutBuf;
use base64::Engine as _;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::simd::Simd;
use envelope::{
    FORMAT_ENCRYPTED, FORMAT_SIGNED, HEADER_LEN, MAC_LEN, META_MIN_LEN, NONCE_LEN, TAG_LEN,
    shape_tag,
};
use hmac::Mac as _;

/// A fresh nonce from the operating system's generator, for every seal.
///
/// Not a userspace generator: a process that forks (a pre-fork server, a
/// worker pool) would carry a copy of its state into every child, and two
/// children would then seal with the same nonces under the same key — the
/// one mistake AES-GCM does not survive. The OS generator cannot repeat
/// across `fork()`. To spare a system call per seal, each thread draws
/// [`NONCES_PER_DRAW`] nonces at once and hands them out one by one; the
/// pool belongs to the process that drew it, so a forked child (another
/// process id) discards its copy and draws its own. Should the OS
/// generator ever fail, the thread-local CSPRNG (seeded from the OS) stands
/// in rather than failing the request.
///
/// With 96 random bits, one key may seal about 2^32 values before the
/// chance of a repeated nonce reaches 2^-32 (NIST SP 800-38D's bound for
/// random nonces): rotate the master key well before that many writes.
fn random_nonce() -> [u8; NONCE_LEN] {
    NONCES.with_borrow_mut(NoncePool::take)
}

/// Nonces drawn from the OS per system call.
const NONCES_PER_DRAW: usize = 32;

thread_local! {
    static NONCES: std::cell::RefCell<NoncePool> = const {
        std::cell::RefCell::new(NoncePool {
            process: 0,
            used: NONCES_PER_DRAW,
            bytes: [0; NONCE_LEN * NONCES_PER_DRAW],
        })
    };
}

/// One thread's drawn nonces, each handed out once.
struct NoncePool {
    /// The process that drew them (`0`: none drawn yet).
    process: u32,
    used: usize,
    bytes: [u8; NONCE_LEN * NONCES_PER_DRAW],
}

impl NoncePool {
    fn take(&mut self) -> [u8; NONCE_LEN] {
        let process = std::process::id();
        if self.used == NONCES_PER_DRAW || self.process != process {
            if getrandom::fill(&mut self.bytes).is_err() {
                rand::fill(&mut self.bytes[..]);
            }
            self.process = process;
            self.used = 0;
        }
        let at = self.used * NONCE_LEN;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.bytes[at..at + NONCE_LEN]);
        // a nonce is handed out once: never left for a later copy to reuse
        self.bytes[at..at + NONCE_LEN].fill(0);
        self.used += 1;
        nonce
    }
}

/// How a cookie is sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// AES-256-GCM: the client can neither read nor change the data.
    #[default]
    Encrypted,
    /// HMAC-SHA256: the client can read but not change the data.
    ///
    /// # Security
    ///
    /// Anything in a signed session is visible to the user and to anything
    /// that can read the cookie: keep secrets out, or use `Encrypted`.
    Signed,
}

/// The times sealed with a session, inside the authenticated payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Meta {
    /// When the session was created (Unix seconds); the absolute timeout
    /// counts from here.
    pub issued_at: u64,
    /// When it stops being valid (Unix seconds).
    pub expires_at: u64,
    /// The per-session lifetime in seconds, used for sliding refresh; `0`
    /// means the layer's default.
    pub lifetime: u32,
    /// A browser-session cookie (sent without `Max-Age`).
    pub browser_session: bool,
}

/// Why a sealed value was refused. Every variant means "no session": the
/// layer logs it at debug level and carries on with a fresh session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Longer than any value this crate seals.
    #[error("sealed value is {0} bytes, over the limit")]
    Oversize(usize),
    /// Not base64url without padding.
    #[error("sealed value is not base64url")]
    NotBase64,
    /// Too short to hold an envelope.
    #[error("sealed value is truncated")]
    Truncated,
    /// A format byte this version does not know, or of the other mode.
    #[error("sealed value has format {0:#04x}, expected {1:#04x}")]
    Format(u8, u8),
    /// Sealed with a key the ring does not hold.
    #[error("sealed with unknown key id {0}")]
    UnknownKey(u8),
    /// Written with another codec.
    #[error("sealed with codec {found}, this layer uses {expected}")]
    Codec {
        /// The layer's codec id.
        expected: u8,
        /// The envelope's codec id.
        found: u8,
    },
    /// The tag or MAC did not verify: tampered, truncated, under another
    /// cookie name, or sealed with another secret that shares the key id.
    #[error("sealed value failed authentication")]
    Forged,
    /// Written by a different version of the session struct.
    #[error("session schema changed (shape {found:#010x}, expected {expected:#010x})")]
    SchemaChanged {
        /// The struct's current shape ([`envelope::shape_tag`] of its
        /// fingerprint).
        expected: u32,
        /// The shape in the envelope.
        found: u32,
    },
    /// Past its expiry time.
    #[error("session expired at {0}")]
    Expired(u64),
    /// Authenticated but not decodable as the session struct.
    #[error("session data does not decode")]
    Decode(#[source] CodecError),
}

/// Sealing a session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A field could not be encoded.
    #[error(transparent)]
    Encode(#[from] CodecError),
    /// The cipher refused the plaintext: AES-256-GCM seals at most 64 GiB
    /// under one nonce, far past any session's cap (reported, never
    /// panicked).
    #[error("the encoded session ({0} bytes) is too large to encrypt")]
    TooLarge(usize),
}

/// An opened session: the data, its times, and what the layer needs to know
/// to decide on a write.
#[derive(Debug)]
pub struct Opened<S> {
    /// The decoded session.
    pub data: S,
    /// The sealed times.
    pub meta: Meta,
    /// The encoded body as it was sealed: comparing a new encoding with it
    /// tells whether anything really changed.
    pub body: Vec<u8>,
    /// Sealed with an older key of the ring: re-seal on the next write.
    pub stale_key: bool,
    /// The shape it was sealed in; `body` is in the current shape either
    /// way.
    pub shape: SealedShape,
}

impl<S> Opened<S> {
    /// Whether it was sealed in another shape and converted.
    #[must_use]
    pub fn migrated(&self) -> bool {
        self.shape != SealedShape::Current
    }
}

/// Which shape of a session struct a value was sealed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedShape {
    /// The struct's own.
    Current,
    /// One of its `#[session(previous = ..)]` chain, converted up. The
    /// next write re-seals it in the current shape.
    Previous,
    /// Its `#[session(next = ..)]`: written by the next release during a
    /// rolling deploy, converted down. The layer writes it back (in the
    /// current shape) only when a handler changes it or asks for a write
    /// (a new ID, a lifetime): an expiry refresh or a re-seal under a
    /// newer key is left to the next release, so a read here never turns
    /// the next release's session into this one's.
    Next,
}

/// An authenticated envelope, not decoded: see [`Sealer::inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The id of the key that sealed it.
    pub key_id: u8,
    /// The codec's id (see [`Codec::ID`]).
    pub codec_id: u8,
    /// The session struct's shape at sealing time ([`envelope::shape_tag`]
    /// of its fingerprint).
    pub shape: u32,
    /// The sealed times.
    pub meta: Meta,
    /// The encoded session.
    pub body: Vec<u8>,
    /// Sealed with an older key of the ring.
    pub stale_key: bool,
}

/// Seals and opens envelopes with a key ring in one [`Mode`].
///
/// Cheap to share (`Arc` it): the key schedules are computed once.
#[derive(Clone, Debug)]
pub struct Sealer {
    keys: KeyRing,
    mode: Mode,
    base64: Simd,
}

impl Sealer {
    /// A sealer over `keys` in `mode`.
    #[must_use]
    pub fn new(keys: impl Into<KeyRing>, mode: Mode) -> Self {
        Self {
            keys: keys.into(),
            mode,
            base64: Simd::url_safe(NO_PAD),
        }
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The key ring.
    #[must_use]
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn format(&self) -> u8 {
        match self.mode {
            Mode::Encrypted => FORMAT_ENCRYPTED,
            Mode::Signed => FORMAT_SIGNED,
        }
    }

    /// Seals a whole session under the binding `context` (the cookie name,
    /// or a server record's key) with the current key.
    ///
    /// # Errors
    ///
    /// [`SealError::Encode`] when a field cannot be encoded.
    pub fn seal<S: SessionData, C: Codec>(
        &self,
        context: &str,
        meta: &Meta,
        data: &S,
    ) -> Result<String, SealError> {
        self.seal_with::<C>(context, S::FINGERPRINT, meta, |out| {
            data.encode::<C>(Part::All, out)
        })
    }

    /// Seals an already encoded body (`fingerprint` and codec as they were
    /// used to produce it), as base64url text for a cookie. For tools and
    /// tests that build envelopes by hand; sessions use [`seal`](Self::seal).
    #[doc(hidden)]
    #[must_use]
    pub fn seal_body<C: Codec>(
        &self,
        context: &str,
        fingerprint: u64,
        meta: &Meta,
        body: &[u8],
    ) -> String {
        self.base64
            .encode(self.seal_raw::<C>(context, fingerprint, meta, body))
    }

    /// Appends sealed bytes as the base64url text of a cookie or token
    /// value.
    pub(crate) fn encode_into(&self, sealed: &[u8], out: &mut String) {
        self.base64.encode_string(sealed, out);
    }

    /// As [`seal_body`](Self::seal_body), as raw bytes: a server record's
    /// compact blob, or a cookie value before base64.
    #[must_use]
    pub(crate) fn seal_raw<C: Codec>(
        &self,
        context: &str,
        fingerprint: u64,
        meta: &Meta,
        body: &[u8],
    ) -> Vec<u8> {
        match self.seal_with_nonce::<C>(context, fingerprint, meta, random_nonce, |out| {
            out.extend_from_slice(body);
            Ok(())
        }) {
            Ok(sealed) => sealed,
            // copying bytes cannot fail to encode, and AES-GCM refuses only
            // past 64 GiB: no session held in memory gets there
            Err(_) => unreachable!("a session body cannot fail to seal"),
        }
    }

    fn seal_with<C: Codec>(
        &self,
        context: &str,
        fingerprint: u64,
        meta: &Meta,
        body: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<String, SealError> {
        let sealed = self.seal_with_nonce::<C>(context, fingerprint, meta, random_nonce, body)?;
        Ok(self.base64.encode(sealed))
    }

    fn seal_with_nonce<C: Codec>(
        &self,
        context: &str,
        fingerprint: u64,
        meta: &Meta,
        nonce: impl FnOnce() -> [u8; NONCE_LEN],
        body: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
    ) -> Result<Vec<u8>, SealError> {
        let keys = self.keys.load();
        let key = keys.current();
        let header = [self.format(), key.id(), C::ID];
        let binding = envelope::Binding::new(context.as_bytes(), &header);
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&header);
        match self.mode {
            Mode::Encrypted => {
                let nonce = nonce();
                buf.extend_from_slice(&nonce);
                let start = buf.len();
                envelope::write_meta(meta, shape_tag(fingerprint), &mut buf);
                body(&mut buf)?;
                let tag = key
                    .aead()
                    .encrypt_inout_detached(
                        &nonce.into(),
                        binding.as_bytes(),
                        InOutBuf::from(&mut buf[start..]),
                    )
                    .map_err(|_| SealError::TooLarge(buf.len() - start))?;
                buf.extend_from_slice(&tag);
            }
            Mode::Signed => {
                envelope::write_meta(meta, shape_tag(fingerprint), &mut buf);
                body(&mut buf)?;
                let mut mac = key.mac();
                mac.update(binding.context_part());
                mac.update(&buf);
                let tag = mac.finalize().into_bytes();
                buf.extend_from_slice(&tag);
            }
        }
        Ok(buf)
    }

    /// Opens a sealed session: authenticates, checks the codec and the
    /// expiry (against `now`, Unix seconds), then decodes it in its shape —
    /// `S`'s own, or an earlier one of its `#[session(previous = ..)]`
    /// chain, converted.
    ///
    /// # Errors
    ///
    /// An [`OpenError`] saying why the value is not a valid session
    /// ([`OpenError::SchemaChanged`] for a shape outside the chain).
    pub fn open<S: SessionData, C: Codec>(
        &self,
        context: &str,
        value: &str,
        now: u64,
    ) -> Result<Opened<S>, OpenError> {
        self.open_bytes::<S, C>(context, value.as_bytes(), now)
    }

    /// As [`open`](Self::open), for a value still in header bytes: base64
    /// decoding refuses anything that is not base64url, so no UTF-8 check
    /// is needed first.
    pub(crate) fn open_bytes<S: SessionData, C: Codec>(
        &self,
        context: &str,
        value: &[u8],
        now: u64,
    ) -> Result<Opened<S>, OpenError> {
        // refuse before decoding anything: no sealed cookie can be this long
        if value.len() > crate::codec::DECODE_LIMIT * 2 {
            return Err(OpenError::Oversize(value.len()));
        }
        let buf = self
            .base64
            .decode(value)
            .map_err(|_| OpenError::NotBase64)?;
        self.open_part::<S, C>(context, buf, Part::All, Some(now))
    }

    /// Opens a raw sealed blob holding the fields of `part` of `S` (in any
    /// shape of its chain): a server record, or its quick fields. Expiry
    /// is checked when `now` is given. A migrated value's `body` is
    /// re-encoded in the current shape, so it can be compared and re-sealed.
    pub(crate) fn open_part<S: SessionData, C: Codec>(
        &self,
        context: &str,
        buf: Vec<u8>,
        part: Part,
        now: Option<u64>,
    ) -> Result<Opened<S>, OpenError> {
        self.open_with_quick::<S, C>(context, buf, part, None, now)
    }

    /// As [`open_part`](Self::open_part), with the quick fields' blob
    /// sealed apart (`quick`: its context and bytes): when it is of the
    /// same shape, its fields join the durable ones before a conversion,
    /// so a shape change that makes a field quick or durable keeps its
    /// value. A quick blob that does not open is left out (best effort).
    pub(crate) fn open_with_quick<S: SessionData, C: Codec>(
        &self,
        context: &str,
        buf: Vec<u8>,
        part: Part,
        quick: Option<(&str, Vec<u8>)>,
        now: Option<u64>,
    ) -> Result<Opened<S>, OpenError> {
        let opened = self.authenticate(context, buf, Some((C::ID, None)))?;
        if let Some(now) = now
            && now >= opened.meta.expires_at
        {
            return Err(OpenError::Expired(opened.meta.expires_at));
        }
        let quick = quick
            .and_then(|(context, blob)| self.authenticate(context, blob, Some((C::ID, None))).ok());
        // of the durable blob's shape: decoded with it; of another (a quick
        // change written by another release next to it): on its own below
        let (same, other) = match quick {
            Some(quick) if quick.shape == opened.shape => (Some(quick.body), None),
            other => (None, other),
        };
        let mut data = match S::open_shape::<C>(opened.shape, part, &opened.body, same.as_deref()) {
            Some(Ok(data)) => data,
            Some(Err(err)) => return Err(OpenError::Decode(err)),
            None => {
                return Err(OpenError::SchemaChanged {
                    expected: shape_tag(S::FINGERPRINT),
                    found: opened.shape,
                });
            }
        };
        if let Some(other) = other
            && let Some(Ok(mut holder)) =
                S::open_shape::<C>(other.shape, Part::Quick, &other.body, None)
        {
            data.take_fields(&mut holder, &crate::data::quick_field_set::<S>());
        }
        let shape = if opened.shape == shape_tag(S::FINGERPRINT) {
            SealedShape::Current
        } else if S::NEXT_FINGERPRINT.is_some_and(|next| opened.shape == shape_tag(next)) {
            SealedShape::Next
        } else {
            SealedShape::Previous
        };
        let body = if shape != SealedShape::Current {
            let mut body = Vec::with_capacity(opened.body.len());
            data.encode::<C>(part, &mut body)
                .map_err(OpenError::Decode)?;
            body
        } else {
            opened.body
        };
        Ok(Opened {
            data,
            meta: opened.meta,
            body,
            stale_key: opened.stale_key,
            shape,
        })
    }

    /// Authenticates a sealed value and returns its times and encoded body,
    /// without decoding or checking expiry.
    ///
    /// # Errors
    ///
    /// An [`OpenError`] saying why the value is not valid.
    #[doc(hidden)]
    pub fn open_body<C: Codec>(
        &self,
        context: &str,
        value: &str,
        fingerprint: u64,
    ) -> Result<(Meta, Vec<u8>, bool), OpenError> {
        // refuse before decoding anything: no sealed cookie can be this long
        if value.len() > crate::codec::DECODE_LIMIT * 2 {
            return Err(OpenError::Oversize(value.len()));
        }
        let buf = self
            .base64
            .decode(value)
            .map_err(|_| OpenError::NotBase64)?;
        self.open_raw::<C>(context, buf, fingerprint)
    }

    /// As [`open_body`](Self::open_body), for a blob from
    /// [`seal_raw`](Self::seal_raw).
    ///
    /// # Errors
    ///
    /// An [`OpenError`] saying why the blob is not valid.
    pub(crate) fn open_raw<C: Codec>(
        &self,
        context: &str,
        buf: Vec<u8>,
        fingerprint: u64,
    ) -> Result<(Meta, Vec<u8>, bool), OpenError> {
        let opened =
            self.authenticate(context, buf, Some((C::ID, Some(shape_tag(fingerprint)))))?;
        Ok((opened.meta, opened.body, opened.stale_key))
    }

    /// Authenticates a cookie value sealed by any session type and codec,
    /// for debugging (`sessionkit inspect`): the body is returned encoded.
    ///
    /// # Errors
    ///
    /// An [`OpenError`] when the value is not authentic under these keys
    /// in this mode.
    pub fn inspect(&self, context: &str, value: &str) -> Result<Inspection, OpenError> {
        let buf = self
            .base64
            .decode(value)
            .map_err(|_| OpenError::NotBase64)?;
        self.authenticate(context, buf, None)
    }

    /// Authenticates `buf`, then checks the codec and shape when `expect`
    /// gives them.
    fn authenticate(
        &self,
        context: &str,
        mut buf: Vec<u8>,
        expect: Option<(u8, Option<u32>)>,
    ) -> Result<Inspection, OpenError> {
        if buf.len() > crate::codec::DECODE_LIMIT + 1024 {
            return Err(OpenError::Oversize(buf.len()));
        }
        let tags = match self.mode {
            Mode::Encrypted => NONCE_LEN + TAG_LEN,
            Mode::Signed => MAC_LEN,
        };
        if buf.len() < HEADER_LEN + META_MIN_LEN + tags {
            return Err(OpenError::Truncated);
        }
        let header = [buf[0], buf[1], buf[2]];
        if header[0] != self.format() {
            return Err(OpenError::Format(header[0], self.format()));
        }
        let binding = envelope::Binding::new(context.as_bytes(), &header);
        let mut opened = None;
        let mut known_key = false;
        let keys = self.keys.load();
        for (key, current) in keys.candidates(header[1]) {
            known_key = true;
            let ok = match self.mode {
                Mode::Encrypted => {
                    let (nonce, rest) = buf[HEADER_LEN..].split_at_mut(NONCE_LEN);
                    let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
                    let nonce: [u8; NONCE_LEN] = nonce.try_into().unwrap_or([0; NONCE_LEN]);
                    let tag: [u8; TAG_LEN] = (&*tag).try_into().unwrap_or([0; TAG_LEN]);
                    // aes-gcm verifies the tag before touching the buffer, so a
                    // failed candidate leaves the ciphertext intact for the next
                    key.aead()
                        .decrypt_inout_detached(
                            &nonce.into(),
                            binding.as_bytes(),
                            InOutBuf::from(ciphertext),
                            &tag.into(),
                        )
                        .is_ok()
                }
                Mode::Signed => {
                    let (signed, tag) = buf.split_at(buf.len() - MAC_LEN);
                    let mut mac = key.mac();
                    mac.update(binding.context_part());
                    mac.update(signed);
                    mac.verify_slice(tag).is_ok()
                }
            };
            if ok {
                opened = Some(!current);
                break;
            }
        }
        let Some(stale_key) = opened else {
            return Err(if known_key {
                OpenError::Forged
            } else {
                OpenError::UnknownKey(header[1])
            });
        };
        // authenticated from here on
        if let Some((codec, _)) = expect
            && header[2] != codec
        {
            return Err(OpenError::Codec {
                expected: codec,
                found: header[2],
            });
        }
        let (payload_start, trailer) = match self.mode {
            Mode::Encrypted => (HEADER_LEN + NONCE_LEN, TAG_LEN),
            Mode::Signed => (HEADER_LEN, MAC_LEN),
        };
        let payload_end = buf.len() - trailer;
        let payload = &buf[payload_start..payload_end];
        let (found, meta, meta_len) = envelope::read_meta(payload).ok_or(OpenError::Truncated)?;
        if let Some((_, Some(shape))) = expect
            && found != shape
        {
            return Err(OpenError::SchemaChanged {
                expected: shape,
                found,
            });
        }
        buf.truncate(payload_end);
        buf.drain(..payload_start + meta_len);
        Ok(Inspection {
            key_id: header[1],
            codec_id: header[2],
            shape: found,
            meta,
            body: buf,
            stale_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Bincode;

    // Independently computed with Python's hmac/hashlib (HKDF, HMAC) and the
    // `cryptography` package (AES-256-GCM) from the layout in `envelope`.
    const SECRET: [u8; 32] = {
        let mut secret = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            secret[i] = i as u8;
            i += 1;
        }
        secret
    };
    const KEY_ID: u8 = 187;
    const FINGERPRINT: u64 = 0x0123_4567_89ab_cdef;
    const META: Meta = Meta {
        issued_at: 1_700_000_000,
        expires_at: 1_700_604_800,
        lifetime: 604_800,
        browser_session: false,
    };
    const ENCRYPTED: &str = "A7sBZGVmZ2hpamtsbW5vGmzWXvmmtJ4oehf2q4xsy64102rAFPm6nwt3tc8cS6shH20";
    const SIGNED: &str = "BLsBiIiIiADxU2WA9SSA6kloZWxsbxympj3RVCT3TunZ3440gJq1Lb1Pmc39MbnRyM0q0PVn";

    fn sealer(mode: Mode) -> Sealer {
        Sealer::new(MasterKey::from_secret(&SECRET).unwrap(), mode)
    }

    fn fixed_nonce() -> [u8; NONCE_LEN] {
        core::array::from_fn(|i| 100 + i as u8)
    }

    #[test]
    fn key_id_is_derived() {
        assert_eq!(MasterKey::from_secret(&SECRET).unwrap().id(), KEY_ID);
    }

    #[test]
    fn known_answer_encrypted() {
        let encrypted = sealer(Mode::Encrypted);
        let sealed = encrypted
            .seal_with_nonce::<Bincode>("cart", FINGERPRINT, &META, fixed_nonce, |out| {
                out.extend_from_slice(b"hello");
                Ok(())
            })
            .unwrap();
        assert_eq!(encrypted.base64.encode(sealed), ENCRYPTED);
        let (meta, body, stale) = sealer(Mode::Encrypted)
            .open_body::<Bincode>("cart", ENCRYPTED, FINGERPRINT)
            .unwrap();
        assert_eq!((meta, body.as_slice(), stale), (META, &b"hello"[..], false));
    }

    #[test]
    fn known_answer_signed() {
        let sealed =
            sealer(Mode::Signed).seal_body::<Bincode>("cart", FINGERPRINT, &META, b"hello");
        assert_eq!(sealed, SIGNED);
        let (meta, body, _) = sealer(Mode::Signed)
            .open_body::<Bincode>("cart", SIGNED, FINGERPRINT)
            .unwrap();
        assert_eq!((meta, body.as_slice()), (META, &b"hello"[..]));
    }

    #[test]
    fn nonces_differ() {
        let sealer = sealer(Mode::Encrypted);
        let a = sealer.seal_body::<Bincode>("cart", FINGERPRINT, &META, b"hello");
        let b = sealer.seal_body::<Bincode>("cart", FINGERPRINT, &META, b"hello");
        assert_ne!(a, b);
    }

    #[test]
    fn pooled_nonces_are_distinct_across_draws() {
        let nonces: std::collections::HashSet<_> = (0..NONCES_PER_DRAW * 10 + 3)
            .map(|_| random_nonce())
            .collect();
        assert_eq!(nonces.len(), NONCES_PER_DRAW * 10 + 3);
        assert!(!nonces.contains(&[0; NONCE_LEN]));
    }

    #[test]
    fn a_pool_hands_out_its_nonces_one_by_one_and_forgets_each() {
        let bytes: [u8; NONCE_LEN * NONCES_PER_DRAW] =
            core::array::from_fn(|i| (i % 251) as u8 + 1);
        let mut pool = NoncePool {
            process: std::process::id(),
            used: 0,
            bytes,
        };
        for n in 0..NONCES_PER_DRAW {
            let at = n * NONCE_LEN;
            assert_eq!(
                pool.take(),
                bytes[at..at + NONCE_LEN],
                "nonce {n} of the draw"
            );
            // what a forked copy of the pool would find: no reusable nonce
            assert!(pool.bytes[..at + NONCE_LEN].iter().all(|&b| b == 0));
        }
        // the draw is used up: the next nonce comes from a new one
        let next = pool.take();
        assert_eq!(pool.used, 1);
        assert_ne!(next, [0; NONCE_LEN]);
    }

    #[test]
    fn a_pool_copied_into_another_process_is_not_used() {
        // what a forked child finds: nonces drawn by its parent
        let mut pool = NoncePool {
            process: std::process::id().wrapping_add(1),
            used: 0,
            bytes: [7; NONCE_LEN * NONCES_PER_DRAW],
        };
        let nonce = pool.take();
        assert_ne!(nonce, [7; NONCE_LEN], "the parent's nonce was reused");
        assert_eq!(pool.process, std::process::id());
        assert_eq!(pool.used, 1);
    }

    #[test]
    fn mode_mismatch_is_refused() {
        let err = sealer(Mode::Encrypted)
            .open_body::<Bincode>("cart", SIGNED, FINGERPRINT)
            .unwrap_err();
        assert!(
            matches!(err, OpenError::Format(FORMAT_SIGNED, FORMAT_ENCRYPTED)),
            "{err:?}"
        );
    }

    #[test]
    fn short_secret_is_a_config_error() {
        let err = MasterKey::from_secret(&[0; 31]).unwrap_err();
        assert!(matches!(err, KeyError::TooShort { len: 31 }));
        assert!(err.to_string().contains("at least 32"));
        assert!(matches!(
            MasterKey::from_base64("not base64!"),
            Err(KeyError::NotBase64)
        ));
    }

    #[test]
    fn debug_redacts() {
        let key = MasterKey::from_secret(&SECRET).unwrap();
        let text = format!("{key:?} {:?}", KeyRing::new(key.clone()));
        assert!(text.contains("REDACTED"), "{text}");
        assert!(!text.contains("aead"), "{text}");
    }

    #[derive(crate::Session, Default)]
    #[session(crate = crate, cookie = "cart")]
    struct CartV1 {
        items: Vec<u32>,
    }

    #[derive(crate::Session, Default)]
    #[session(crate = crate, cookie = "cart", previous = CartV1, next = CartNext)]
    struct Cart {
        items: Vec<u32>,
        coupon: Option<String>,
    }

    /// What the next release writes: read ahead, converted down.
    #[derive(crate::Session, Default)]
    #[session(crate = crate, cookie = "cart")]
    struct CartNext {
        items: Vec<u32>,
        coupon: Option<String>,
        gift: bool,
    }

    impl From<CartNext> for Cart {
        fn from(new: CartNext) -> Self {
            Self {
                items: new.items,
                coupon: new.coupon,
            }
        }
    }

    impl From<CartV1> for Cart {
        fn from(old: CartV1) -> Self {
            Self {
                items: old.items,
                coupon: None,
            }
        }
    }

    fn cart() -> Cart {
        Cart {
            items: vec![3, 1, 4],
            coupon: Some("SPRING".to_owned()),
        }
    }

    #[test]
    fn a_session_seals_and_opens_in_both_modes() {
        for mode in [Mode::Encrypted, Mode::Signed] {
            let sealer = sealer(mode);
            assert_eq!(sealer.mode(), mode);
            let value = sealer
                .seal::<Cart, Bincode>("cart", &META, &cart())
                .unwrap();
            let opened = sealer
                .open::<Cart, Bincode>("cart", &value, META.issued_at)
                .unwrap();
            assert_eq!(opened.data.items, [3, 1, 4]);
            assert_eq!(opened.data.coupon.as_deref(), Some("SPRING"));
            assert_eq!(opened.meta, META);
            assert_eq!(
                opened.body,
                crate::encode_to_vec::<Cart, Bincode>(&cart()).unwrap()
            );
            assert!(!opened.stale_key && opened.shape == SealedShape::Current);
            // the same value, as `sessionkit inspect` sees it
            let seen = sealer.inspect("cart", &value).unwrap();
            assert_eq!(
                (seen.key_id, seen.codec_id, seen.shape, seen.meta, seen.body),
                (
                    KEY_ID,
                    Bincode::ID,
                    shape_tag(<Cart as SessionData>::FINGERPRINT),
                    META,
                    opened.body
                )
            );
            // under another cookie name it is forged
            assert!(matches!(
                sealer.open::<Cart, Bincode>("cart2", &value, META.issued_at),
                Err(OpenError::Forged)
            ));
        }
    }

    #[test]
    fn a_session_opens_until_its_expiry_and_not_at_it() {
        let sealer = sealer(Mode::Encrypted);
        let value = sealer
            .seal::<Cart, Bincode>("cart", &META, &cart())
            .unwrap();
        assert!(
            sealer
                .open::<Cart, Bincode>("cart", &value, META.expires_at - 1)
                .is_ok()
        );
        for now in [META.expires_at, META.expires_at + 1, u64::MAX] {
            assert!(matches!(
                sealer.open::<Cart, Bincode>("cart", &value, now),
                Err(OpenError::Expired(at)) if at == META.expires_at
            ));
        }
        // a server record's blob is checked only when a time is given
        let blob =
            sealer.seal_raw::<Bincode>("k", <Cart as SessionData>::FINGERPRINT, &META, b"\x00\x00");
        assert!(matches!(
            sealer.open_part::<Cart, Bincode>("k", blob.clone(), Part::All, Some(META.expires_at)),
            Err(OpenError::Expired(_))
        ));
        assert!(
            sealer
                .open_part::<Cart, Bincode>("k", blob, Part::All, None)
                .is_ok()
        );
    }

    #[test]
    fn the_next_shape_opens_converted_down_and_re_encoded() {
        let sealer = sealer(Mode::Encrypted);
        let new = CartNext {
            items: vec![4],
            coupon: Some("NEXT".to_owned()),
            gift: true,
        };
        let value = sealer
            .seal::<CartNext, Bincode>("cart", &META, &new)
            .unwrap();
        let opened = sealer
            .open::<Cart, Bincode>("cart", &value, META.issued_at)
            .unwrap();
        assert_eq!(opened.shape, SealedShape::Next);
        assert!(opened.migrated());
        assert_eq!(
            (opened.data.items.as_slice(), opened.data.coupon.as_deref()),
            (&[4][..], Some("NEXT"))
        );
        assert_eq!(
            opened.body,
            crate::encode_to_vec::<Cart, Bincode>(&opened.data).unwrap()
        );
        // its own shape only: a shape before the next one that is not ours
        // or our chain's is still a schema change
        assert_eq!(<Cart as SessionData>::VERSIONS, 2);
    }

    #[test]
    fn an_older_shape_opens_converted_and_re_encoded() {
        let sealer = sealer(Mode::Signed);
        let old = CartV1 { items: vec![9, 8] };
        let value = sealer.seal::<CartV1, Bincode>("cart", &META, &old).unwrap();
        let opened = sealer
            .open::<Cart, Bincode>("cart", &value, META.issued_at)
            .unwrap();
        assert_eq!(opened.shape, SealedShape::Previous);
        assert_eq!(
            (opened.data.items.as_slice(), opened.data.coupon),
            (&[9, 8][..], None)
        );
        // the body is the current shape's encoding, ready to compare and re-seal
        let current = Cart {
            items: vec![9, 8],
            coupon: None,
        };
        assert_eq!(
            opened.body,
            crate::encode_to_vec::<Cart, Bincode>(&current).unwrap()
        );
        // a shape outside the chain is a schema change, not a decode
        let other = sealer.seal_body::<Bincode>("cart", 0x55, &META, b"");
        assert!(matches!(
            sealer.open::<Cart, Bincode>("cart", &other, META.issued_at),
            Err(OpenError::SchemaChanged { found, .. }) if found == shape_tag(0x55)
        ));
        // authentic, the right shape, but not the struct's encoding
        let garbage = sealer.seal_body::<Bincode>(
            "cart",
            <Cart as SessionData>::FINGERPRINT,
            &META,
            &[0xff; 3],
        );
        assert!(matches!(
            sealer.open::<Cart, Bincode>("cart", &garbage, META.issued_at),
            Err(OpenError::Decode(_))
        ));
    }

    #[test]
    fn raw_blobs_round_trip_and_check_the_shape() {
        for mode in [Mode::Encrypted, Mode::Signed] {
            let sealer = sealer(mode);
            let blob = sealer.seal_raw::<Bincode>("key", FINGERPRINT, &META, b"record");
            // the raw form is the cookie form before base64
            let mut text = String::from("prefix:");
            sealer.encode_into(&blob, &mut text);
            assert_eq!(
                text.strip_prefix("prefix:"),
                Some(sealer.base64.encode(&blob).as_str())
            );
            let (meta, body, stale) = sealer
                .open_raw::<Bincode>("key", blob.clone(), FINGERPRINT)
                .unwrap();
            assert_eq!(
                (meta, body.as_slice(), stale),
                (META, &b"record"[..], false)
            );
            assert!(matches!(
                sealer.open_raw::<Bincode>("key", blob, FINGERPRINT ^ 1),
                Err(OpenError::SchemaChanged { .. })
            ));
        }
    }

    #[test]
    fn another_codec_is_refused_after_authentication() {
        let sealer = sealer(Mode::Encrypted);
        let value = sealer.seal_body::<Bincode>("cart", FINGERPRINT, &META, b"x");
        let mut raw = sealer.base64.decode(&value).unwrap();
        raw[2] ^= 1;
        // the codec id is bound: changed in transit, the value is forged
        assert!(matches!(
            sealer.open_body::<Bincode>("cart", &sealer.base64.encode(&raw), FINGERPRINT),
            Err(OpenError::Forged)
        ));
        // sealed with another codec: authentic, but not this layer's
        let other = sealer.seal_body::<OtherCodec>("cart", FINGERPRINT, &META, b"x");
        assert!(matches!(
            sealer.open_body::<Bincode>("cart", &other, FINGERPRINT),
            Err(OpenError::Codec { expected, found })
                if expected == Bincode::ID && found == OtherCodec::ID
        ));
    }

    /// Bincode under another codec id: only the id matters to sealing.
    #[derive(Clone, Copy, Debug, Default)]
    struct OtherCodec;

    impl Codec for OtherCodec {
        const ID: u8 = Bincode::ID.wrapping_add(7);
        const NAME: &'static str = "other";

        fn encode<T: serde::Serialize + ?Sized>(
            value: &T,
            out: &mut Vec<u8>,
        ) -> Result<(), CodecError> {
            Bincode::encode(value, out)
        }

        fn decode<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<(T, usize), CodecError> {
            Bincode::decode(input)
        }
    }

    #[test]
    fn an_envelope_of_the_least_length_opens_and_one_byte_less_is_truncated() {
        // an empty body, both varints in one byte: the shortest envelope
        let meta = Meta {
            issued_at: 1_700_000_000,
            expires_at: 1_700_000_100,
            lifetime: 0,
            browser_session: false,
        };
        for (mode, tags) in [
            (Mode::Encrypted, NONCE_LEN + TAG_LEN),
            (Mode::Signed, MAC_LEN),
        ] {
            let sealer = sealer(mode);
            let raw = sealer.seal_raw::<Bincode>("cart", FINGERPRINT, &meta, b"");
            assert_eq!(raw.len(), HEADER_LEN + META_MIN_LEN + tags);
            let (read, body, _) = sealer
                .open_raw::<Bincode>("cart", raw.clone(), FINGERPRINT)
                .unwrap();
            assert_eq!((read, body.len()), (meta, 0));
            for len in 0..raw.len() {
                assert!(
                    matches!(
                        sealer.open_raw::<Bincode>("cart", raw[..len].to_vec(), FINGERPRINT),
                        Err(OpenError::Truncated)
                    ),
                    "{mode:?}, {len} bytes"
                );
            }
        }
    }

    #[test]
    fn oversize_values_are_refused_before_decoding_and_the_limits_are_exact() {
        use crate::codec::DECODE_LIMIT;
        let sealer = sealer(Mode::Signed);
        // text: refused by its length alone, even when not base64
        let at_limit = "!".repeat(DECODE_LIMIT * 2);
        let over = "!".repeat(DECODE_LIMIT * 2 + 1);
        assert!(matches!(
            sealer.open_body::<Bincode>("cart", &at_limit, FINGERPRINT),
            Err(OpenError::NotBase64)
        ));
        assert!(matches!(
            sealer.open_body::<Bincode>("cart", &over, FINGERPRINT),
            Err(OpenError::Oversize(n)) if n == DECODE_LIMIT * 2 + 1
        ));
        assert!(matches!(
            sealer.open::<Cart, Bincode>("cart", &at_limit, 0),
            Err(OpenError::NotBase64)
        ));
        assert!(matches!(
            sealer.open::<Cart, Bincode>("cart", &over, 0),
            Err(OpenError::Oversize(_))
        ));
        // decoded bytes: at most the decode limit and 1 KiB of envelope
        let mut blob = vec![FORMAT_SIGNED; DECODE_LIMIT + 1024];
        assert!(matches!(
            sealer.open_raw::<Bincode>("cart", blob.clone(), FINGERPRINT),
            Err(OpenError::UnknownKey(FORMAT_SIGNED))
        ));
        blob.push(0);
        assert!(matches!(
            sealer.open_raw::<Bincode>("cart", blob, FINGERPRINT),
            Err(OpenError::Oversize(n)) if n == DECODE_LIMIT + 1025
        ));
    }

    #[test]
    fn a_ring_verifies_with_old_keys_seals_with_the_newest_and_flags_stale_values() {
        let old = MasterKey::from_secret(&[1; 32]).unwrap();
        let new = MasterKey::from_secret(&SECRET).unwrap();
        let ring = KeyRing::new(new.clone()).with_previous(old.clone());
        assert_eq!(ring.len(), 2);
        assert!(!ring.is_empty());
        assert_eq!(KeyRing::from(old.clone()).len(), 1);
        assert_eq!(ring.current().id(), new.id());
        let sealed_old = Sealer::new(old, Mode::Encrypted).seal_body::<Bincode>(
            "cart",
            FINGERPRINT,
            &META,
            b"x",
        );
        let rotated = Sealer::new(ring, Mode::Encrypted);
        assert_eq!(rotated.keys().len(), 2);
        let (_, _, stale) = rotated
            .open_body::<Bincode>("cart", &sealed_old, FINGERPRINT)
            .unwrap();
        assert!(stale, "sealed with an older key: re-seal");
        let sealed_new = rotated.seal_body::<Bincode>("cart", FINGERPRINT, &META, b"x");
        let (_, _, stale) = sealer(Mode::Encrypted)
            .open_body::<Bincode>("cart", &sealed_new, FINGERPRINT)
            .unwrap();
        assert!(!stale, "the newest key sealed it");
    }

    #[test]
    fn generated_secrets_are_64_random_bytes_a_key_accepts() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let a = MasterKey::generate_secret().unwrap();
        let b = MasterKey::generate_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 64);
        let key = MasterKey::from_base64(&a).unwrap();
        // the text form with padding, in standard base64, is the same key
        let bytes = URL_SAFE_NO_PAD.decode(&a).unwrap();
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(MasterKey::from_base64(&standard).unwrap().id(), key.id());
    }
}
