use session_runtime::Session;

#[derive(Session, Default)]
#[session(storage = "server")]
struct Account {
    #[session(user)]
    user: u64,
}

fn main() {}
