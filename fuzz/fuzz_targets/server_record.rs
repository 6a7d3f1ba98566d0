//! Opening a server record: raw blobs as a store could hand them back
//! (poisoned cache, swapped row), split or not, and arbitrary bytes
//! sealed as an authentic record (the codec decoding them).
use session_runtime::{MemoryStore, SessionLayer};
use sessionkit_fuzz::{Notes, key};

fn main() {
    let layer = std::panic::AssertUnwindSafe(SessionLayer::<Notes>::with_store(
        key(),
        MemoryStore::default(),
    ));
    afl::fuzz!(|data: &[u8]| {
        let layer = &*layer;
        let Some((&selector, rest)) = data.split_first() else {
            return;
        };
        let key = [selector; 32];
        let (data, quick) = rest.split_at(rest.len() / 2);
        let fuzzing = session_runtime::fuzzing::open_record;
        let _ = fuzzing(layer, key, data.to_vec(), quick.to_vec(), selector & 1 == 0);
        let _ = session_runtime::fuzzing::open_authentic_record(layer, key, rest);
    });
}
