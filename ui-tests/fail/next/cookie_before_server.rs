// the next release's shape is unbounded, so its sessions may be in a
// store; this one fits a cookie, and a cookie-only layer has no store
#[derive(session_runtime::Session, Default)]
#[session(cookie = "notes")]
struct NotesV2 {
    text: String,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "notes", next = NotesV2)]
struct Notes {
    text: session_runtime::BoundedString<64>,
}

impl From<NotesV2> for Notes {
    fn from(new: NotesV2) -> Self {
        let mut text = new.text;
        text.truncate(64);
        Self { text: text.try_into().unwrap_or_default() }
    }
}

fn main() {}
