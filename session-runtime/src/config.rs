//! Cookie, lifetime and transport settings, validated as a whole.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use cookie::SameSite;

/// The `__Host-` prefix: browsers accept such a cookie only with `Secure`,
/// `Path=/` and no `Domain`, which pins it to one origin.
pub const HOST_PREFIX: &str = "__Host-";

/// Seven days: gae-sessions' default lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a session lives from its login (its issue time, renewed by
/// `cycle_id` and by a change of user) by default, however active: 30
/// days, or the session's own lifetime when that is longer (a "remember
/// me" of 90 days asks again after 90). A copied cookie or ID that the
/// thief keeps using ends then, at the latest.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// The absolute timeout of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AbsoluteTimeout {
    /// [`DEFAULT_ABSOLUTE_TIMEOUT`], or the session's lifetime if longer.
    Default,
    /// `with_absolute_timeout`.
    Limit(Duration),
    /// `without_absolute_timeout`.
    Off,
}

/// The longest any session lives: 400 days, the most browsers keep a
/// cookie (RFC 6265bis) and the time revocations are kept
/// ([`KEEP_REVOCATIONS`](crate::user::KEEP_REVOCATIONS)), so no revoked
/// session can outlive its revocation. The layer refuses longer settings,
/// [`Session::set_lifetime`](crate::Session::set_lifetime) clamps to it,
/// and the stores never keep a record longer.
pub const MAX_LIFETIME: Duration = Duration::from_secs(400 * 24 * 3600);

/// How long one store call may take by default before the request follows
/// the outage policy: 2 seconds.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a save keeps retrying against concurrent writers by default
/// before answering 503 with `Retry-After`: 2 seconds.
pub const DEFAULT_CONTENTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A session layer was configured in a way that cannot work or would be
/// unsafe. Returned by the fallible `with_*` builders, never panicked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The secret was refused.
    #[error(transparent)]
    Key(#[from] crate::seal::KeyError),
    /// Not an RFC 6265 cookie name.
    #[error("`{0}` is not a valid cookie name: use letters, digits and `!#$%&'*+-.^_`|~`")]
    CookieName(String),
    /// A cookie-only session's name is longer than the one its size budget
    /// was computed for.
    #[error(
        "cookie name `{name}` is longer than `{declared}`, the name this session's cookie budget was computed for: declare it with `#[session(cookie = \"{name}\")]`"
    )]
    CookieNameTooLong {
        /// The requested name.
        name: String,
        /// The declared name.
        declared: &'static str,
    },
    /// A setting that the `__Host-` prefix forbids.
    #[error("the `__Host-` prefix requires {0}")]
    HostPrefix(&'static str),
    /// `SameSite=None` without `Secure`: browsers drop such cookies.
    #[error("`SameSite=None` requires `Secure`: browsers refuse the cookie otherwise")]
    SameSiteNoneInsecure,
    /// A path that does not start with `/`, or has characters a cookie
    /// attribute cannot hold.
    #[error("cookie path `{0}` must start with `/` and contain no `;` or control characters")]
    Path(String),
    /// A domain with characters a cookie attribute cannot hold.
    #[error("cookie domain `{0}` is not a valid domain")]
    Domain(String),
    /// A zero or absurd duration.
    #[error("{what} must be between 1 second and 400 days (browsers cap cookies at 400 days)")]
    Duration {
        /// Which setting.
        what: &'static str,
    },
    /// A refresh interval that would let a session in use expire: over
    /// half the lifetime, or over the absolute timeout.
    #[error(
        "the refresh interval of {after:?} is over {limit}: a session in use could expire between two refreshes"
    )]
    RefreshInterval {
        /// The interval asked for.
        after: Duration,
        /// What it exceeds.
        limit: &'static str,
    },
    /// `with_cookie_threshold` on a layer whose session type is not
    /// `Storage::Adaptive` or that has no store.
    #[error(
        "`{0}` is not an Adaptive session with a store: a cookie threshold has no meaning for it"
    )]
    NotAdaptive(&'static str),
    /// `with_max_size` out of range.
    #[error("a session size cap of {0} bytes is out of range: 1 byte to 1 MiB")]
    MaxSize(usize),
    /// A server-tier setting on a layer without a store, where it would do
    /// nothing.
    #[error(
        "`{0}` has no store: this setting applies to server-side sessions only (`SessionLayer::with_store`)"
    )]
    NoStore(&'static str),
    /// A store table name that is not a plain lower-case SQL identifier (it
    /// is spliced into SQL, and servers fold unquoted capitals differently).
    #[error(
        "`{0}` is not a plain SQL identifier: use lower-case ASCII letters, digits and `_`, at most 48"
    )]
    TableName(String),
    /// Not a usable request header name for the session token.
    #[error(
        "`{0}` cannot carry the session token: use a header name such as `x-session` or `authorization`, not `cookie`"
    )]
    TokenHeader(String),
    /// A timeout of zero or over a minute.
    #[error("{what} must be between 1 millisecond and 60 seconds")]
    Timeout {
        /// Which setting.
        what: &'static str,
    },
}

/// Where the layer reads the time: the system clock, or a fixed one in tests.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F: Fn() -> SystemTime + Send + Sync + 'static> Clock for F {
    fn now(&self) -> SystemTime {
        self()
    }
}

