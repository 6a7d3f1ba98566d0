use session_runtime::{BoundedString, Session, SessionData};

#[derive(Session, Default)]
#[session(storage = "server")]
struct ById {
    #[session(user)]
    user: Option<u64>,
}

#[derive(Session, Default)]
#[session(storage = "server")]
struct ByName {
    #[session(user)]
    user: Option<BoundedString<64>>,
    theme: u8,
}

fn main() {
    assert_eq!(ById { user: Some(42) }.user_key().as_deref(), Some("42"));
    assert_eq!(ById::default().user_key(), None);
    let named = ByName { user: Some(BoundedString::try_from("ada").unwrap()), theme: 1 };
    assert_eq!(named.user_key().as_deref(), Some("ada"));
}
