//! [`SessionLayer`]: configuration and the `tower::Layer`.

use crate::codec::{Bincode, Codec, CodecError};
use crate::config::{
    Clock, Config, ConfigError, HOST_PREFIX, SameSite, check_duration, valid_attribute,
    valid_cookie_name,
};
use crate::data::{SessionData, Storage};
use crate::seal::{KeyRing, Meta, Mode, OpenError, Opened, Sealer};
use crate::service::SessionService;
use crate::slot::Engine;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Adds typed sessions of type `S` to every request of a service.
///
/// Build it with [`SessionLayer::new`] and the `with_*` methods; the
/// defaults are the safe ones: encrypted, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, a 7-day sliding lifetime.
///
/// ```
/// use session_runtime::{MasterKey, Session, SessionLayer};
/// use std::time::Duration;
///
/// #[derive(Session, Default)]
/// struct Prefs {
///     dark_mode: bool,
/// }
///
/// let key = MasterKey::from_secret(&[7; 32])?; // load yours with MasterKey::from_env
/// let layer = SessionLayer::<Prefs>::new(key)
///     .with_lifetime(Duration::from_secs(30 * 24 * 3600))?
///     .with_host_prefix()?;
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `new` is for session types whose [`STORAGE`](SessionData::STORAGE) is
/// [`Storage::Cookie`]; for any other type it does not compile, because
/// such a session needs a server-side store.
#[must_use]
pub struct SessionLayer<S: SessionData, C: Codec = Bincode> {
    shared: Arc<Shared<S, C>>,
}

pub(crate) struct Shared<S, C> {
    pub(crate) config: Config,
    pub(crate) sealer: Sealer,
    /// Rendered from `config` whenever it changes.
    cookie_attributes: String,
    cookie_name: String,
    _types: PhantomData<fn() -> (S, C)>,
}

impl<S, C> Clone for Shared<S, C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            sealer: self.sealer.clone(),
            cookie_attributes: self.cookie_attributes.clone(),
            cookie_name: self.cookie_name.clone(),
            _types: PhantomData,
        }
    }
}

impl<S: SessionData, C: Codec> Clone for SessionLayer<S, C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: SessionData, C: Codec> std::fmt::Debug for SessionLayer<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("session", &std::any::type_name::<S>())
            .field("codec", &C::NAME)
            .field("mode", &self.shared.sealer.mode())
            .field("keys", &"REDACTED")
            .field("config", &self.shared.config)
            .finish()
    }
}

/// The compile error for `SessionLayer::new` on a non-`Cookie` session type.
const NEEDS_STORE: &str = "this session type is not `Storage::Cookie` (it has an unbounded field, does not fit a cookie, or is `storage = \"server\"`), so it needs a server-side store; a cookie-only `SessionLayer::new` cannot hold it";

impl<S: SessionData + Send> SessionLayer<S, Bincode>
where
    S::Access: Send,
{
    /// A cookie-only layer sealing with `keys` (a [`MasterKey`](crate::MasterKey)
    /// or a [`KeyRing`]).
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        // short source lines: the compiler quotes them in the error
        const { assert!(matches!(S::STORAGE, Storage::Cookie), "{}", NEEDS_STORE) }
        let config = Config::new(S::COOKIE_NAME);
        Self {
            shared: Arc::new(Shared {
                cookie_attributes: crate::cookie_header::attribute_suffix(&config),
                cookie_name: config.cookie_name().into_owned(),
                config,
                sealer: Sealer::new(keys, Mode::default()),
                _types: PhantomData,
            }),
        }
    }
}