pub(crate) fn unix_secs(clock: &dyn Clock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Whether the cookie name carries the `__Host-` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostPrefix {
    /// Whenever the settings allow it (the default).
    WhenAllowed,
    /// Always: settings that forbid it are refused.
    Required,
    /// Never (`without_host_prefix`).
    Off,
}

/// The cookie, lifetime and transport settings of one layer. Every builder
/// change is checked by [`Settings::validate`] against the whole, so the
/// rules hold whatever order the settings were given in.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) name: Cow<'static, str>,
    pub(crate) domain: Option<String>,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) host_prefix: HostPrefix,
    pub(crate) lifetime: Duration,
    pub(crate) absolute_timeout: AbsoluteTimeout,
    /// The longest one store call may take: the layer's store's and the
    /// revocation store's, whichever the layer has or gets.
    pub(crate) store_timeout: Duration,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) always_save: bool,
    pub(crate) ssl_only: bool,
    /// New sessions get browser-session cookies (no `Max-Age`).
    pub(crate) browser_session: bool,
    /// The request header that may carry the token (lowercase).
    pub(crate) token_header: Option<http::HeaderName>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Settings {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            domain: None,
            path: "/".to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            host_prefix: HostPrefix::WhenAllowed,
            lifetime: DEFAULT_LIFETIME,
            absolute_timeout: AbsoluteTimeout::Default,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            refresh_after: None,
            always_save: false,
            ssl_only: false,
            browser_session: false,
            token_header: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Every rule that concerns more than one setting, in one place.
    ///
    /// # Errors
    ///
    /// The first rule broken.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !valid_cookie_name(&self.name)
            || self.name.starts_with(HOST_PREFIX)
            || self.name.starts_with("__Secure-")
        {
            return Err(ConfigError::CookieName(self.name.clone().into_owned()));
        }
        if let Some(domain) = &self.domain
            && (domain.is_empty() || !valid_attribute(domain) || domain.contains(' '))
        {
            return Err(ConfigError::Domain(domain.clone()));
        }
        if !self.path.starts_with('/') || !valid_attribute(&self.path) {
            return Err(ConfigError::Path(self.path.clone()));
        }
        if self.host_prefix == HostPrefix::Required {
            if self.domain.is_some() {
                return Err(ConfigError::HostPrefix("no `Domain`"));
            }
            if self.path != "/" {
                return Err(ConfigError::HostPrefix("`Path=/`"));
            }
            if !self.secure {
                return Err(ConfigError::HostPrefix("`Secure`"));
            }
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(ConfigError::SameSiteNoneInsecure);
        }
        if self
            .refresh_after
            .is_some_and(|after| after > self.lifetime / 2)
        {
            // a session used less often than the refresh interval but more
            // often than its lifetime would expire while in use
            return Err(ConfigError::RefreshInterval {
                after: self.refresh_after.unwrap_or_default(),
                limit: "half the lifetime",
            });
        }
        if let (Some(after), AbsoluteTimeout::Limit(limit)) =
            (self.refresh_after, self.absolute_timeout)
            && after > limit
        {
            return Err(ConfigError::RefreshInterval {
                after,
                limit: "the absolute timeout",
            });
        }
        Ok(())
    }

    /// The absolute timeout of a session whose idle lifetime is
    /// `lifetime` (at most [`MAX_LIFETIME`] when lifted).
    pub(crate) fn absolute_limit(&self, lifetime: Duration) -> Duration {
        match self.absolute_timeout {
            AbsoluteTimeout::Default => DEFAULT_ABSOLUTE_TIMEOUT.max(lifetime),
            AbsoluteTimeout::Limit(limit) => limit,
            // lifted: the 400-day cap still holds
            AbsoluteTimeout::Off => MAX_LIFETIME,
        }
    }

    /// Whether the cookie carries the `__Host-` prefix: when required, and
    /// by default whenever the settings allow it (`Secure`, `Path=/`, no
    /// `Domain`).
    pub(crate) fn has_host_prefix(&self) -> bool {
        match self.host_prefix {
            HostPrefix::Required => true,
            HostPrefix::WhenAllowed => self.secure && self.path == "/" && self.domain.is_none(),
            HostPrefix::Off => false,
        }
    }

    /// The name on the wire, with the `__Host-` prefix when it has one.
    pub(crate) fn cookie_name(&self) -> Cow<'static, str> {
        if self.has_host_prefix() {
            Cow::Owned(format!("{HOST_PREFIX}{}", self.name))
        } else {
            self.name.clone()
        }
    }

    /// How long after its last write a session is re-sealed with a fresh
    /// expiry (sliding refresh): a quarter of the lifetime unless set, and
    /// never more than half of it, so a session in use (a request at least
    /// every half lifetime) never expires. The cap matters for a session
    /// with its own, shorter lifetime (`set_lifetime`): the layer's setting
    /// was checked against the layer's lifetime only.
    pub(crate) fn refresh_after(&self, lifetime: Duration) -> Duration {
        self.refresh_after
            .map_or(lifetime / 4, |after| after.min(lifetime / 2))
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.cookie_name())
            .field("domain", &self.domain)
            .field("path", &self.path)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("lifetime", &self.lifetime)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("refresh_after", &self.refresh_after)
            .field("always_save", &self.always_save)
            .field("ssl_only", &self.ssl_only)
            .field("browser_session", &self.browser_session)
            .field("token_header", &self.token_header)
            .finish_non_exhaustive()
    }
}

/// RFC 6265 `token`.
pub(crate) fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// An attribute value: no `;`, no control characters.
pub(crate) fn valid_attribute(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' || b == b' ')
}

/// A timeout for store calls or contention: 1 ms ..= 60 s.
pub(crate) fn check_short_duration(
    what: &'static str,
    d: Duration,
) -> Result<Duration, ConfigError> {
    if d < Duration::from_millis(1) || d > Duration::from_secs(60) {
        return Err(ConfigError::Timeout { what });
    }
    Ok(d)
}

pub(crate) fn check_duration(what: &'static str, d: Duration) -> Result<Duration, ConfigError> {
    if d < Duration::from_secs(1) || d > MAX_LIFETIME {
        return Err(ConfigError::Duration { what });
    }
    Ok(d)
}
