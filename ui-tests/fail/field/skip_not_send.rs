use std::rc::Rc;

// `skip` lifts the serde and size requirements, not `Send`
#[derive(session_runtime::Session, Default)]
struct Cart {
    count: u32,
    #[session(skip)]
    scratch: Option<Rc<String>>,
}

fn main() {}
