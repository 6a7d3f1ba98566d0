//! The primitives on a session-sized message, to check the block-cipher
//! backend: AES-256-GCM seal of 24 bytes and of 1 KiB, one AES-256 block,
//! and HMAC-SHA256 of 24 bytes (the workspace pins `aes` below 0.9.3 on
//! these figures).
//!
//! ```sh
//! CARGO_TARGET_DIR=target/benches cargo run --release --manifest-path benches/Cargo.toml --example aead_small
//! ```

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut as _, KeyInit as _};
use aes_gcm::aes::cipher::BlockCipherEncrypt as _;
use hmac::Mac as _;
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: u32 = 2_000_000;

fn per_call(label: &str, rounds: u32, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..rounds {
        f(i);
    }
    let nanos = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    println!("{label}: {nanos:.1} ns");
}

fn main() {
    let aead = Aes256Gcm::new(&[3u8; 32].into());
    let seal = |buf: &mut [u8], i: u32| {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&i.to_le_bytes());
        let tag = aead
            .encrypt_inout_detached(&nonce.into(), b"cookie-name-aad", buf.into())
            .expect("short enough");
        black_box(tag);
    };
    let mut small = [7u8; 24];
    per_call("aes-256-gcm seal, 24 B", ROUNDS, |i| seal(&mut small, i));
    let mut large = vec![7u8; 1024];
    per_call("aes-256-gcm seal, 1 KiB", ROUNDS / 10, |i| {
        seal(&mut large, i)
    });

    let aes = <aes_gcm::aes::Aes256 as aes_gcm::aes::cipher::KeyInit>::new(&[3u8; 32].into());
    let mut block = aes_gcm::aes::Block::default();
    per_call("aes-256, one block", ROUNDS, |_| {
        aes.encrypt_block(&mut block);
        black_box(&mut block);
    });

    let mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&[4u8; 32])
        .expect("any key length");
    per_call("hmac-sha256, 24 B", ROUNDS, |_| {
        let mut mac = mac.clone();
        mac.update(b"cookie-name-aad");
        mac.update(&small);
        black_box(mac.finalize().into_bytes());
    });
}
