//! Master secrets, the keys derived from them, and the key ring.

use aes_gcm::{Aes256Gcm, KeyInit as _};
use arc_swap::ArcSwap;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::Hmac;
use sha2::Sha256;
use std::fmt;
use std::sync::Arc;

/// The shortest master secret accepted, in bytes (vishnu's rule).
pub const MIN_SECRET_LEN: usize = 32;

const HKDF_SALT: &[u8] = b"sessionkit v1";
const INFO_AEAD: &[u8] = b"sessionkit v1 aes-256-gcm";
const INFO_MAC: &[u8] = b"sessionkit v1 hmac-sha256";
const INFO_KEY_ID: &[u8] = b"sessionkit v1 key-id";
const INFO_ID_MAC: &[u8] = b"sessionkit v1 session-id hmac-sha256";

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A master secret was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`MIN_SECRET_LEN`] bytes.
    #[error(
        "the session secret is {len} bytes; at least {MIN_SECRET_LEN} are required (generate one with `sessionkit keygen`)"
    )]
    TooShort {
        /// The length given.
        len: usize,
    },
    /// The text form is not base64.
    #[error("the session secret is not valid base64 (standard or URL-safe, padding optional)")]
    NotBase64,
    /// The environment variable is missing or not Unicode.
    #[error("environment variable `{0}` is not set (or not Unicode)")]
    MissingEnv(String),
    /// HKDF refused to derive a key (cannot happen for the fixed lengths
    /// used here; reported rather than panicked).
    #[error("deriving a session key from the secret failed")]
    Derivation,
}

/// One master secret and the independent keys HKDF-SHA256 derives from it.
///
/// The secret itself is not kept. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct MasterKey {
    id: u8,
    aead: Aes256Gcm,
    mac: HmacSha256,
    id_mac: HmacSha256,
}

impl MasterKey {
    /// Derives the keys from a secret of at least [`MIN_SECRET_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError::TooShort`] for a shorter secret: a configuration error,
    /// never a panic.
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort { len: secret.len() });
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let expand = |info: &[u8]| {
            let mut okm = [0u8; 32];
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit
            hkdf.expand(info, &mut okm)
                .map(|()| okm)
                .map_err(|_| KeyError::Derivation)
        };
        let aead_key = expand(INFO_AEAD)?;
        let mac_key = expand(INFO_MAC)?;
        let id_mac_key = expand(INFO_ID_MAC)?;
        let id = expand(INFO_KEY_ID)?[0];
        Ok(Self {
            id,
            aead: Aes256Gcm::new(&aead_key.into()),
            mac: hmac_from(&mac_key),
            id_mac: hmac_from(&id_mac_key),
        })
    }

    /// Decodes a base64 secret (as printed by `keygen`) and derives the keys.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotBase64`] or [`KeyError::TooShort`].
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| KeyError::NotBase64)?;
        Self::from_secret(&bytes)
    }

    /// Reads a base64 secret from the environment variable `var`.
    ///
    /// # Errors
    ///
    /// [`KeyError::MissingEnv`], or those of [`from_base64`](Self::from_base64).
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let text = std::env::var(var).map_err(|_| KeyError::MissingEnv(var.to_owned()))?;
        Self::from_base64(&text)
    }

    /// A fresh 64-byte secret from the OS CSPRNG, base64url-encoded: what
    /// `keygen` prints. Store it; sessions do not survive a new secret.
    ///
    /// # Errors
    ///
    /// [`RandomSourceError`](crate::id::RandomSourceError) when the OS
    /// random source fails.
    pub fn generate_secret() -> Result<String, crate::id::RandomSourceError> {
        let mut secret = [0u8; 64];
        crate::id::fill_random(&mut secret)?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret))
    }

    /// The one-byte id stored in envelopes this key seals (derived from the
    /// secret, so it is stable across deploys without configuration).
    #[must_use]
    pub fn id(&self) -> u8 {
        self.id
    }

    pub(crate) fn aead(&self) -> &Aes256Gcm {
        &self.aead
    }

    /// A clone of the pre-keyed MAC state: the key schedule is computed once.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// A clone of the pre-keyed MAC state for signing session IDs: a key of
    /// its own, so an ID signature can never pass as a cookie MAC.
    pub(crate) fn id_mac(&self) -> HmacSha256 {
        self.id_mac.clone()
    }
}

