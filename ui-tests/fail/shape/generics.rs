#[derive(session_runtime::Session, Default)]
struct Cart<T> {
    item: T,
}

fn main() {}
