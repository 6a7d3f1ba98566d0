// the old shape was unbounded, so its sessions may be in a store; the new
// one fits a cookie, and a cookie-only layer has no store to read them from
#[derive(session_runtime::Session, Default)]
#[session(cookie = "notes")]
struct NotesV1 {
    text: String,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "notes", previous = NotesV1)]
struct Notes {
    text: session_runtime::BoundedString<64>,
}

impl From<NotesV1> for Notes {
    fn from(old: NotesV1) -> Self {
        let mut text = old.text;
        text.truncate(64);
        Self { text: text.try_into().unwrap_or_default() }
    }
}

fn main() {}
