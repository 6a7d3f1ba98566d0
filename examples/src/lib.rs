//! Examples for sessionkit: see `examples/*.rs` and `cargo run --example`.
