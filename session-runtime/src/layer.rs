//! [`SessionLayer`]: configuration and the `tower::Layer`.

use crate::codec::{Bincode, Codec, CodecError};
use crate::config::{
    Clock, Config, ConfigError, HOST_PREFIX, SameSite, check_duration, check_short_duration,
    valid_attribute, valid_cookie_name,
};
use crate::data::{FieldSet, Part, SessionData, Storage};
use crate::id::StoreKey;
use crate::seal::{KeyRing, Meta, Mode, OpenError, Opened, Sealer};
use crate::service::SessionService;
use crate::slot::{
    DEFAULT_CONTENTION_TIMEOUT, DEFAULT_STORE_TIMEOUT, Engine, OutagePolicy, ServerTier,
};
use crate::store::{Record, SessionStore};
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
    /// Set by [`SessionLayer::with_store`].
    server: Option<ServerTier>,
    _types: PhantomData<fn() -> (S, C)>,
}

impl<S, C> Clone for Shared<S, C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            sealer: self.sealer.clone(),
            cookie_attributes: self.cookie_attributes.clone(),
            cookie_name: self.cookie_name.clone(),
            server: self.server.clone(),
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
            .field("server", &self.shared.server)
            .finish()
    }
}

/// The compile error for `SessionLayer::new` on a non-`Cookie` session type.
const NEEDS_STORE: &str = "this session type is not `Storage::Cookie` (it has an unbounded field, does not fit a cookie, or is `storage = \"server\"`), so it needs a server-side store: use `SessionLayer::with_store`";

/// The compile error for `SessionLayer::with_store` on a `Cookie` session type.
const NO_STORE: &str = "this session type is `Storage::Cookie`: it always lives in its cookie and a store would never be used; use `SessionLayer::new`, or `#[session(storage = \"server\")]` to keep it server-side";

/// The largest encoded session a server layer accepts by default: 1 MiB,
/// gae-sessions' cap.
pub const DEFAULT_MAX_SIZE: usize = crate::codec::DECODE_LIMIT;

