//! The one response rule, for every adapter: an [`Outcome`] written into a
//! response's headers (the token's `Set-Cookie` or token header, and the
//! cache directives of a response built from a session), or the
//! [`Replacement`] the adapter answers with instead. Adapters only say how
//! their header map is read and written ([`ResponseHeaders`]).

use super::outcome::{Outcome, Replacement};
use std::borrow::Cow;

/// A header the rule reads or writes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Header<'a> {
    SetCookie,
    Vary,
    CacheControl,
    /// The layer's token header.
    Token(&'a http::HeaderName),
}

/// A response's header map, as the rule needs it.
pub(crate) trait ResponseHeaders {
    /// The values of `header`, as bytes.
    fn values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]>;
    /// Adds a line; `false` when `value` is not a valid header value.
    fn append(&mut self, header: Header<'_>, value: String) -> bool;
    /// Replaces every line of `header`; `false` when `value` is not valid.
    /// A borrowed value is one of the rule's own constants.
    fn insert(&mut self, header: Header<'_>, value: Cow<'static, str>) -> bool;
}

impl Replacement {
    /// The headers of the replacement response: plain text, never cached,
    /// and `Retry-After: 1` for an outage or contention.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        [
            Some(("content-type", "text/plain; charset=utf-8")),
            Some(("cache-control", "no-store")),
            self.retry_after.then_some(("retry-after", "1")),
        ]
        .into_iter()
        .flatten()
    }
}

impl Header<'_> {
    /// The header's name in `http` 1.x.
    pub(crate) fn name(self) -> http::HeaderName {
        match self {
            Self::SetCookie => http::header::SET_COOKIE,
            Self::Vary => http::header::VARY,
            Self::CacheControl => http::header::CACHE_CONTROL,
            Self::Token(name) => name.clone(),
        }
    }
}

/// The Tower adapter's (and hyper's, axum's, tonic's) header map.
impl ResponseHeaders for http::HeaderMap {
    fn values(&self, header: Header<'_>) -> impl Iterator<Item = &[u8]> {
        self.get_all(header.name())
            .into_iter()
            .map(http::HeaderValue::as_bytes)
    }

    fn append(&mut self, header: Header<'_>, value: String) -> bool {
        // takes the String's buffer: no copy
        http::HeaderValue::try_from(value).is_ok_and(|value| {
            self.append(header.name(), value);
            true
        })
    }

    fn insert(&mut self, header: Header<'_>, value: Cow<'static, str>) -> bool {
        let value = match value {
            Cow::Borrowed(value) => Ok(http::HeaderValue::from_static(value)),
            Cow::Owned(value) => http::HeaderValue::try_from(value),
        };
        value.is_ok_and(|value| {
            self.insert(header.name(), value);
            true
        })
    }
}

/// Writes `outcome` into a response's `headers`. `extracted`: a handler
/// took the session, so the response is personal even when no token
/// changes. A replacement is logged and handed back for the adapter to
/// answer with instead.
pub(crate) fn apply(
    outcome: Outcome,
    extracted: bool,
    token_header: Option<&http::HeaderName>,
    headers: &mut impl ResponseHeaders,
) -> Result<(), Box<Replacement>> {
    if let Some(replace) = outcome.replace {
        tracing::error!(reason = %replace.detail, status = replace.status, "replacing the response: the session was not saved");
        return Err(replace);
    }
    let mut sets_token = false;
    if let Some(line) = outcome.set_cookie {
        sets_token |= headers.append(Header::SetCookie, line);
    }
    if let (Some(token), Some(name)) = (outcome.token, token_header) {
        sets_token |= headers.insert(Header::Token(name), Cow::Owned(token));
    }
    if !sets_token && !extracted {
        return Ok(());
    }
    let rule = CacheHeaders::new(
        || headers.values(Header::Vary),
        headers.values(Header::CacheControl),
        sets_token,
        token_header.map(http::HeaderName::as_str),
    );
    if let Some(value) = rule.vary {
        headers.insert(Header::Vary, value);
    }
    if let Some(value) = rule.cache_control {
        headers.insert(Header::CacheControl, value);
    }
    Ok(())
}

/// Whether `Vary` values already cover `header` (or `*`).
fn varies_on<'a>(values: impl IntoIterator<Item = &'a [u8]>, header: &str) -> bool {
    values.into_iter().any(|value| {
        std::str::from_utf8(value).is_ok_and(|v| {
            v.split(',').any(|item| {
                let item = item.trim();
                item == "*" || item.eq_ignore_ascii_case(header)
            })
        })
    })
}

/// The `Cache-Control` a response built from a session must carry, given
/// what the handler set: `None` when it already says `private` or
/// `no-store`; otherwise `private`, followed by the handler's directives
/// minus `public` (the page depends on who asked).
fn private_cache_control<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Option<Cow<'static, str>> {
    let mut values = values.into_iter().peekable();
    if values.peek().is_none() {
        // the common case: the handler set none
        return Some(Cow::Borrowed("private"));
    }
    let existing: Vec<String> = values
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect();
    let says = |directive: &str| {
        existing
            .iter()
            .any(|item| item.eq_ignore_ascii_case(directive))
    };
    if says("no-store") || says("private") {
        return None;
    }
    let mut value = String::from("private");
    for item in existing
        .iter()
        .filter(|item| !item.eq_ignore_ascii_case("public"))
    {
        value.push_str(", ");
        value.push_str(item);
    }
    Some(Cow::Owned(value))
}

