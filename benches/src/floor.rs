//! The primitives floor: what a cookie session must do at the least, built
//! from the same primitives directly (no HTTP, no framework): base64url
//! decode, authenticate (AES-256-GCM open or HMAC-SHA256 verify), bincode
//! decode, change, bincode encode, seal with a fresh OS nonce, base64url
//! encode, and render the `Set-Cookie` line with the `cookie` crate.

use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::hint::black_box;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// One floor configuration: a value sealed once, opened and re-sealed on
/// every [`Floor::step`].
pub struct Floor<T> {
    encrypted: bool,
    aead: Aes256Gcm,
    mac: HmacSha256,
    value: String,
    bump: fn(&mut T),
}

/// The name the layer puts on the wire (with its default `__Host-` prefix),
/// so the floor formats the same bytes.
const NAME: &str = "__Host-bench";

impl<T: Serialize + DeserializeOwned> Floor<T> {
    /// A floor over `data`; `bump` is the handler's change.
    pub fn new(data: &T, encrypted: bool, bump: fn(&mut T)) -> Self {
        let mut floor = Self {
            encrypted,
            aead: Aes256Gcm::new(&[3u8; 32].into()),
            mac: <HmacSha256 as hmac::KeyInit>::new_from_slice(&[4u8; 32]).expect("any key length"),
            value: String::new(),
            bump,
        };
        floor.value = floor.seal(data);
        floor
    }

    /// The `Set-Cookie` line one step renders.
    pub fn set_cookie(&self) -> String {
        let data = self.open().expect("authentic");
        self.render(&self.seal(&data))
    }

    fn seal(&self, data: &T) -> String {
        let config = bincode::config::standard();
        let mut buf = Vec::with_capacity(256);
        if self.encrypted {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).expect("OS random source");
            buf.extend_from_slice(&nonce);
            bincode::serde::encode_into_std_write(data, &mut buf, config).expect("encodes");
            let tag = self
                .aead
                .encrypt_inout_detached(
                    &Nonce::from(nonce),
                    NAME.as_bytes(),
                    (&mut buf[12..]).into(),
                )
                .expect("seals");
            buf.extend_from_slice(&tag);
        } else {
            bincode::serde::encode_into_std_write(data, &mut buf, config).expect("encodes");
            let mut mac = self.mac.clone();
            mac.update(NAME.as_bytes());
            mac.update(&buf);
            buf.extend_from_slice(&mac.finalize().into_bytes());
        }
        URL_SAFE_NO_PAD.encode(buf)
    }

    fn open(&self) -> Option<T> {
        let mut buf = URL_SAFE_NO_PAD.decode(&self.value).ok()?;
        let config = bincode::config::standard();
        let body = if self.encrypted {
            let (nonce, rest) = buf.split_at_mut(12);
            let (ciphertext, tag) = rest.split_at_mut(rest.len() - 16);
            let nonce: [u8; 12] = (&*nonce).try_into().ok()?;
            let tag: [u8; 16] = (&*tag).try_into().ok()?;
            self.aead
                .decrypt_inout_detached(
                    &Nonce::from(nonce),
                    NAME.as_bytes(),
                    ciphertext.into(),
                    &tag.into(),
                )
                .ok()?;
            &buf[12..buf.len() - 16]
        } else {
            let (body, tag) = buf.split_at(buf.len() - 32);
            let mut mac = self.mac.clone();
            mac.update(NAME.as_bytes());
            mac.update(body);
            mac.verify_slice(tag).ok()?;
            body
        };
        bincode::serde::decode_from_slice(body, config)
            .ok()
            .map(|(data, _)| data)
    }

    fn render(&self, value: &str) -> String {
        cookie::Cookie::build((NAME, value))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(604_800))
            .build()
            .to_string()
    }

    /// Opens, changes, re-seals and renders once.
    pub fn step(&mut self) {
        let mut data = self.open().expect("authentic");
        (self.bump)(&mut data);
        let value = self.seal(&data);
        black_box(self.render(&value));
    }
}