fn hmac_from(key: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length; a 32-byte key is used as is
    <HmacSha256 as hmac::KeyInit>::new(&hmac::digest::array::Array::from(pad_block(key)))
}

/// HMAC pads a short key with zeros to the block size; doing it here lets us
/// use the infallible fixed-size constructor.
fn pad_block(key: &[u8; 32]) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    block
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("secret", &"REDACTED")
            .finish()
    }
}

/// The keys a layer accepts: the newest seals, every key verifies.
///
/// Rotation: put the new secret first and keep the old one as `previous`
/// until every cookie it sealed has expired. A cookie (or a server-side
/// record, or a signed ID) sealed with an old key opens, and is re-sealed
/// with the newest one by the next request that loads it, a read included,
/// so the old key can go once every session has been used or has expired.
///
/// ```
/// use session_runtime::{KeyRing, MasterKey};
///
/// let old = MasterKey::from_secret(&[1; 32])?;
/// let new = MasterKey::from_secret(&[2; 32])?;
/// let ring = KeyRing::new(new).with_previous(old);
/// assert_eq!(ring.len(), 2);
/// # Ok::<(), session_runtime::KeyError>(())
/// ```
///
/// A ring from [`ManagedKeys::ring`](crate::ManagedKeys::ring) is the same
/// type, kept up to date by the managed key ring: every clone sees its
/// changes at once.
#[derive(Clone)]
pub struct KeyRing {
    keys: Arc<ArcSwap<Keys>>,
}

/// The keys of a ring at one moment: the first seals.
#[derive(Debug)]
pub(crate) struct Keys(Vec<MasterKey>);

impl Keys {
    /// The key that seals.
    pub(crate) fn current(&self) -> &MasterKey {
        &self.0[0]
    }

    /// The keys whose id is `id`, newest first, with whether each is current.
    pub(crate) fn candidates(&self, id: u8) -> impl Iterator<Item = (&MasterKey, bool)> {
        self.0
            .iter()
            .enumerate()
            .filter(move |(_, key)| key.id == id)
            .map(|(index, key)| (key, index == 0))
    }
}

impl KeyRing {
    /// A ring with one key, which seals and verifies.
    #[must_use]
    pub fn new(current: MasterKey) -> Self {
        Self::of(vec![current])
    }

    /// A ring of `keys` (not empty), the first sealing.
    pub(crate) fn of(keys: Vec<MasterKey>) -> Self {
        debug_assert!(!keys.is_empty());
        Self {
            keys: Arc::new(ArcSwap::from_pointee(Keys(keys))),
        }
    }

    /// Adds an older key that still verifies but never seals. Of a
    /// managed ring ([`ManagedKeys::ring`](crate::ManagedKeys::ring)) this
    /// makes a copy that no longer follows it.
    #[must_use]
    pub fn with_previous(self, key: MasterKey) -> Self {
        let mut keys = self.keys.load().0.clone();
        keys.push(key);
        Self::of(keys)
    }

    /// The key that seals now.
    #[must_use]
    pub fn current(&self) -> MasterKey {
        self.keys.load().current().clone()
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.load().0.len()
    }

    /// Always false: a ring has a current key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The keys as they are now: one atomic load, no lock.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Keys>> {
        self.keys.load()
    }

    /// Replaces every clone's keys (`keys` not empty, the first sealing).
    pub(crate) fn replace(&self, keys: Vec<MasterKey>) {
        debug_assert!(!keys.is_empty());
        self.keys.store(Arc::new(Keys(keys)));
    }

    /// A handle that does not keep the ring alive.
    pub(crate) fn downgrade(&self) -> std::sync::Weak<ArcSwap<Keys>> {
        Arc::downgrade(&self.keys)
    }

    /// The ring behind a [`downgrade`](Self::downgrade)d handle, while a
    /// clone of it lives.
    pub(crate) fn upgrade(weak: &std::sync::Weak<ArcSwap<Keys>>) -> Option<Self> {
        weak.upgrade().map(|keys| Self { keys })
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.keys.load().0)
            .finish()
    }
}

impl From<MasterKey> for KeyRing {
    fn from(key: MasterKey) -> Self {
        Self::new(key)
    }
}
