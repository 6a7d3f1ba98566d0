#[derive(session_runtime::Session, Default)]
struct Cart(u32, bool);

fn main() {}
