//! Property tests: arbitrary `Cookie` headers through the real layer, and
//! arbitrary strings through `Sealer::open`, never panic and never produce a
//! 5xx; the request simply has no session.

use axum::body::Body;
use http::{Request, StatusCode};
use proptest::prelude::*;
use session_runtime::{Bincode, Mode, Postcard, Sealer, SessionLayer};
use sessionkit_tests::key;
use sessionkit_tests::{Prefs, TestClock, prefs_routes};
use tower::ServiceExt as _;

fn cookie_line() -> impl Strategy<Value = Vec<u8>> {
    // visible ASCII and separators, biased towards our cookie's name
    let pair = (
        prop_oneof![Just("__Host-prefs".to_owned()), "[a-z_]{0,8}"],
        prop_oneof![
            "[A-Za-z0-9_-]{0,200}",
            proptest::collection::vec(0x20u8..0x7f, 0..300)
                .prop_map(|b| String::from_utf8(b).unwrap()),
        ],
    )
        .prop_map(|(name, value)| format!("{name}={value}"));
    proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("; ").into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_cookie_headers_are_a_fresh_session(lines in proptest::collection::vec(cookie_line(), 0..3)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let app = prefs_routes().layer(
            SessionLayer::<Prefs>::new(key()).with_clock(TestClock::new()),
        );
        let mut request = Request::get("/read");
        for line in &lines {
            request = request.header("cookie", http::HeaderValue::from_bytes(line).unwrap());
        }
        let response = runtime.block_on(app.oneshot(request.body(Body::empty()).unwrap())).unwrap();
        prop_assert_eq!(response.status(), StatusCode::OK);
        // nothing is written; a cookie that could not be opened is cleared
        for line in response.headers().get_all("set-cookie") {
            let cookie = cookie::Cookie::parse(line.to_str().unwrap()).unwrap();
            prop_assert_eq!(cookie.name(), "__Host-prefs");
            prop_assert_eq!(cookie.value(), "");
            prop_assert_eq!(cookie.max_age(), Some(cookie::time::Duration::ZERO));
        }
        let body = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
        prop_assert_eq!(&body[..], b"theme= visits=0");
    }

    #[test]
    fn arbitrary_sealed_values_are_refused(value in ".{0,600}", b64 in "[A-Za-z0-9_-]{0,600}") {
        for mode in [Mode::Encrypted, Mode::Signed] {
            let sealer = Sealer::new(key(), mode);
            for input in [&value, &b64] {
                prop_assert!(sealer.open::<Prefs, Bincode>("__Host-prefs", input, 0).is_err());
                prop_assert!(sealer.open::<Prefs, Postcard>("__Host-prefs", input, 0).is_err());
            }
        }
    }
}
