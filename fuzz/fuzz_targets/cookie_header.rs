//! The `Cookie` header scan: any bytes, split into header lines.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        let _ = session_runtime::fuzzing::cookie_scan(&lines, "cart");
        let _ = session_runtime::fuzzing::token_header(data);
    });
}
