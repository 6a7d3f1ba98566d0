//! Finding our cookie in `Cookie` headers, and formatting `Set-Cookie` with
//! the `cookie` crate.

use crate::config::Config;
use http::header::{COOKIE, HeaderMap, HeaderValue};
use std::ops::Range;

/// The longest cookie value we look at: browsers send at most 4096 bytes of
/// name and value, and no sealed session is longer.
const MAX_VALUE_LEN: usize = crate::seal::envelope::COOKIE_LIMIT;

/// Our cookie's value, still inside the header it came in (a cheap clone).
#[derive(Clone, Debug)]
pub(crate) struct RawCookie {
    header: HeaderValue,
    range: Range<usize>,
}

impl RawCookie {
    /// The value, or `None` when it is not ASCII (no sealed value is).
    pub(crate) fn value(&self) -> Option<&str> {
        std::str::from_utf8(self.header.as_bytes().get(self.range.clone())?).ok()
    }
}

/// What the request's `Cookie` headers say about our cookie.
pub(crate) enum Lookup {
    /// Not there.
    Absent,
    /// Exactly once.
    Found(RawCookie),
    /// Refused: several cookies with our name (another path or domain, or a
    /// planted one), or a value longer than any we issue.
    Refused(&'static str),
}

/// Scans every `Cookie` header line (HTTP/2 may split them) for `name`.
pub(crate) fn find(headers: &HeaderMap, name: &str) -> Lookup {
    let mut found: Option<RawCookie> = None;
    for header in headers.get_all(COOKIE) {
        let bytes = header.as_bytes();
        let mut start = 0;
        while start <= bytes.len() {
            let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            if let Some(range) = match_pair(bytes, start..end, name.as_bytes()) {
                if found.is_some() {
                    return Lookup::Refused("more than one session cookie");
                }
                if range.len() > MAX_VALUE_LEN {
                    return Lookup::Refused("session cookie longer than 4096 bytes");
                }
                found = Some(RawCookie {
                    header: header.clone(),
                    range,
                });
            }
            start = end + 1;
        }
    }
    found.map_or(Lookup::Absent, Lookup::Found)
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

fn builder<'c>(config: &'c Config, name: &'c str, value: &'c str) -> cookie::CookieBuilder<'c> {
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
pub(crate) fn attribute_suffix(config: &Config) -> String {
    let rendered = builder(config, "n", "").build().to_string();
    rendered.strip_prefix("n=").unwrap_or_default().to_owned()
}

/// `Set-Cookie` for a session value: `name=value`, the pre-rendered
/// attributes, and `Max-Age` unless it is a browser session.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    attributes: &str,
    max_age: Option<u64>,
) -> Option<HeaderValue> {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(name.len() + value.len() + attributes.len() + 24);
    line.push_str(name);
    line.push('=');
    line.push_str(value);
    line.push_str(attributes);
    if let Some(secs) = max_age {
        let _ = write!(line, "; Max-Age={secs}");
    }
    // takes the String's buffer: no copy
    HeaderValue::try_from(line).ok()
}

/// `Set-Cookie` that expires the session cookie: same name, path, domain
/// and flags, so the browser matches and drops it.
pub(crate) fn removal(config: &Config, name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&builder(config, name, "").removal().build().to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(COOKIE, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    fn value(lookup: Lookup) -> Option<String> {
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
        let mut config = Config::new("prefs");
        config.domain = Some("example.test".to_owned());
        let fast = set_cookie("prefs", "abc", &attribute_suffix(&config), Some(60)).unwrap();
        let reference = builder(&config, "prefs", "abc")
            .max_age(cookie::time::Duration::seconds(60))
            .build();
        let parsed = cookie::Cookie::parse(fast.to_str().unwrap()).unwrap();
        assert_eq!(parsed.name_value(), reference.name_value());
        assert_eq!(parsed.path(), reference.path());
        assert_eq!(parsed.domain(), reference.domain());
        assert_eq!(parsed.secure(), reference.secure());
        assert_eq!(parsed.http_only(), reference.http_only());
        assert_eq!(parsed.same_site(), reference.same_site());
        assert_eq!(parsed.max_age(), reference.max_age());
        let browser = set_cookie("prefs", "abc", &attribute_suffix(&config), None).unwrap();
        assert!(!browser.to_str().unwrap().contains("Max-Age"));
    }

    #[test]
    fn refuses_duplicates_and_oversize() {
        assert!(matches!(
            find(&headers(&["cart=1; cart=2"]), "cart"),
            Lookup::Refused(_)
        ));
        assert!(matches!(
            find(&headers(&["cart=1", "cart=2"]), "cart"),
            Lookup::Refused(_)
        ));
        let long = format!("cart={}", "A".repeat(5000));
        assert!(matches!(
            find(&headers(&[&long]), "cart"),
            Lookup::Refused(_)
        ));
    }
}
