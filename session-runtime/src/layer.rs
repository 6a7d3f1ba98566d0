//! [`SessionLayer`]: a layer's settings, validated as a whole, and the
//! Tower `Layer` (see [`crate::tower`]) or actix-web middleware built from
//! them.

use crate::codec::{Bincode, Codec};
use crate::config::{
    AbsoluteTimeout, Clock, ConfigError, DEFAULT_CONTENTION_TIMEOUT, DEFAULT_STORE_TIMEOUT,
    HostPrefix, SameSite, Settings, check_duration, check_short_duration,
};
use crate::core::codec_ops_for;
use crate::core::{Core, Guarded, OutagePolicy, Revocation, ServerTier};
use crate::data::{SessionData, Storage};
use crate::seal::{KeyRing, Mode, Sealer};
use crate::store::SessionStore;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// Typed sessions of type `S` for every request of a service.
///
/// Build it with [`SessionLayer::new`] (cookie sessions) or
/// [`SessionLayer::with_store`] (server-side sessions) and the `with_*`
/// methods; the defaults are the safe ones: encrypted, `Secure`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, a 7-day sliding lifetime. Every
/// change is checked against the whole configuration, so a rule (the
/// `__Host-` prefix needs `Secure`, `Path=/` and no `Domain`) holds in
/// whatever order the settings are given.
///
/// It is a `tower::Layer` (axum, hyper, tonic), and with the `actix`
/// feature the same value configures `session_runtime::actix::SessionMiddleware`.
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
/// [`Storage::Cookie`]; for any other type the call is a type error (also
/// under `cargo check`, at the call) that says to use `with_store`, because
/// such a session needs a server-side store.
#[must_use]
pub struct SessionLayer<S: SessionData> {
    pub(crate) core: Arc<Core<S>>,
}

impl<S: SessionData> Clone for SessionLayer<S> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<S: SessionData> std::fmt::Debug for SessionLayer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("session", &std::any::type_name::<S>())
            .field("codec", &self.core.codec.name())
            .field("mode", &self.core.sealer.mode())
            .field("keys", &"REDACTED")
            .field("settings", &self.core.settings)
            .field("server", &self.core.server)
            .finish()
    }
}

impl<S: SessionData + Send> SessionLayer<S>
where
    S::Access: Send,
{
    /// A cookie-only layer sealing with `keys` (a [`MasterKey`](crate::MasterKey)
    /// or a [`KeyRing`]).
    ///
    /// The bound on `S::Tier` (hidden; the derive sets it from
    /// [`STORAGE`](SessionData::STORAGE)) holds for [`Storage::Cookie`]
    /// session types only; for any other the error names the type and says
    /// to use [`with_store`](Self::with_store).
    pub fn new(keys: impl Into<KeyRing>) -> Self
    where
        S::Tier: crate::tier::CookieTier<S>,
    {
        Self::build(keys.into(), None)
    }

    /// A layer keeping sessions server-side in `store`, for session types
    /// whose [`STORAGE`](SessionData::STORAGE) is [`Storage::Adaptive`] (in
    /// the cookie while small, see [`with_cookie_threshold`](Self::with_cookie_threshold))
    /// or [`Storage::Server`] (the cookie carries only a signed ID).
    ///
    /// Any [`SessionStore`] will do. The layer lists and revokes a user's
    /// sessions through the user index the store hands out
    /// ([`SessionStore::user_index`]; without one,
    /// [`Session::user_sessions`](crate::Session::user_sessions) answers
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported)), reads
    /// its users' revocation times ([`SessionStore::revocation_times`])
    /// around the re-issue of a `Server` session, and saves
    /// `#[session(quick)]` fields alone in a [`Tiered`](crate::Tiered)
    /// store's cache ([`SessionStore::quick_tier`]).
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
    /// For a [`Storage::Cookie`] session type the call is a type error (also
    /// under `cargo check`, at the call) that says to use [`new`](Self::new)
    /// or `#[session(storage = "server")]`: its data always fits the cookie,
    /// so the store would never be used.
    pub fn with_store(keys: impl Into<KeyRing>, store: impl SessionStore) -> Self
    where
        S::Tier: crate::tier::StoreTier<S>,
    {
        let tier = ServerTier {
            guarded: Guarded::new(crate::store::erase(store), DEFAULT_STORE_TIMEOUT),
            storage: S::STORAGE,
            threshold: match S::STORAGE {
                Storage::Adaptive => {
                    crate::seal::envelope::cookie_body_budget(S::COOKIE_NAME.len())
                }
                _ => 0,
            },
            max_size: crate::codec::DECODE_LIMIT,
            outage: OutagePolicy::default(),
            contention: DEFAULT_CONTENTION_TIMEOUT,
        };
        Self::build(keys.into(), Some(tier))
    }

    fn build(keys: KeyRing, server: Option<ServerTier>) -> Self {
        let mut core = Core {
            settings: Settings::new(S::COOKIE_NAME),
            sealer: Sealer::new(keys, Mode::default()),
            codec: codec_ops_for::<S, Bincode>(),
            server,
            revocation: None,
            cookie_attributes: String::new(),
            cookie_name: String::new(),
            index_cookie: String::new(),
            metrics: crate::telemetry::SessionMetrics::new(""),
        };
        core.refresh();
        Self {
            core: Arc::new(core),
        }
    }
}

