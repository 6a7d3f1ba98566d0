//! The session token on the wire: finding our cookie in `Cookie` headers
//! (or the token in its request header), and formatting `Set-Cookie` with
//! the `cookie` crate. Framework neutral: adapters hand in header lines as
//! bytes and get back `String`s.

use crate::config::Settings;
use std::ops::Range;

/// The longest cookie value we look at: browsers send at most 4096 bytes of
/// name and value, and no sealed session is longer.
const MAX_VALUE_LEN: usize = crate::seal::envelope::COOKIE_LIMIT;

/// A token value as it came in.
#[derive(Clone, Debug)]
pub(crate) enum RawValue {
    /// Still inside an `http` 1.x header value (a cheap clone).
    Shared {
        header: http::HeaderValue,
        range: Range<usize>,
    },
    /// Copied out of another framework's header type.
    Owned(Box<str>),
}

impl RawValue {
    /// The value's bytes, unchecked: base64 decoding refuses anything
    /// that is not base64url, so a sealed value needs no UTF-8 check first.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Self::Shared { header, range } => {
                header.as_bytes().get(range.clone()).unwrap_or_default()
            }
            Self::Owned(value) => value.as_bytes(),
        }
    }

    /// The value, or `None` when it is not ASCII (no sealed value is).
    pub(crate) fn value(&self) -> Option<&str> {
        match self {
            Self::Shared { .. } => std::str::from_utf8(self.bytes()).ok(),
            Self::Owned(value) => Some(value),
        }
    }
}

/// Where a request's session token came from.
#[derive(Clone, Debug, Default)]
pub(crate) enum Incoming {
    /// None came.
    #[default]
    None,
    /// The session cookie.
    Cookie(RawValue),
    /// Several cookies with our name (another path or domain, or one
    /// planted by a sibling subdomain), in the order they came: the first
    /// that authenticates is the session.
    Cookies(Box<[RawValue]>),
    /// The token request header (clients that keep no cookies).
    Header(RawValue),
    /// The token request header came empty: a header client without a
    /// token yet, answered in the header when a session starts.
    HeaderAsked,
    /// A session cookie came but was refused before anything was decoded
    /// (duplicated, oversize; logged then): the response clears it.
    Refused,
}

impl Incoming {
    /// The token values to try, in order (several only for duplicated
    /// cookies); empty when none came or it was refused.
    pub(crate) fn candidates(&self) -> &[RawValue] {
        match self {
            Self::Cookie(raw) | Self::Header(raw) => std::slice::from_ref(raw),
            Self::Cookies(raws) => raws,
            Self::None | Self::HeaderAsked | Self::Refused => &[],
        }
    }

    /// Whether the client sent a session token, valid or not.
    pub(crate) fn had_token(&self) -> bool {
        !matches!(self, Self::None | Self::HeaderAsked)
    }

    /// Whether the client uses the token header: it is answered there, and
    /// only there (a cookie request is answered in the cookie alone, so a
    /// token never reaches where `HttpOnly` keeps it from scripts).
    pub(crate) fn by_header(&self) -> bool {
        matches!(self, Self::Header(_) | Self::HeaderAsked)
    }
}

/// The most cookies with our name a request may carry: each one is a
/// candidate to open, so more than a browser could plausibly hold (one per
/// path and domain) is refused outright.
const MAX_DUPLICATES: usize = 4;

