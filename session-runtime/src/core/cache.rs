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
}