impl<S: SessionData + Send> SessionLayer<S>
where
    S::Access: Send,
{
    /// Applies a change that cannot break a rule.
    fn edit(self, change: impl FnOnce(&mut Core<S>)) -> Self {
        let mut core = Arc::unwrap_or_clone(self.core);
        change(&mut core);
        core.refresh();
        Self {
            core: Arc::new(core),
        }
    }

    /// Applies a settings change, then checks the whole configuration.
    fn edit_settings(self, change: impl FnOnce(&mut Settings)) -> Result<Self, ConfigError> {
        let mut core = Arc::unwrap_or_clone(self.core);
        change(&mut core.settings);
        core.settings.validate()?;
        core.refresh();
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// Encodes fields with another codec (cookies written with the old one
    /// become "no session"). The default is [`Bincode`].
    pub fn with_codec<C: Codec>(self) -> Self {
        self.edit(|core| core.codec = codec_ops_for::<S, C>())
    }

    /// Encrypted (default) or signed cookies.
    ///
    /// # Security
    ///
    /// [`Mode::Signed`] lets the user read the session.
    pub fn with_mode(self, mode: Mode) -> Self {
        self.edit(|core| core.sealer = Sealer::new(core.sealer.keys().clone(), mode))
    }

    /// Replaces the keys, e.g. with a [`KeyRing`] holding the previous
    /// secret during a rotation.
    pub fn with_keys(self, keys: impl Into<KeyRing>) -> Self {
        let keys = keys.into();
        self.edit(|core| core.sealer = Sealer::new(keys, core.sealer.mode()))
    }

    /// The cookie name (default: `#[session(cookie = ..)]` or the snake_case
    /// type name), without the `__Host-` prefix the layer adds whenever the
    /// settings allow it (see [`with_host_prefix`](Self::with_host_prefix)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieName`] for a name that is not an RFC 6265 token;
    /// [`ConfigError::CookieNameTooLong`] for a cookie-only session whose
    /// size budget was computed for a shorter name.
    pub fn with_cookie_name(self, name: impl Into<Cow<'static, str>>) -> Result<Self, ConfigError> {
        let name = name.into();
        let too_long = matches!(S::STORAGE, Storage::Cookie) && name.len() > S::COOKIE_NAME.len();
        let layer = self.edit_settings(|settings| settings.name = name)?;
        if too_long {
            return Err(ConfigError::CookieNameTooLong {
                name: layer.core.settings.name.clone().into_owned(),
                declared: S::COOKIE_NAME,
            });
        }
        Ok(layer)
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
        self.edit_settings(|settings| settings.domain = Some(domain))
    }

    /// The `Path` attribute (default `/`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::HostPrefix`] for a path other than `/` with the
    /// `__Host-` prefix; [`ConfigError::Path`] for an invalid path.
    pub fn with_path(self, path: impl Into<String>) -> Result<Self, ConfigError> {
        let path = path.into();
        self.edit_settings(|settings| settings.path = path)
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
        self.edit_settings(|settings| settings.secure = secure)
    }

    /// The `HttpOnly` attribute (default true).
    ///
    /// # Security
    ///
    /// Without it, any script on the page (including injected ones) can read
    /// the cookie.
    pub fn with_http_only(self, http_only: bool) -> Self {
        self.edit(|core| core.settings.http_only = http_only)
    }

    /// The `SameSite` attribute (default `Lax`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::SameSiteNoneInsecure`] for `None` without `Secure`.
    pub fn with_same_site(self, same_site: SameSite) -> Result<Self, ConfigError> {
        self.edit_settings(|settings| settings.same_site = same_site)
    }

    /// Requires the `__Host-<name>` cookie name, which browsers accept only
    /// with `Secure`, `Path=/` and no `Domain`: the cookie cannot be set or
    /// overwritten by a sibling subdomain. The prefix is already the
    /// default whenever the settings allow it; this makes settings that
    /// would drop it (a domain, a path, `Secure=false`) errors instead. The
    /// size budget always counts the prefix.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HostPrefix`] when a domain, a path other than `/`, or
    /// `Secure=false` is configured, before or after.
    pub fn with_host_prefix(self) -> Result<Self, ConfigError> {
        self.edit_settings(|settings| settings.host_prefix = HostPrefix::Required)
    }

    /// Names the cookie without the `__Host-` prefix even where the
    /// settings allow it (by default the layer uses it whenever `Secure`,
    /// `Path=/` and no `Domain` are configured).
    ///
    /// # Security
    ///
    /// Without the prefix a sibling subdomain (or a man in the middle on
    /// plain HTTP) can set a cookie of the same name for this host: the
    /// layer then tries each and takes the first that opens, but a planted
    /// session that opens (the attacker's own) can still be tossed in.
    pub fn without_host_prefix(self) -> Self {
        self.edit(|core| core.settings.host_prefix = HostPrefix::Off)
    }

    /// How long a session lives without being used (default 7 days): each
    /// write, and the throttled refresh, pushes the expiry this far ahead.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days.
    pub fn with_lifetime(self, lifetime: Duration) -> Result<Self, ConfigError> {
        let lifetime = check_duration("the lifetime", lifetime)?;
        self.edit_settings(|settings| settings.lifetime = lifetime)
    }

    /// The longest a session may live from its login — its creation, its
    /// last [`cycle_id`](crate::Session::cycle_id) or change of user —
    /// however active. Default: [`DEFAULT_ABSOLUTE_TIMEOUT`](crate::DEFAULT_ABSOLUTE_TIMEOUT)
    /// (30 days), or the session's own lifetime when that is longer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days.
    pub fn with_absolute_timeout(self, limit: Duration) -> Result<Self, ConfigError> {
        let limit = check_duration("the absolute timeout", limit)?;
        self.edit_settings(|settings| settings.absolute_timeout = AbsoluteTimeout::Limit(limit))
    }

    /// Lets a session that keeps being used live until its 400-day cap
    /// ([`MAX_LIFETIME`](crate::MAX_LIFETIME)) instead of the default
    /// absolute timeout.
    ///
    /// # Security
    ///
    /// A copied cookie (or server-side ID) that its thief uses once in a
    /// while then stays valid for up to 400 days: logging out on the
    /// victim's side ends a server-side session, but not a cookie-held
    /// one without [`with_user_revocation`](Self::with_user_revocation).
    pub fn without_absolute_timeout(self) -> Self {
        self.edit(|core| core.settings.absolute_timeout = AbsoluteTimeout::Off)
    }

    /// How long after its last write an unchanged session is re-sealed to
    /// slide its expiry (default: a quarter of the lifetime). Smaller values
    /// mean more `Set-Cookie` headers. A session with its own, shorter
    /// lifetime ([`Session::set_lifetime`](crate::Session::set_lifetime))
    /// refreshes at least every half of it, so it never expires while in
    /// use.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Duration`] outside 1 second ..= 400 days;
    /// [`ConfigError::RefreshInterval`] over half the lifetime, or over the
    /// absolute timeout (whatever the order of the calls).
    pub fn with_refresh_after(self, after: Duration) -> Result<Self, ConfigError> {
        let after = check_duration("the refresh interval", after)?;
        self.edit_settings(|settings| settings.refresh_after = Some(after))
    }

    /// Re-seals an existing session on every request, changed or not, even
    /// when the handler did not extract it (vishnu's `auto_save`). Costs a
    /// decode and a seal per request.
    pub fn with_always_save(self, always: bool) -> Self {
        self.edit(|core| core.settings.always_save = always)
    }

    /// Reads and sets the session only on HTTPS requests (gae-sessions'
    /// `ssl_only`): the URI scheme, or `X-Forwarded-Proto: https`.
    ///
    /// # Security
    ///
    /// Behind a proxy, the proxy must set `X-Forwarded-Proto` and strip any
    /// value the client sent.
    pub fn with_ssl_only(self, ssl_only: bool) -> Self {
        self.edit(|core| core.settings.ssl_only = ssl_only)
    }

    /// Sends every new session's cookie without `Max-Age`, so browsers drop
    /// it when they close (default: persistent cookies for the lifetime).
    /// [`Session::set_lifetime`](crate::Session::set_lifetime) upgrades one
    /// session to a persistent cookie ("remember me"); the sealed expiry
    /// applies either way.
    pub fn with_browser_session(self, browser_session: bool) -> Self {
        self.edit(|core| core.settings.browser_session = browser_session)
    }

    /// Also accepts the session token in request header `name` (for API
    /// and mobile clients that keep no cookies), e.g. `x-session`, or
    /// `authorization` with the value `Session <token>`. A token travels
    /// only on the channel it came in: a request whose token came in the
    /// header gets a new token in the same response header when it changes
    /// (empty when the session ended), never a cookie; a cookie request,
    /// or one with no token at all, is answered in `Set-Cookie` alone, so
    /// the token never reaches a header the page's scripts can read. A
    /// header client that has no token yet asks for one by sending the
    /// header empty (`x-session:` or `Authorization: Session`). The token
    /// is the same sealed value or signed ID, with the same checks.
    ///
    /// # Errors
    ///
    /// [`ConfigError::TokenHeader`] for a name that is not a valid header
    /// name, or `cookie`.
    ///
    /// # Security
    ///
    /// A header token is not sent by browsers on their own, so it needs no
    /// CSRF protection; keep it out of logs and URLs like a password.
    pub fn with_token_header(self, name: &str) -> Result<Self, ConfigError> {
        let header = http::HeaderName::from_bytes(name.as_bytes())
            .ok()
            .filter(|header| header != http::header::COOKIE && header != http::header::SET_COOKIE)
            .ok_or_else(|| ConfigError::TokenHeader(name.to_owned()))?;
        self.edit_settings(|settings| settings.token_header = Some(header))
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
        match &self.core.server {
            Some(tier) if tier.storage == Storage::Adaptive => {}
            _ => return Err(ConfigError::NotAdaptive(std::any::type_name::<S>())),
        }
        self.edit_server(|tier| tier.threshold = bytes)
    }

    /// The largest encoded session a server layer saves (default 1 MiB,
    /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT)); saving a larger one
    /// fails the request with a 500 that says so.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoStore`] on a layer without a store;
    /// [`ConfigError::MaxSize`] for 0 or more than
    /// [`DECODE_LIMIT`](crate::codec::DECODE_LIMIT) (the most a session
    /// decodes).
    pub fn with_max_size(self, bytes: usize) -> Result<Self, ConfigError> {
        if self.core.server.is_some() && (bytes == 0 || bytes > crate::codec::DECODE_LIMIT) {
            return Err(ConfigError::MaxSize(bytes));
        }
        self.edit_server(|tier| tier.max_size = bytes)
    }

    /// What to do when the store fails (default
    /// [`OutagePolicy::Unavailable`]: 503 with a clear body).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoStore`] on a layer without a store, where it would
    /// do nothing.
    pub fn with_outage_policy(self, policy: OutagePolicy) -> Result<Self, ConfigError> {
        self.edit_server(|tier| tier.outage = policy)
    }

    /// The longest one store call may take (default 2 seconds) before the
    /// request follows the outage policy. A store that fails or times out
    /// repeatedly is then skipped for a short while (a circuit breaker), so
    /// later requests do not wait for it at all.
    ///
    /// It applies to the store of [`with_user_revocation`](Self::with_user_revocation)
    /// too, called before or after this.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Timeout`] for zero or more than a minute.
    pub fn with_store_timeout(self, timeout: Duration) -> Result<Self, ConfigError> {
        let timeout = check_short_duration("the store timeout", timeout)?;
        Ok(self.edit(|core| {
            core.settings.store_timeout = timeout;
            if let Some(tier) = &mut core.server {
                tier.guarded.timeout = timeout;
            }
            if let Some(revocation) = &mut core.revocation {
                revocation.guarded.timeout = timeout;
            }
        }))
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

    /// Logs users out everywhere even where their sessions live in a
    /// cookie: `store` keeps a per-user "not valid before" time, which
    /// [`Session::revoke_user_sessions`](crate::Session::revoke_user_sessions)
    /// (and `sessionkit revoke`) raises, and every request that loads a
    /// session with a user (`#[session(user)]`) reads it: **one store read
    /// per such request** (a Redis `GET`, a primary-key `SELECT`; see
    /// BENCHMARKS.md). A session issued before the time is refused like an
    /// expired one. Pass the layer's own store for an `Adaptive` session,
    /// so that its small, cookie-held sessions are covered too. When the
    /// store fails, the request fails (503): a revoked session is never let
    /// through. Store calls have the layer's store timeout (2 s by default)
    /// and a circuit breaker.
    ///
    /// A session type without a `#[session(user)]` field, or a store that
    /// cannot keep revocation times (memcached, which may evict them), does
    /// not compile: both are trait bounds ([`HasUserField`](crate::user::HasUserField),
    /// [`RevocationTimes`](crate::store::RevocationTimes)), so `cargo
    /// check` shows them at this call.
    ///
    /// The store timeout is the layer's whatever the order of the calls
    /// ([`with_store_timeout`](Self::with_store_timeout) before or after
    /// this one).
    pub fn with_user_revocation<St>(self, store: St) -> Self
    where
        S: crate::user::HasUserField,
        St: crate::store::RevocationTimes,
    {
        let revocation = Revocation {
            guarded: Guarded::new(
                crate::store::erase_revocations(store),
                self.core.settings.store_timeout,
            ),
        };
        self.edit(|core| core.revocation = Some(revocation))
    }

    fn edit_server(self, change: impl FnOnce(&mut ServerTier)) -> Result<Self, ConfigError> {
        if self.core.server.is_none() {
            return Err(ConfigError::NoStore(std::any::type_name::<S>()));
        }
        Ok(self.edit(|core| {
            if let Some(tier) = &mut core.server {
                change(tier);
            }
        }))
    }

    /// Where the layer reads the time (default: the system clock).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.edit(|core| core.settings.clock = clock)
    }
}
