// the outer `Vec` is limited to four items, each an unbounded `Vec<u8>`
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Blobs {
    #[session(max_len = 4)]
    blobs: Vec<Vec<u8>>,
}

fn main() {}
