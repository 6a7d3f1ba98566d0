use std::collections::BTreeMap;

// the keys are unbounded strings; the `u8` values are fine
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Scores {
    #[session(max_len = 4)]
    scores: BTreeMap<String, u8>,
}

fn main() {}