/// What the request's `Cookie` headers say about our cookie.
pub(crate) enum Lookup<T> {
    /// Not there.
    Absent,
    /// Exactly once.
    Found(T),
    /// Several times (another path or domain, or a planted one), in the
    /// order they came.
    Several(Vec<T>),
    /// Refused: more duplicates than [`MAX_DUPLICATES`], or only values
    /// longer than any we issue.
    Refused(&'static str),
}

/// Scans `Cookie` header lines (HTTP/2 may split them) for `name`: the
/// index of the line that holds each value and its range in that line.
/// Values longer than any we issue are skipped (they cannot be ours).
fn scan<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> Lookup<(usize, Range<usize>)> {
    let mut first = None;
    let mut more = Vec::new();
    let mut oversize = false;
    for (index, bytes) in lines.into_iter().enumerate() {
        let mut start = 0;
        while start <= bytes.len() {
            let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            if let Some(range) = match_pair(bytes, start..end, name.as_bytes()) {
                if range.len() > MAX_VALUE_LEN {
                    oversize = true;
                } else if first.is_none() {
                    first = Some((index, range));
                } else if more.len() + 1 < MAX_DUPLICATES {
                    more.push((index, range));
                } else {
                    return Lookup::Refused("more session cookies than any browser holds");
                }
            }
            start = end + 1;
        }
    }
    match first {
        None if oversize => Lookup::Refused("session cookie longer than 4096 bytes"),
        None => Lookup::Absent,
        Some(first) if more.is_empty() => Lookup::Found(first),
        Some(first) => {
            more.insert(0, first);
            Lookup::Several(more)
        }
    }
}

impl<T> Lookup<T> {
    fn map<U>(self, mut f: impl FnMut(T) -> Option<U>) -> Lookup<U> {
        match self {
            Self::Found(found) => f(found).map_or(Lookup::Absent, Lookup::Found),
            Self::Several(found) => Lookup::Several(found.into_iter().filter_map(f).collect()),
            Self::Absent => Lookup::Absent,
            Self::Refused(reason) => Lookup::Refused(reason),
        }
    }
}

/// Finds cookie `name` in an `http` 1.x header map, without copying it.
pub(crate) fn find(headers: &http::HeaderMap, name: &str) -> Lookup<RawValue> {
    let lines = headers.get_all(http::header::COOKIE);
    scan(lines.iter().map(http::HeaderValue::as_bytes), name).map(|(index, range)| {
        let header = lines.iter().nth(index)?.clone();
        Some(RawValue::Shared { header, range })
    })
}

/// Finds cookie `name` in header lines of any framework, copying it out.
#[cfg(any(test, feature = "actix", feature = "fuzzing"))]
pub(crate) fn find_in_lines<'a>(
    lines: impl IntoIterator<Item = &'a [u8]> + Clone,
    name: &str,
) -> Lookup<RawValue> {
    scan(lines.clone(), name).map(|(index, range)| {
        let line = lines.clone().into_iter().nth(index)?;
        // a value that is not UTF-8 was not issued by us: it fails to open
        let value = std::str::from_utf8(line.get(range)?).unwrap_or("!");
        Some(RawValue::Owned(value.into()))
    })
}

/// What the token request header says.
#[derive(Clone, Debug)]
pub(crate) enum HeaderToken {
    /// A token (it may still fail to open).
    Token(RawValue),
    /// The header came empty (or `Authorization: Session` alone): a client
    /// that uses header transport and has no token yet asks for one.
    Asked,
}

/// The token request header's value, trimmed, with an optional `Session`
/// scheme (case-insensitive, as every HTTP auth scheme). In `Authorization`
/// (`authorization` is true) the scheme is required: another one (`Basic`
/// behind a password-protected site, a gateway's `Bearer`) is no session
/// token, and the request is a cookie client's (`None`). A value that is not
/// UTF-8 or is longer than any token we issue is a token that will not
/// open: refused (and answered with an empty header) like a forged one.
pub(crate) fn token_from_header(value: &[u8], authorization: bool) -> Option<HeaderToken> {
    const NOT_OURS: &str = "!";
    let Ok(text) = std::str::from_utf8(value) else {
        return (!authorization).then(|| HeaderToken::Token(RawValue::Owned(NOT_OURS.into())));
    };
    let text = text.trim();
    let (scheme, rest) = text
        .split_once([' ', '\t'])
        .map_or((text, ""), |(scheme, rest)| (scheme, rest.trim()));
    let token = if scheme.eq_ignore_ascii_case("session") {
        rest
    } else if authorization {
        return None;
    } else {
        text
    };
    if token.is_empty() {
        return Some(HeaderToken::Asked);
    }
    if token.len() > MAX_VALUE_LEN {
        return Some(HeaderToken::Token(RawValue::Owned(NOT_OURS.into())));
    }
    Some(HeaderToken::Token(RawValue::Owned(token.into())))
}

