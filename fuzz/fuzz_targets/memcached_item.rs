//! The memcached item decoder (a store's bytes).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = session_runtime::fuzzing::memcached_item(data);
    });
}
