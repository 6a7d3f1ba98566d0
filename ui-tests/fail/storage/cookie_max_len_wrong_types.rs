// `max_len` on a type without a length, and on items without a bound at
// all: each mistake is reported once, as without `storage = "cookie"`,
// not again by the check of the items' bounds
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Cart {
    #[session(max_len = 4)]
    count: u32,
    #[session(max_len = 4)]
    cells: Vec<std::cell::Cell<u8>>,
}

fn main() {}