/// The incoming token: the session cookie, else (when the layer accepts
/// one) the token header.
pub(crate) fn incoming(
    cookie: Lookup<RawValue>,
    header: impl FnOnce() -> Option<HeaderToken>,
) -> Incoming {
    match cookie {
        Lookup::Found(raw) => Incoming::Cookie(raw),
        Lookup::Several(raws) => {
            tracing::debug!(
                count = raws.len(),
                "several session cookies: the first that opens is the session"
            );
            Incoming::Cookies(raws.into_boxed_slice())
        }
        Lookup::Refused(reason) => {
            tracing::debug!(reason, "session cookie refused: starting a new session");
            Incoming::Refused
        }
        Lookup::Absent => match header() {
            None => Incoming::None,
            Some(HeaderToken::Token(raw)) => Incoming::Header(raw),
            Some(HeaderToken::Asked) => Incoming::HeaderAsked,
        },
    }
}

/// The value range of `name=value` within `pair`, if the name matches.
fn match_pair(bytes: &[u8], pair: Range<usize>, name: &[u8]) -> Option<Range<usize>> {
    let mut start = pair.start;
    let mut end = pair.end;
    while start < end && bytes[start] == b' ' {
        start += 1;
    }
    while end > start && bytes[end - 1] == b' ' {
        end -= 1;
    }
    // cheap rejection first: most pairs belong to other cookies
    if end - start <= name.len()
        || &bytes[start..start + name.len()] != name
        || bytes[start + name.len()] != b'='
    {
        return None;
    }
    let eq = start + name.len();
    let (mut value_start, mut value_end) = (eq + 1, end);
    // RFC 6265 allows a double-quoted value
    if value_end - value_start >= 2 && bytes[value_start] == b'"' && bytes[value_end - 1] == b'"' {
        value_start += 1;
        value_end -= 1;
    }
    Some(value_start..value_end)
}

fn builder<'c>(config: &'c Settings, name: &'c str, value: &'c str) -> cookie::CookieBuilder<'c> {
    let mut builder = cookie::Cookie::build((name, value))
        .path(config.path.as_str())
        .secure(config.secure)
        .http_only(config.http_only)
        .same_site(config.same_site);
    if let Some(domain) = &config.domain {
        builder = builder.domain(domain.as_str());
    }
    builder
}

/// The attributes every session cookie of a layer carries
/// (`; HttpOnly; SameSite=Lax; Secure; Path=/`…), rendered once by the
/// `cookie` crate when the layer is configured, not on every response.
pub(crate) fn attribute_suffix(config: &Settings) -> String {
    let rendered = builder(config, "n", "").build().to_string();
    rendered.strip_prefix("n=").unwrap_or_default().to_owned()
}

/// `Set-Cookie` for a session value: `name=value`, the pre-rendered
/// attributes, and `Max-Age` unless it is a browser session.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    attributes: &str,
    max_age: Option<u64>,
) -> String {
    set_cookie_with(name, value.len(), attributes, max_age, |line| {
        line.push_str(value);
    })
}

/// As [`set_cookie`], with the value's `value_len` characters written by
/// `write_value` straight into the line (a sealed value is base64-encoded
/// there, not into a string of its own first).
pub(crate) fn set_cookie_with(
    name: &str,
    value_len: usize,
    attributes: &str,
    max_age: Option<u64>,
    write_value: impl FnOnce(&mut String),
) -> String {
    use std::fmt::Write as _;
    // exactly the line's length: the header value then takes the buffer
    // as it is (`Bytes` from a full `Vec`), with no second allocation
    let max_age_len = max_age.map_or(0, |secs| {
        "; Max-Age=".len()
            + secs
                .checked_ilog10()
                .map_or(1, |digits| digits as usize + 1)
    });
    let mut line =
        String::with_capacity(name.len() + 1 + value_len + attributes.len() + max_age_len);
    line.push_str(name);
    line.push('=');
    write_value(&mut line);
    debug_assert_eq!(line.len(), name.len() + 1 + value_len, "value length");
    line.push_str(attributes);
    if let Some(secs) = max_age {
        let _ = write!(line, "; Max-Age={secs}");
    }
    line
}