/// `Vary` for a response built from a session: the response's own values
/// with `cookie` (and the token header, when the layer reads one) added, as
/// one merged line that replaces every `Vary` line; `None` when nothing is
/// missing (or the response varies on `*`).
fn merged_vary<'a, I: IntoIterator<Item = &'a [u8]>>(
    values: impl Fn() -> I,
    token_header: Option<&str>,
) -> Option<Cow<'static, str>> {
    if token_header.is_none() && values().into_iter().next().is_none() {
        // the common case: a cookie layer, and a handler that set none
        return Some(Cow::Borrowed("cookie"));
    }
    let cookie = !varies_on(values(), "cookie");
    let token = token_header.filter(|header| !varies_on(values(), header));
    if !cookie && token.is_none() {
        return None;
    }
    let missing = cookie.then_some("cookie").into_iter().chain(token);
    let mut line = String::new();
    for item in values()
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .chain(missing)
    {
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(item);
    }
    Some(Cow::Owned(line))
}

/// The cache headers the session layer gives a response, one rule for
/// every adapter: a response that sets or clears the token is
/// `Cache-Control: no-store`; one built from the session without a new
/// token (a read, or a server-side write that keeps its token) is
/// `private`; both vary on the cookie (and the token header) in one line.
struct CacheHeaders {
    /// The one `Vary` line to replace the response's with, if it changes.
    vary: Option<Cow<'static, str>>,
    /// The `Cache-Control` to replace the response's with, if it changes.
    cache_control: Option<Cow<'static, str>>,
}

impl CacheHeaders {
    /// The headers for a response whose current `Vary` and
    /// `Cache-Control` values are given.
    fn new<'a, 'b, I: IntoIterator<Item = &'a [u8]>>(
        vary: impl Fn() -> I,
        cache_control: impl IntoIterator<Item = &'b [u8]>,
        sets_token: bool,
        token_header: Option<&str>,
    ) -> Self {
        Self {
            vary: merged_vary(vary, token_header),
            cache_control: if sets_token {
                Some(Cow::Borrowed("no-store"))
            } else {
                private_cache_control(cache_control)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};

    fn with(set_cookie: Option<&str>, token: Option<&str>) -> Outcome {
        Outcome {
            set_cookie: set_cookie.map(str::to_owned),
            token: token.map(str::to_owned),
            replace: None,
        }
    }

    #[test]
    fn the_response_rule() {
        let token_header = http::HeaderName::from_static("x-session");
        // a route that never took the session: untouched
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, "public, max-age=60".parse().unwrap());
        apply(Outcome::nothing(), false, Some(&token_header), &mut headers).unwrap();
        assert_eq!(headers.len(), 1);
        // read only: private, and varying on what carries the token
        apply(Outcome::nothing(), true, Some(&token_header), &mut headers).unwrap();
        assert_eq!(headers[CACHE_CONTROL], "private, max-age=60");
        assert_eq!(headers[VARY], "cookie, x-session");
        // a token set: never stored by a cache
        let mut headers = HeaderMap::new();
        headers.append(VARY, "origin".parse().unwrap());
        apply(with(Some("s=1"), None), false, None, &mut headers).unwrap();
        assert_eq!(headers[SET_COOKIE], "s=1");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[VARY], "origin, cookie");
        // the token header, only where the layer has one
        let mut headers = HeaderMap::new();
        apply(
            with(None, Some("t")),
            false,
            Some(&token_header),
            &mut headers,
        )
        .unwrap();
        assert_eq!(headers["x-session"], "t");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        let mut headers = HeaderMap::new();
        apply(with(None, Some("t")), false, None, &mut headers).unwrap();
        assert!(headers.is_empty());
        // a value no header may carry is not sent, and sets no token
        let mut headers = HeaderMap::new();
        apply(with(Some("s=\n"), None), false, None, &mut headers).unwrap();
        assert!(headers.is_empty());
        // a replacement is handed back, with its headers
        let failed = Outcome::unavailable("down");
        let replacement = apply(failed, true, None, &mut HeaderMap::new()).unwrap_err();
        assert_eq!(replacement.status, 503);
        let names: Vec<_> = replacement.headers().map(|(name, _)| name).collect();
        assert_eq!(names, ["content-type", "cache-control", "retry-after"]);
        let failed = Outcome::failed("detail".to_owned());
        let replacement = apply(failed, true, None, &mut HeaderMap::new()).unwrap_err();
        assert_eq!(
            (replacement.status, replacement.headers().count()),
            (500, 2)
        );
    }

    #[test]
    fn handlers_directives_are_kept_but_made_private() {
        assert_eq!(private_cache_control([]).as_deref(), Some("private"));
        assert_eq!(
            private_cache_control([&b"public, max-age=60"[..]]).as_deref(),
            Some("private, max-age=60")
        );
        assert_eq!(private_cache_control([&b"no-store"[..]]), None);
        assert!(varies_on([&b"Accept-Encoding, Cookie"[..]], "cookie"));
        assert!(!varies_on([&b"accept-encoding"[..]], "cookie"));
        assert!(varies_on([&b"cookie"[..], &b"X-Session"[..]], "x-session"));
        assert!(varies_on([&b"*"[..]], "x-session"));
    }

    #[test]
    fn vary_is_one_merged_line() {
        assert_eq!(merged_vary(|| [], None).as_deref(), Some("cookie"));
        assert_eq!(
            merged_vary(|| [], Some("x-session")).as_deref(),
            Some("cookie, x-session")
        );
        assert_eq!(
            merged_vary(
                || [&b"accept-encoding"[..], &b"origin"[..]],
                Some("x-session")
            )
            .as_deref(),
            Some("accept-encoding, origin, cookie, x-session")
        );
        assert_eq!(merged_vary(|| [&b"Cookie"[..]], None), None);
        assert_eq!(merged_vary(|| [&b"*"[..]], Some("x-session")), None);
        assert_eq!(
            merged_vary(|| [&b"cookie"[..]], Some("x-session")).as_deref(),
            Some("cookie, x-session")
        );
    }
}
