use session_runtime::Session;

#[derive(Session, Default)]
#[session(storage = "server")]
struct Account {
    #[session(user)]
    user: Option<u64>,
    #[session(user)]
    admin: Option<u64>,
    #[session(user, skip)]
    proxy: Option<u64>,
    #[session(user, quick)]
    impersonating: Option<String>,
}

fn main() {}
