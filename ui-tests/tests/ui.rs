//! Compile-time behaviour of `#[derive(Session)]`: every mistake in `fail/`
//! and `check/` must produce exactly the reviewed `.stderr`, every file in
//! `pass/` must build.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/**/*.rs");
    cases.pass("pass/*.rs");
}

/// Mistakes that `cargo check` (and so rust-analyzer) must already report.
///
/// trybuild compiles a run with `cargo build` when it has a `pass` case and
/// with `cargo check` when it has only `compile_fail` ones, so `ui` above
/// also sees errors that only a build finds (post-monomorphization ones,
/// such as a `const { assert!(..) }` in a generic function). These cases run
/// alone, under `cargo check`.
#[test]
fn ui_check() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("check/*.rs");
}