impl<S: SessionData + Send, C: Codec> SessionLayer<S, C>
where
    S::Access: Send,
{
    fn edit(self, change: impl FnOnce(&mut Shared<S, C>)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        change(&mut shared);
        shared.cookie_attributes = crate::cookie_header::attribute_suffix(&shared.config);
        shared.cookie_name = shared.config.cookie_name().into_owned();
        Self {
            shared: Arc::new(shared),
        }
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Encodes fields with another codec (cookies written with the old one
    /// become "no session").
    pub fn with_codec<C2: Codec>(self) -> SessionLayer<S, C2> {
        let shared = Arc::unwrap_or_clone(self.shared);
        SessionLayer {
            shared: Arc::new(Shared {
                config: shared.config,
                sealer: shared.sealer,
                cookie_attributes: shared.cookie_attributes,
                cookie_name: shared.cookie_name,
                _types: PhantomData,
            }),
        }
    }

    /// Encrypted (default) or signed cookies.
    ///
    /// # Security
    ///
    /// [`Mode::Signed`] lets the user read the session.
    pub fn with_mode(self, mode: Mode) -> Self {
        self.edit(|shared| shared.sealer = Sealer::new(shared.sealer.keys().clone(), mode))
    }

    /// Replaces the keys, e.g. with a [`KeyRing`] holding the previous
    /// secret during a rotation.
    pub fn with_keys(self, keys: impl Into<KeyRing>) -> Self {
        let keys = keys.into();
        self.edit(|shared| shared.sealer = Sealer::new(keys, shared.sealer.mode()))
    }

    /// The cookie name (default: `#[session(cookie = ..)]` or the snake_case
    /// type name). Without a prefix: see [`with_host_prefix`](Self::with_host_prefix).
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] for a name that is not an RFC 6265 token;
    /// [`ConfigError::CookieNameTooLong`] for a cookie-only session whose
    /// size budget was computed for a shorter name.
    pub fn with_cookie_name(self, name: impl Into<Cow<'static, str>>) -> Result<Self, ConfigError> {
        let name = name.into();
        if !valid_cookie_name(&name)
            || name.starts_with(HOST_PREFIX)
            || name.starts_with("__Secure-")
        {
            return Err(ConfigError::CookieName(name.into_owned()));
        }
        if matches!(S::STORAGE, Storage::Cookie) && name.len() > S::COOKIE_NAME.len() {
            return Err(ConfigError::CookieNameTooLong {
                name: name.into_owned(),
                declared: S::COOKIE_NAME,
            });
        }
        Ok(self.edit(|shared| shared.config.name = name))
    }

    /// The `Domain` attribute (default: none, the cookie stays on the host
    /// that set it).
    ///
    /// # Errors
    ///
    /// [`ConfigError::HostPrefix`] with the `__Host-` prefix, which forbids
    /// a domain; [`ConfigError::Domain`] for an invalid value.
    ///
    /// # Security
    ///
    /// A domain shares the session with every subdomain.
    pub fn with_domain(self, domain: impl Into<String>) -> Result<Self, ConfigError> {
        let domain = domain.into();
        if self.config().host_prefix {
            return Err(ConfigError::HostPrefix("no `Domain`"));
        }
        if domain.is_empty() || !valid_attribute(&domain) || domain.contains(' ') {
            return Err(ConfigError::Domain(domain));
        }
        Ok(self.edit(|shared| shared.config.domain = Some(domain)))
    }

    /// The `Path` attribute (default `/`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::HostPrefix`] for a path other than `/` with the
    /// `__Host-` prefix; [`ConfigError::Path`] for an invalid path.
    pub fn with_path(self, path: impl Into<String>) -> Result<Self, ConfigError> {
        let path = path.into();
        if !path.starts_with('/') || !valid_attribute(&path) {
            return Err(ConfigError::Path(path));
        }
        if self.config().host_prefix && path != "/" {
            return Err(ConfigError::HostPrefix("`Path=/`"));
        }
        Ok(self.edit(|shared| shared.config.path = path))
    }

    /// The `Secure` attribute (default true).
    ///
    /// # Errors
    ///
    /// Turning it off is refused with the `__Host-` prefix or
    /// `SameSite=None`.
    ///
    /// # Security
    ///
    /// Without `Secure` the cookie travels over plain HTTP, where anyone on
    /// the path can copy it. Only for local development.
    pub fn with_secure(self, secure: bool) -> Result<Self, ConfigError> {
        if !secure && self.config().host_prefix {
            return Err(ConfigError::HostPrefix("`Secure`"));
        }
        if !secure && self.config().same_site == SameSite::None {
            return Err(ConfigError::SameSiteNoneInsecure);
        }
        Ok(self.edit(|shared| shared.config.secure = secure))
    }

    /// The `HttpOnly` attribute (default true).
    ///
    /// # Security
    ///
    /// Without it, any script on the page (including injected ones) can read
    /// the cookie.
    pub fn with_http_only(self, http_only: bool) -> Self {
        self.edit(|shared| shared.config.http_only = http_only)
    }

    /// The `SameSite` attribute (default `Lax`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::SameSiteNoneInsecure`] for `None` without `Secure`.
    pub fn with_same_site(self, same_site: SameSite) -> Result<Self, ConfigError> {
        if same_site == SameSite::None && !self.config().secure {
            return Err(ConfigError::SameSiteNoneInsecure);
        }
        Ok(self.edit(|shared| shared.config.same_site = same_site))
    }

    /// Names the cookie `__Host-<name>`, which browsers accept only with
    /// `Secure`, `Path=/` and no `Domain`: the cookie cannot be set or
    /// overwritten by a subdomain. The size budget always counts the prefix.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HostPrefix`] when a domain, a path other than `/`, or
    /// `Secure=false` is already configured.
    pub fn with_host_prefix(self) -> Result<Self, ConfigError> {
        let config = self.config();
        if config.domain.is_some() {
            return Err(ConfigError::HostPrefix("no `Domain`"));
        }
        if config.path != "/" {
            return Err(ConfigError::HostPrefix("`Path=/`"));
        }
        if !config.secure {
            return Err(ConfigError::HostPrefix("`Secure`"));
        }
        Ok(self.edit(|shared| shared.config.host_prefix = true))
    }

    /// How long a session lives without being used (default 7 days): each
    /// write, and the throttled refresh, pushes the expiry this far ahead.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days.
    pub fn with_lifetime(self, lifetime: Duration) -> Result<Self, ConfigError> {
        let lifetime = check_duration("the lifetime", lifetime)?;
        Ok(self.edit(|shared| shared.config.lifetime = lifetime))
    }

    /// The longest a session may live from its creation (or its last
    /// `cycle_id`), however active (default: no limit).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days.
    pub fn with_absolute_timeout(self, limit: Duration) -> Result<Self, ConfigError> {
        let limit = check_duration("the absolute timeout", limit)?;
        Ok(self.edit(|shared| shared.config.absolute_timeout = Some(limit)))
    }

    /// How long after its last write an unchanged session is re-sealed to
    /// slide its expiry (default: a quarter of the lifetime). Smaller values
    /// mean more `Set-Cookie` headers.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days.
    pub fn with_refresh_after(self, after: Duration) -> Result<Self, ConfigError> {
        let after = check_duration("the refresh interval", after)?;
        Ok(self.edit(|shared| shared.config.refresh_after = Some(after)))
    }

    /// Re-seals an existing session on every request, changed or not, even
    /// when the handler did not extract it (vishnu's `auto_save`). Costs a
    /// decode and a seal per request.
    pub fn with_always_save(self, always: bool) -> Self {
        self.edit(|shared| shared.config.always_save = always)
    }

    /// Reads and sets the session only on HTTPS requests (gae-sessions'
    /// `ssl_only`): the URI scheme, or `X-Forwarded-Proto: https`.
    ///
    /// # Security
    ///
    /// Behind a proxy, the proxy must set `X-Forwarded-Proto` and strip any
    /// value the client sent.
    pub fn with_ssl_only(self, ssl_only: bool) -> Self {
        self.edit(|shared| shared.config.ssl_only = ssl_only)
    }

    /// Where the layer reads the time (default: the system clock).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.edit(|shared| shared.config.clock = clock)
    }
}

impl<S: SessionData + Send, C: Codec> Engine<S> for Shared<S, C>
where
    S::Access: Send,
{
    fn config(&self) -> &Config {
        &self.config
    }

    fn cookie_attributes(&self) -> &str {
        &self.cookie_attributes
    }

    fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    fn open(&self, name: &str, value: &str, now: u64) -> Result<Opened<S>, OpenError> {
        self.sealer.open::<S, C>(name, value, now)
    }

    fn encode(&self, data: &S) -> Result<Vec<u8>, CodecError> {
        crate::data::encode_to_vec::<S, C>(data)
    }

    fn seal_body(&self, name: &str, meta: &Meta, body: &[u8]) -> String {
        self.sealer.seal_body::<C>(name, S::FINGERPRINT, meta, body)
    }
}

impl<Inner, S: SessionData + Send, C: Codec> tower_layer::Layer<Inner> for SessionLayer<S, C>
where
    S::Access: Send,
{
    type Service = SessionService<Inner, S>;

    fn layer(&self, inner: Inner) -> Self::Service {
        let engine: Arc<dyn Engine<S>> = self.shared.clone();
        SessionService::new(inner, engine)
    }
}
