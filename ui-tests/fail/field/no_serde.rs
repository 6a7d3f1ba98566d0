#[derive(Default)]
struct Plain {
    value: u32,
}

#[derive(session_runtime::Session, Default)]
struct Cart {
    plain: Plain,
}

fn main() {}
