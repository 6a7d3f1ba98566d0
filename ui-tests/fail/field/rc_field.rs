use std::rc::Rc;

#[derive(session_runtime::Session, Default)]
struct Cart {
    count: u32,
    shared: Rc<u8>,
}

fn main() {}
