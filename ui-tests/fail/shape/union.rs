#[derive(session_runtime::Session)]
union Cart {
    count: u32,
    bits: f32,
}

fn main() {}
