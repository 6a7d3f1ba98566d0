#[derive(session_runtime::Session, Default)]
#[session(cookie = "ab", previous = B)]
struct A {
    x: u32,
}

#[derive(session_runtime::Session, Default)]
#[session(cookie = "ab", previous = A)]
struct B {
    x: u64,
}

impl From<B> for A {
    fn from(b: B) -> Self {
        Self { x: b.x as u32 }
    }
}

impl From<A> for B {
    fn from(a: A) -> Self {
        Self { x: a.x.into() }
    }
}

fn main() {}
