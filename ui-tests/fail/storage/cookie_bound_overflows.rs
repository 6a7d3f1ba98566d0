use session_runtime::BoundedString;

// each field has a bound, but their sum does not fit a `usize`: the
// session has no bound, so it cannot be cookie-only
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Huge {
    a: BoundedString<{ usize::MAX / 2 }>,
    b: BoundedString<{ usize::MAX / 2 }>,
}

fn main() {}