impl<S: SessionData + Send> SessionLayer<S, Bincode>
where
    S::Access: Send,
{
    /// A cookie-only layer sealing with `keys` (a [`MasterKey`](crate::MasterKey)
    /// or a [`KeyRing`]).
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        // short source lines: the compiler quotes them in the error
        const { assert!(matches!(S::STORAGE, Storage::Cookie), "{}", NEEDS_STORE) }
        Self::build(keys.into(), None)
    }

    /// A layer keeping sessions server-side in `store`, for session types
    /// whose [`STORAGE`](SessionData::STORAGE) is [`Storage::Adaptive`] (in
    /// the cookie while small, see [`with_cookie_threshold`](Self::with_cookie_threshold))
    /// or [`Storage::Server`] (the cookie carries only a signed ID).
    ///
    /// ```
    /// use session_runtime::{MasterKey, MemoryStore, Session, SessionLayer};
    ///
    /// #[derive(Session, Default)]
    /// #[session(storage = "server")]
    /// struct Account {
    ///     user_id: Option<u64>,
    /// }
    ///
    /// let key = MasterKey::from_secret(&[7; 32])?;
    /// let layer = SessionLayer::<Account>::with_store(key, MemoryStore::default());
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// For a [`Storage::Cookie`] session type it does not compile: its data
    /// always fits the cookie, so the store would never be used.
    pub fn with_store(keys: impl Into<KeyRing>, store: impl SessionStore) -> Self {
        const { assert!(!matches!(S::STORAGE, Storage::Cookie), "{}", NO_STORE) }
        let tier = ServerTier {
            store: Arc::new(store),
            storage: S::STORAGE,
            threshold: match S::STORAGE {
                Storage::Adaptive => {
                    crate::seal::envelope::cookie_body_budget(S::COOKIE_NAME.len())
                }
                _ => 0,
            },
            max_size: DEFAULT_MAX_SIZE,
            outage: OutagePolicy::default(),
            breaker: Arc::default(),
            timeout: DEFAULT_STORE_TIMEOUT,
            contention: DEFAULT_CONTENTION_TIMEOUT,
        };
        Self::build(keys.into(), Some(tier))
    }

    fn build(keys: KeyRing, server: Option<ServerTier>) -> Self {
        let config = Config::new(S::COOKIE_NAME);
        Self {
            shared: Arc::new(Shared {
                cookie_attributes: crate::cookie_header::attribute_suffix(&config),
                cookie_name: config.cookie_name().into_owned(),
                config,
                sealer: Sealer::new(keys, Mode::default()),
                server,
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
                server: shared.server,
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

    /// The largest encoding (in bytes) of an [`Storage::Adaptive`] session
    /// kept in its cookie (gae-sessions' `cookie_only_threshold`); larger
    /// ones move to the store, and back when they shrink. Default: the
    /// cookie budget for the cookie's name (about 3 KB). `0` keeps every
    /// session server-side.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotAdaptive`] unless the layer has a store and the
    /// session type is `Adaptive`.
    pub fn with_cookie_threshold(self, bytes: usize) -> Result<Self, ConfigError> {
        match &self.shared.server {
            Some(tier) if tier.storage == Storage::Adaptive => {}
            _ => return Err(ConfigError::NotAdaptive(std::any::type_name::<S>())),
        }
        Ok(self.edit(|shared| {
            if let Some(tier) = &mut shared.server {
                tier.threshold = bytes;
            }
        }))
    }

    /// The largest encoded session a server layer saves (default 1 MiB);
    /// saving a larger one fails the request with a 500 that says so.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MaxSize`] for 0, more than 1 MiB (the most a session
    /// decodes), or a layer without a store.
    pub fn with_max_size(self, bytes: usize) -> Result<Self, ConfigError> {
        if self.shared.server.is_none() || bytes == 0 || bytes > DEFAULT_MAX_SIZE {
            return Err(ConfigError::MaxSize(bytes));
        }
        Ok(self.edit(|shared| {
            if let Some(tier) = &mut shared.server {
                tier.max_size = bytes;
            }
        }))
    }

    /// What to do when the store fails (default
    /// [`OutagePolicy::Unavailable`]: 503 with a clear body).
    pub fn with_outage_policy(self, policy: OutagePolicy) -> Self {
        self.edit(|shared| {
            if let Some(tier) = &mut shared.server {
                tier.outage = policy;
            }
        })
    }

    /// The longest one store call may take (default 2 seconds) before the
    /// request follows the outage policy. A store that fails or times out
    /// repeatedly is then skipped for a short while (a circuit breaker), so
    /// later requests do not wait for it at all.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoStore`] on a layer without a store;
    /// [`ConfigError::Timeout`] for zero or more than a minute.
    pub fn with_store_timeout(self, timeout: Duration) -> Result<Self, ConfigError> {
        let timeout = check_short_duration("the store timeout", timeout)?;
        self.edit_server(|tier| tier.timeout = timeout)
    }

    /// How long a save keeps retrying, with backoff and jitter, while
    /// concurrent requests change the same session (default 2 seconds).
    /// Past it the request answers `503 Service Unavailable` with
    /// `Retry-After: 1` and changes nothing.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoStore`] on a layer without a store;
    /// [`ConfigError::Timeout`] for zero or more than a minute.
    pub fn with_contention_timeout(self, timeout: Duration) -> Result<Self, ConfigError> {
        let timeout = check_short_duration("the contention timeout", timeout)?;
        self.edit_server(|tier| tier.contention = timeout)
    }

    fn edit_server(self, change: impl FnOnce(&mut ServerTier)) -> Result<Self, ConfigError> {
        if self.shared.server.is_none() {
            return Err(ConfigError::NoStore(std::any::type_name::<S>()));
        }
        Ok(self.edit(|shared| {
            if let Some(tier) = &mut shared.server {
                change(tier);
            }
        }))
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

    fn keys(&self) -> &KeyRing {
        self.sealer.keys()
    }

    fn server(&self) -> Option<&ServerTier> {
        self.server.as_ref()
    }

    fn seal_record(
        &self,
        key: &StoreKey,
        meta: &Meta,
        data: &S,
        split_quick: bool,
    ) -> Result<(Vec<u8>, Vec<u8>), CodecError> {
        let context = record_context(&self.cookie_name, key);
        let seal = |part: Part, context: &str| -> Result<Vec<u8>, CodecError> {
            let mut body = Vec::new();
            data.encode::<C>(part, &mut body)?;
            Ok(self
                .sealer
                .seal_raw::<C>(context, S::FINGERPRINT, meta, &body))
        };
        if split_quick {
            Ok((
                seal(Part::Durable, &context)?,
                seal(Part::Quick, &quick_context(&context))?,
            ))
        } else {
            Ok((seal(Part::All, &context)?, Vec::new()))
        }
    }

    fn open_record(
        &self,
        key: &StoreKey,
        record: Record,
        now: u64,
        split_quick: bool,
    ) -> Result<Opened<S>, OpenError> {
        let context = record_context(&self.cookie_name, key);
        let part = if split_quick {
            Part::Durable
        } else {
            Part::All
        };
        let opened = self
            .sealer
            .open_part::<S, C>(&context, record.data, part, Some(now))?;
        let mut data = opened.data;
        if split_quick && !record.quick.is_empty() {
            // quick fields are best effort: a bad blob leaves them default
            let quick = self.sealer.open_part::<S, C>(
                &quick_context(&context),
                record.quick,
                Part::Quick,
                None,
            );
            match quick {
                Ok(mut holder) => data.take_fields(&mut holder.data, &quick_fields::<S>()),
                Err(reason) => tracing::debug!(%reason, "quick session fields dropped"),
            }
        }
        // the full encoding, to tell later whether anything changed
        let body = crate::data::encode_to_vec::<S, C>(&data).map_err(OpenError::Decode)?;
        Ok(Opened {
            data,
            meta: opened.meta,
            body,
            stale_key: opened.stale_key,
            migrated: opened.migrated,
        })
    }
}

/// The sealing context of a server record: the cookie name and the row's
/// key. A record opens only under the key it was written for and for the
/// session type (cookie) that wrote it; the fingerprint inside the
/// envelope then checks the shape.
fn record_context(cookie_name: &str, key: &StoreKey) -> String {
    format!("{cookie_name}/{}", key.to_hex())
}

/// The sealing context of a record's quick-fields blob: distinct from the
/// durable blob's, so one cannot be passed off as the other.
fn quick_context(context: &str) -> String {
    format!("{context}/quick")
}

fn quick_fields<S: SessionData>() -> FieldSet {
    let mut set = FieldSet::new();
    for (index, field) in S::FIELDS.iter().enumerate() {
        if field.quick {
            set.insert(index);
        }
    }
    set
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
