#[derive(session_runtime::Session)]
struct Cart {
    cursor: *const u8,
}

impl Default for Cart {
    fn default() -> Self {
        Self { cursor: std::ptr::null() }
    }
}

fn main() {}
