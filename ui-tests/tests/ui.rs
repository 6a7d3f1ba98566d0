//! Compile-time behaviour of `#[derive(Session)]`: every mistake in `fail/`
//! must produce exactly the reviewed `.stderr`, every file in `pass/` must
//! build.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/**/*.rs");
    cases.pass("pass/*.rs");
}
