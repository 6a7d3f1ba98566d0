// `max_len` limits how many strings the field holds, not how long each
// one is: the field has no bound, so the struct cannot be cookie-only
#[derive(session_runtime::Session, Default)]
#[session(storage = "cookie")]
struct Tags {
    #[session(max_len = 4)]
    tags: Vec<String>,
}

fn main() {}
