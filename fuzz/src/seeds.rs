//! Writes each target's seed corpus (valid inputs, so the fuzzer starts
//! past the checks): `seeds <dir>`.
use session_runtime::id::SessionId;
use session_runtime::{Bincode, KeyRing, Meta, Mode, Sealer};
use sessionkit_fuzz::{Cart, NOW, key};
use std::path::Path;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("seed dir");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: seeds <dir>");
    let dir = Path::new(&dir);
    let meta = Meta {
        issued_at: NOW,
        expires_at: NOW + 60,
        ..Meta::default()
    };
    let cart = Cart {
        user: Some(7),
        name: "alice".try_into().expect("short"),
        ..Cart::default()
    };
    for (i, mode) in [Mode::Encrypted, Mode::Signed].into_iter().enumerate() {
        let value = Sealer::new(key(), mode)
            .seal::<Cart, Bincode>("cart", &meta, &cart)
            .expect("seals");
        let mut input = vec![u8::try_from(i).unwrap_or(0)];
        input.extend_from_slice(value.as_bytes());
        write(dir, "open_cookie", &format!("valid-{i}"), &input);
        write(
            dir,
            "cookie_header",
            &format!("line-{i}"),
            format!("a=1; cart={value}\nb=2").as_bytes(),
        );
    }
    let signed = SessionId::generate()
        .expect("random")
        .sign(&KeyRing::new(key()), "notes");
    write(dir, "signed_id", "valid", signed.as_bytes());
    write(
        dir,
        "server_record",
        "small",
        b"\x01hello world, some bytes",
    );
    let mut item = Vec::new();
    item.extend_from_slice(&3u64.to_be_bytes());
    item.extend_from_slice(&NOW.to_be_bytes());
    item.extend_from_slice(&4u32.to_be_bytes());
    item.extend_from_slice(b"datquick");
    write(dir, "memcached_item", "valid", &item);
    write(dir, "set_cookie", "plain", b"cart\x01\x01/\x01\x00\x01abc");
    write(
        dir,
        "set_cookie",
        "domain",
        b"cart\x01example.com\x01/app\x01\x02\x01abc_-1",
    );
}
