#[derive(session_runtime::Session, Default)]
struct Cart {
    total: u32,
    set_total: u32,
    update: bool,
}

fn main() {}
