//! Opening a sealed cookie end to end, both modes and both codecs: the
//! raw value (refused before decoding unless authentic), and arbitrary
//! bytes sealed as an authentic body (the codec decoding them).
use session_runtime::{Bincode, Meta, Mode, Postcard, Sealer, SessionData};
use sessionkit_fuzz::{Cart, NOW, key};

fn main() {
    let sealers = [
        Sealer::new(key(), Mode::Encrypted),
        Sealer::new(key(), Mode::Signed),
    ];
    afl::fuzz!(|data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else {
            return;
        };
        let sealer = &sealers[usize::from(selector & 1)];
        let text = String::from_utf8_lossy(rest);
        let _ = sealer.open::<Cart, Bincode>("cart", &text, NOW);
        let _ = sealer.open::<Cart, Postcard>("cart", &text, NOW);
        // authenticated: decode whatever bytes the body holds
        let meta = Meta {
            issued_at: NOW,
            expires_at: NOW + 60,
            ..Meta::default()
        };
        if selector & 2 == 0 {
            let value = sealer.seal_body::<Bincode>("cart", Cart::FINGERPRINT, &meta, rest);
            let _ = sealer.open::<Cart, Bincode>("cart", &value, NOW);
        } else {
            let value = sealer.seal_body::<Postcard>("cart", Cart::FINGERPRINT, &meta, rest);
            let _ = sealer.open::<Cart, Postcard>("cart", &value, NOW);
        }
    });
}
