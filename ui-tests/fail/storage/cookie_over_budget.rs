use session_runtime::{BoundedString, BoundedVec};

#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Cart {
    note: BoundedString<2000>,
    lines: BoundedVec<u64, 200>,
}

fn main() {}