/// `Set-Cookie` that expires the session cookie: same name, path, domain
/// and flags, so the browser matches and drops it.
pub(crate) fn removal(config: &Settings, name: &str) -> String {
    builder(config, name, "").removal().build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{COOKIE, HeaderMap, HeaderValue};

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(COOKIE, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn value(lookup: Lookup<RawValue>) -> Option<String> {
        match lookup {
            Lookup::Found(raw) => raw.value().map(str::to_owned),
            _ => None,
        }
    }

    #[test]
    fn finds_among_others_and_across_lines() {
        let map = headers(&["a=1; cart=xyz; b=2"]);
        assert_eq!(value(find(&map, "cart")).as_deref(), Some("xyz"));
        let map = headers(&["a=1", "cart=\"q\"", "cartx=no"]);
        assert_eq!(value(find(&map, "cart")).as_deref(), Some("q"));
        assert!(matches!(
            find(&headers(&["carts=1; xcart=2"]), "cart"),
            Lookup::Absent
        ));
        assert!(matches!(find(&headers(&[""]), "cart"), Lookup::Absent));
        assert!(matches!(find(&headers(&[";;;=;"]), "cart"), Lookup::Absent));
    }

    #[test]
    fn pre_rendered_attributes_match_the_cookie_crate() {
        let mut config = Settings::new("prefs");
        config.domain = Some("example.test".to_owned());
        let fast = set_cookie("prefs", "abc", &attribute_suffix(&config), Some(60));
        let reference = builder(&config, "prefs", "abc")
            .max_age(cookie::time::Duration::seconds(60))
            .build();
        let parsed = cookie::Cookie::parse(fast.as_str()).unwrap();
        assert_eq!(parsed.name_value(), reference.name_value());
        assert_eq!(parsed.path(), reference.path());
        assert_eq!(parsed.domain(), reference.domain());
        assert_eq!(parsed.secure(), reference.secure());
        assert_eq!(parsed.http_only(), reference.http_only());
        assert_eq!(parsed.same_site(), reference.same_site());
        assert_eq!(parsed.max_age(), reference.max_age());
        let browser = set_cookie("prefs", "abc", &attribute_suffix(&config), None);
        assert!(!browser.contains("Max-Age"));
    }

    #[test]
    fn set_cookie_lines_are_allocated_at_their_exact_length() {
        let attributes = attribute_suffix(&Settings::new("prefs"));
        for max_age in [
            None,
            Some(0),
            Some(9),
            Some(10),
            Some(604_800),
            Some(u64::MAX),
        ] {
            let line = set_cookie("prefs", "abc", &attributes, max_age);
            assert_eq!(line.capacity(), line.len(), "{line}");
        }
    }

    #[test]
    fn lines_of_any_framework_give_the_same_answer() {
        let lines: [&[u8]; 2] = [b"a=1; cart=xyz", b"b=2"];
        match find_in_lines(lines, "cart") {
            Lookup::Found(raw) => assert_eq!(raw.value(), Some("xyz")),
            _ => panic!("not found"),
        }
        let token = |bytes: &[u8]| match token_from_header(bytes, false) {
            Some(HeaderToken::Token(raw)) => raw.value().map(str::to_owned),
            _ => None,
        };
        assert_eq!(token(b"Session abc").as_deref(), Some("abc"));
        assert_eq!(token(b"session  abc").as_deref(), Some("abc"));
        assert_eq!(token(b" abc ").as_deref(), Some("abc"));
        for asking in [&b""[..], b"  ", b"Session", b"SESSION  "] {
            assert!(matches!(
                token_from_header(asking, false),
                Some(HeaderToken::Asked)
            ));
        }
        // not ours, but a token: refused (and answered empty), not ignored
        assert_eq!(token(b"\xff\xfe").as_deref(), Some("!"));
        assert_eq!(token("A".repeat(5000).as_bytes()).as_deref(), Some("!"));
        // in Authorization only the Session scheme is ours
        let auth = |bytes: &[u8]| match token_from_header(bytes, true) {
            Some(HeaderToken::Token(raw)) => raw.value().map(str::to_owned),
            Some(HeaderToken::Asked) => Some(String::new()),
            None => None,
        };
        assert_eq!(auth(b"Session abc").as_deref(), Some("abc"));
        assert_eq!(auth(b"session abc").as_deref(), Some("abc"));
        assert_eq!(auth(b"Session").as_deref(), Some(""));
        for other in [&b"Basic dXNlcjpwYXNz"[..], b"Bearer abc", b"abc", b"\xff"] {
            assert_eq!(auth(other), None, "{other:?}");
        }
    }

    fn values(lookup: Lookup<RawValue>) -> Vec<String> {
        match lookup {
            Lookup::Several(raws) => raws
                .iter()
                .map(|raw| raw.value().unwrap().to_owned())
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn duplicates_are_candidates_in_order_oversize_ones_skipped() {
        assert_eq!(
            values(find(&headers(&["cart=1; cart=2"]), "cart")),
            ["1", "2"]
        );
        assert_eq!(
            values(find(&headers(&["cart=1", "cart=2"]), "cart")),
            ["1", "2"]
        );
        assert_eq!(
            values(find_in_lines([&b"cart=1; cart=2"[..]], "cart")),
            ["1", "2"]
        );
        let long = format!("cart={}", "A".repeat(5000));
        assert!(matches!(
            find(&headers(&[&long]), "cart"),
            Lookup::Refused(_)
        ));
        let planted = format!("{long}; cart=ok");
        assert_eq!(
            value(find(&headers(&[&planted]), "cart")).as_deref(),
            Some("ok")
        );
        // more than a browser holds is refused outright
        assert!(matches!(
            find(
                &headers(&["cart=1; cart=2; cart=3; cart=4; cart=5"]),
                "cart"
            ),
            Lookup::Refused(_)
        ));
        assert_eq!(
            values(find(&headers(&["cart=1; cart=2; cart=3; cart=4"]), "cart")).len(),
            4
        );
    }

    #[test]
    fn a_value_of_4096_bytes_is_a_candidate_and_a_longer_one_is_refused() {
        let at_limit = format!("cart={}", "v".repeat(MAX_VALUE_LEN));
        assert_eq!(
            value(find(&headers(&[&at_limit]), "cart")).map(|v| v.len()),
            Some(MAX_VALUE_LEN)
        );
        let over = format!("cart={}", "v".repeat(MAX_VALUE_LEN + 1));
        assert!(matches!(
            find(&headers(&[&over]), "cart"),
            Lookup::Refused(_)
        ));
        // an over-long duplicate is skipped, the one that fits kept
        assert_eq!(
            value(find(&headers(&[&over, "cart=ok"]), "cart")).as_deref(),
            Some("ok")
        );
    }

    #[test]
    fn spaces_around_a_pair_are_not_part_of_the_value() {
        let map = headers(&["a=1;  cart=xyz  ; b=2"]);
        assert_eq!(value(find(&map, "cart")).as_deref(), Some("xyz"));
    }

    #[test]
    fn a_header_token_of_4096_bytes_is_passed_on_and_a_longer_one_refused() {
        let token = |value: &str| match token_from_header(value.as_bytes(), false) {
            Some(HeaderToken::Token(raw)) => raw.value().map(str::to_owned),
            _ => None,
        };
        let at_limit = "t".repeat(MAX_VALUE_LEN);
        assert_eq!(token(&at_limit), Some(at_limit.clone()));
        assert_eq!(token(&format!("Session {at_limit}")), Some(at_limit));
        assert_eq!(token(&"t".repeat(MAX_VALUE_LEN + 1)).as_deref(), Some("!"));
    }

    #[test]
    fn only_a_value_quoted_at_both_ends_is_unquoted() {
        let found = |line: &str| value(find(&headers(&[line]), "cart"));
        assert_eq!(found("cart=\"ab\"").as_deref(), Some("ab"));
        assert_eq!(found("cart=\"\"").as_deref(), Some(""));
        assert_eq!(found("cart=ab\"").as_deref(), Some("ab\""));
        assert_eq!(found("cart=\"ab").as_deref(), Some("\"ab"));
        assert_eq!(
            found("cart=\"").as_deref(),
            Some("\""),
            "one quote is no pair"
        );
    }
}
