use std::collections::HashMap;

// the keys are bounded; the values are unbounded strings
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Labels {
    #[session(max_len = 4)]
    labels: HashMap<u8, String>,
}

fn main() {}
