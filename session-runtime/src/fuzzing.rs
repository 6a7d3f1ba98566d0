//! Entry points for the coverage-guided fuzz targets in `fuzz/` (feature
//! `fuzzing`): the internal parsers a client's bytes reach, reachable from
//! outside the crate without making them public API. Not for applications.

use crate::core::token;
use crate::data::SessionData;
use crate::id::StoreKey;
use crate::layer::SessionLayer;
use crate::store::Record;

/// The `Cookie` header scan over `lines`, for cookie `name`: the value
/// found, if one was found exactly once.
#[must_use]
pub fn cookie_scan(lines: &[&[u8]], name: &str) -> Option<String> {
    match token::find_in_lines(lines.iter().copied(), name) {
        token::Lookup::Found(raw) => raw.value().map(str::to_owned),
        _ => None,
    }
}

/// The token request header's parsing.
#[must_use]
pub fn token_header(value: &[u8]) -> Option<String> {
    match token::token_from_header(value, false) {
        Some(token::HeaderToken::Token(raw)) => raw.value().map(str::to_owned),
        _ => None,
    }
}

/// Opens a server record for `layer`'s session type, as the store handed
/// it back (`split_quick` as a `Tiered` store keeps it): whether it opened.
#[must_use]
pub fn open_record<S: SessionData>(
    layer: &SessionLayer<S>,
    key: [u8; 32],
    data: Vec<u8>,
    quick: Vec<u8>,
    split_quick: bool,
) -> bool {
    let record = Record {
        data,
        quick,
        expires_at: u64::MAX,
        version: 1,
    };
    layer
        .core
        .open_record(&StoreKey::from_bytes(key), record, 0, split_quick)
        .is_ok()
}

/// Seals arbitrary `body` bytes as an authentic record of `layer`'s
/// session type, then opens it: the codec decoding authenticated bytes.
#[must_use]
pub fn open_authentic_record<S: SessionData>(
    layer: &SessionLayer<S>,
    key: [u8; 32],
    body: &[u8],
) -> bool {
    let store_key = StoreKey::from_bytes(key);
    let context = format!("{}/{}", layer.core.cookie_name, store_key.to_hex());
    let meta = crate::seal::Meta {
        issued_at: 0,
        expires_at: u64::MAX,
        ..crate::seal::Meta::default()
    };
    let blob = layer
        .core
        .codec
        .seal_value(&layer.core.sealer, &context, &meta, body);
    open_record(layer, key, blob, Vec::new(), false)
}

/// Decodes a memcached session item.
#[cfg(feature = "memcached")]
#[must_use]
pub fn memcached_item(bytes: &[u8]) -> bool {
    crate::store::memcached_decode(bytes)
}

/// Builds a layer from arbitrary settings and renders its `Set-Cookie`
/// for `value`: `None` when the settings are refused. The line must parse
/// back with the `cookie` crate to the same name and value.
#[must_use]
pub fn set_cookie<S: SessionData + Send>(
    layer: SessionLayer<S>,
    settings: &SettingsInput<'_>,
    value: &str,
) -> Option<String>
where
    S::Access: Send,
{
    let mut layer = layer.with_cookie_name(settings.name.to_owned()).ok()?;
    if let Some(domain) = settings.domain {
        layer = layer.with_domain(domain).ok()?;
    }
    layer = layer.with_path(settings.path).ok()?;
    layer = layer.with_secure(settings.secure).ok()?;
    layer = layer.with_http_only(settings.http_only);
    if settings.host_prefix {
        layer = layer.with_host_prefix().ok()?;
    }
    Some(token::set_cookie(
        &layer.core.cookie_name,
        value,
        &layer.core.cookie_attributes,
        settings.max_age,
    ))
}

/// Arbitrary cookie settings, for [`set_cookie`].
#[derive(Debug)]
pub struct SettingsInput<'a> {
    /// The cookie name.
    pub name: &'a str,
    /// The `Domain` attribute.
    pub domain: Option<&'a str>,
    /// The `Path` attribute.
    pub path: &'a str,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// The `__Host-` prefix.
    pub host_prefix: bool,
    /// `Max-Age`, or a browser-session cookie.
    pub max_age: Option<u64>,
}
