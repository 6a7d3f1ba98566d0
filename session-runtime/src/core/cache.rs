//! Cache directives for responses built from a session, as strings, so
//! every adapter applies the same rule to its own header types.

/// Whether `Vary` values already cover `header` (or `*`).
pub(crate) fn varies_on<'a>(values: impl IntoIterator<Item = &'a [u8]>, header: &str) -> bool {
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
pub(crate) fn private_cache_control<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Option<String> {
    let existing: Vec<String> = values
        .into_iter()
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
    Some(value)
}

/// `Vary` for a response built from a session: the response's own values
/// with `cookie` (and the token header, when the layer reads one) added, as
/// one merged line that replaces every `Vary` line; `None` when nothing is
/// missing (or the response varies on `*`).
pub(crate) fn merged_vary<'a, I: IntoIterator<Item = &'a [u8]>>(
    values: impl Fn() -> I,
    token_header: Option<&str>,
) -> Option<String> {
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
    Some(line)
}

/// The cache headers the session layer gives a response, one rule for
/// every adapter: a response that sets or clears the token is
/// `Cache-Control: no-store`; one built from the session without a new
/// token (a read, or a server-side write that keeps its token) is
/// `private`; both vary on the cookie (and the token header) in one line.
pub(crate) struct CacheHeaders {
    /// The one `Vary` line to replace the response's with, if it changes.
    pub(crate) vary: Option<String>,
    /// The `Cache-Control` to replace the response's with, if it changes.
    pub(crate) cache_control: Option<String>,
}

impl CacheHeaders {
    /// The headers for a response whose current `Vary` and
    /// `Cache-Control` values are given.
    pub(crate) fn new<'a, 'b, I: IntoIterator<Item = &'a [u8]>>(
        vary: impl Fn() -> I,
        cache_control: impl IntoIterator<Item = &'b [u8]>,
        sets_token: bool,
        token_header: Option<&str>,
    ) -> Self {
        Self {
            vary: merged_vary(vary, token_header),
            cache_control: if sets_token {
                Some("no-store".to_owned())
            } else {
                private_cache_control(cache_control)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_directives_are_kept_but_made_private() {
        assert_eq!(private_cache_control([]), Some("private".to_owned()));
        assert_eq!(
            private_cache_control([&b"public, max-age=60"[..]]),
            Some("private, max-age=60".to_owned())
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
