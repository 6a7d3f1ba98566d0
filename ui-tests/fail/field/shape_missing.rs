// a hand impl for a foreign type must state its shape too
struct Day(u32);

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl session_runtime::MaxEncodedLen for Day {
    const MAX_ENCODED_LEN: Option<usize> = Some(5);
}

fn main() {}
