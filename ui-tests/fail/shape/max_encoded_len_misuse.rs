// a nested type takes no session attributes, and serde cannot encode a union
#[derive(session_runtime::MaxEncodedLen)]
#[session(cookie = "line", previous = u8)]
struct Line {
    sku: u32,
}

#[derive(session_runtime::MaxEncodedLen)]
union Bits {
    a: u32,
    b: f32,
}

// the impl is still emitted after an error: this use fails no second time
const _: Option<usize> = <Line as session_runtime::MaxEncodedLen>::MAX_ENCODED_LEN;

fn main() {}
