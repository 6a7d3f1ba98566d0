//! More than 64 fields: the change set spills past one word.
use session_runtime::{SessionAccess, SessionData, Storage};

macro_rules! wide {
    ($($f:ident)*) => {
        #[derive(session_runtime::Session, Default)]
        struct Wide { $($f: u16,)* }
    };
}

wide! {
    a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 b0 b1 b2 b3 b4 b5 b6 b7 b8 b9
    c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 d0 d1 d2 d3 d4 d5 d6 d7 d8 d9
    e0 e1 e2 e3 e4 e5 e6 e7 e8 e9 f0 f1 f2 f3 f4 f5 f6 f7 f8 f9
    g0 g1 g2 g3 g4 g5 g6 g7 g8 g9 h0 h1 h2 h3 h4 h5 h6 h7 h8 h9
}

fn main() {
    assert_eq!(Wide::FIELDS.len(), 80);
    assert_eq!(Wide::STORAGE, Storage::Cookie);
    let mut wide = WideAccess::from_data(Wide::default());
    wide.set_h9(9);
    assert!(wide.changed().contains(79));
}
