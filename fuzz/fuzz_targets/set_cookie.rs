//! `Set-Cookie` from arbitrary settings: refused, or a line that parses
//! back to the same name and value.
use session_runtime::SessionLayer;
use session_runtime::fuzzing::{SettingsInput, set_cookie};
use sessionkit_fuzz::{Cart, key};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let mut parts = text.split('\u{1}');
        let name = parts.next().unwrap_or_default();
        let domain = parts.next().filter(|d| !d.is_empty());
        let path = parts.next().unwrap_or("/");
        let flags = parts.next().map_or(0, |f| f.bytes().next().unwrap_or(0));
        let value = parts.next().unwrap_or("v");
        let settings = SettingsInput {
            name,
            domain,
            path,
            secure: flags & 1 == 0,
            http_only: flags & 2 == 0,
            host_prefix: flags & 4 != 0,
            max_age: (flags & 8 == 0).then_some(u64::from(flags)),
        };
        // the value is what the layer seals: base64url, never arbitrary
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return;
        }
        let layer = SessionLayer::<Cart>::new(key());
        if let Some(line) = set_cookie(layer, &settings, value) {
            let parsed =
                cookie::Cookie::parse(line.as_str()).expect("a Set-Cookie line that parses");
            assert_eq!(parsed.value(), value);
            assert!(parsed.name().ends_with(name));
        }
    });
}
