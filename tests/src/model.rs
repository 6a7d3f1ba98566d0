//! A reference model of the documented session lifecycle, small and pure:
//! no I/O, no crate code. It is written from the README's rule tables ("The
//! request path", "Server-side sessions", "What logging out ends", "Log out
//! everywhere", "Changing a session struct") and the `KeyRing` docs, not
//! from the engine, so that `tests/tests/lifecycle.rs` can drive the real
//! layer with generated operation sequences and compare every response
//! with what the model says the documentation promises.
//!
//! The model keeps what a client holds (a sealed session, or a signed ID
//! naming a record) and what the store holds (records, and per-user
//! revocation times), and answers, for each request, what the handler
//! reads, whether the response sets, clears or leaves the token, and with
//! which lifetime.
//!
//! Where the README leaves a detail open, the rule chosen is written next
//! to the code, with the README sentence it refines.

use std::collections::BTreeMap;

/// One day, in seconds.
pub const DAY: u64 = 24 * 3600;
/// The default lifetime, an idle timeout ("lifetime (default 7 days)").
pub const LIFETIME: u64 = 7 * DAY;
/// The default absolute timeout ("default 30 days, or the session's own
/// lifetime when longer").
pub const ABSOLUTE: u64 = 30 * DAY;

/// The absolute timeout a layer sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absolute {
    /// 30 days, or the session's own lifetime when longer.
    Default,
    /// `with_absolute_timeout(secs)`.
    Limit(u64),
    /// `without_absolute_timeout()`: the 400-day cap.
    Off,
}

/// The expiry settings of a layer (`with_lifetime`, `with_absolute_timeout`
/// or `without_absolute_timeout`, `with_refresh_after`,
/// `with_browser_session`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// The idle lifetime.
    pub lifetime: u64,
    /// The absolute timeout.
    pub absolute: Absolute,
    /// The refresh interval (`None`: a quarter of the lifetime; never
    /// more than half a session's own lifetime).
    pub refresh_after: Option<u64>,
    /// Whether new sessions get browser-session cookies.
    pub browser_session: bool,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            lifetime: LIFETIME,
            absolute: Absolute::Default,
            refresh_after: None,
            browser_session: false,
        }
    }
}
/// The 400-day cap on any lifetime (`MAX_LIFETIME`).
pub const MAX_LIFETIME: u64 = 400 * DAY;
/// How far past the revoking clock a revocation reaches
/// (`REVOCATION_CLOCK_TOLERANCE`).
pub const REVOCATION_TOLERANCE: u64 = 300;

/// Where sessions of the modelled type live (`Storage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Always in the cookie.
    Cookie,
    /// In the cookie while the encoding is at most the threshold, else in
    /// the store.
    Adaptive,
    /// Always in the store; the cookie holds a signed ID.
    Server,
}

/// The layer's settings that change the rules.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The session type's storage.
    pub storage: Storage,
    /// `with_always_save(true)`.
    pub always_save: bool,
    /// `with_user_revocation(store)` (cookie-capable types).
    pub revocation: bool,
    /// The Adaptive threshold, in encoded bytes.
    pub threshold: usize,
    /// The longest note a cookie type's bounded field takes.
    pub note_limit: Option<usize>,
    /// The expiry settings.
    pub expiry: Expiry,
}

/// The session's fields, as the handler reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Data {
    /// The `#[session(user)]` field.
    pub user: Option<u64>,
    /// A text whose length crosses the cookie/server boundary.
    pub note: String,
    /// A counter.
    pub hits: u32,
}

impl Data {
    /// What the test app's handlers answer: the whole session, on one line.
    #[must_use]
    pub fn render(&self) -> String {
        let user = self.user.map_or_else(|| "-".to_owned(), |u| u.to_string());
        format!("u={user};h={};n={}", self.hits, self.note)
    }
}

/// A session's times and flags (what a sealed cookie or a record carries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Times {
    /// The login time: creation, `cycle_id`, a change of user.
    pub issued_at: u64,
    /// The idle expiry.
    pub expires_at: u64,
    /// A per-session lifetime (`set_lifetime`), if any.
    pub lifetime: Option<u64>,
    /// `browser_session()`: no `Max-Age`.
    pub browser_session: bool,
}

/// A session value: data, times, and the key generation that sealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The fields.
    pub data: Data,
    /// The times.
    pub times: Times,
    /// The key generation it was sealed under.
    pub key: u32,
}

/// What a client holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// A sealed session in the cookie (or token header).
    Cookie(Sealed),
    /// A signed ID naming a record, signed under key generation `key`.
    Id {
        /// The record (model numbering).
        id: u64,
        /// The key generation that signed the ID.
        key: u32,
    },
}

/// What a client's jar has for the session: the token and when the client
/// itself drops it (`Max-Age`; `None` for a browser-session cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jar {
    /// The token.
    pub held: Held,
    /// `Some(t)`: the client drops it at `t`; `None`: when the browser closes.
    pub drop_at: Option<u64>,
}

/// What a handler does with the session.
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Reads it (`GET /read`).
    Read,
    /// A route that does not extract the session.
    Plain,
    /// Sets the note.
    SetNote(String),
    /// Adds one to the counter.
    Hit,
    /// Sets the user field (a login, or a switch of user).
    Login(u64),
    /// `terminate()`.
    Logout,
    /// `cycle_id()`.
    Cycle,
    /// `set_lifetime(secs)` ("remember me").
    Remember(u64),
    /// `browser_session()`.
    BrowserOnly,
    /// `revoke_user_sessions(keep)`.
    RevokeAll {
        /// Whether this session survives.
        keep: bool,
    },
    /// Counts the user's devices (`user_sessions()`).
    Devices,
    /// Ends each of the user's other devices by its tag (`revoke_device`).
    RevokeDevices,
    /// `restart()`, carrying the counter over into the fresh session.
    Restart,
    /// Adds one to the counter and answers 500.
    Fail,
}

/// A note is shown by its length and letter: a counterexample with a
/// 4,000-byte note stays readable.
impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SetNote(note) => write!(
                f,
                "SetNote({:?} x {})",
                note.chars().next().unwrap_or('a'),
                note.len()
            ),
            Self::Read => f.write_str("Read"),
            Self::Plain => f.write_str("Plain"),
            Self::Hit => f.write_str("Hit"),
            Self::Login(user) => write!(f, "Login({user})"),
            Self::Logout => f.write_str("Logout"),
            Self::Cycle => f.write_str("Cycle"),
            Self::Remember(secs) => write!(f, "Remember({secs})"),
            Self::BrowserOnly => f.write_str("BrowserOnly"),
            Self::RevokeAll { keep } => write!(f, "RevokeAll {{ keep: {keep} }}"),
            Self::Devices => f.write_str("Devices"),
            Self::RevokeDevices => f.write_str("RevokeDevices"),
            Self::Restart => f.write_str("Restart"),
            Self::Fail => f.write_str("Fail"),
        }
    }
}

impl Action {
    /// Whether the route extracts the session.
    #[must_use]
    pub fn extracts(&self) -> bool {
        !matches!(self, Self::Plain)
    }
}

/// What the response does to the client's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenEffect {
    /// Neither sets nor clears it.
    Leaves,
    /// Sets it; `max_age` `None` is a browser-session cookie.
    Sets {
        /// What it now holds.
        held: Held,
        /// The `Max-Age` it comes with.
        max_age: Option<u64>,
    },
    /// Clears it (`Max-Age=0`, or an empty token header).
    Clears,
}

/// What the model expects of one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The status.
    pub status: u16,
    /// The body (`None`: not checked, a plain route).
    pub body: Option<String>,
    /// What happens to the token.
    pub token: TokenEffect,
    /// Whether the session was extracted (cache headers follow from it).
    pub extracted: bool,
}

/// The model: the clients' jars, the store, the clock, the keys.
#[derive(Clone, Debug)]
pub struct Model {
    /// The rules in force.
    pub config: Config,
    /// The clock, Unix seconds.
    pub now: u64,
    /// Each client's jar.
    pub jars: Vec<Option<Jar>>,
    /// The store's records, by model ID.
    pub records: BTreeMap<u64, Sealed>,
    /// Per-user revocation times.
    pub revoked: BTreeMap<u64, u64>,
    /// The key generations the layer accepts; the first seals.
    pub ring: Vec<u32>,
    next_id: u64,
    next_key: u32,
    /// How many bytes `data` encodes to (the codec's oracle, supplied by
    /// the harness: the README's threshold rule is about the encoding).
    pub encoded_len: fn(&Data) -> usize,
    /// The client that sends its token in a header: it has no `Max-Age`,
    /// so only a clear ends its token.
    pub header_client: Option<usize>,
}

/// The session a request opened: its value and where it lives.
#[derive(Clone, Debug)]
struct Open {
    value: Sealed,
    record: Option<u64>,
    /// Sealed (or signed) under a key other than the one that seals now.
    stale: bool,
}

impl Model {
    /// A model with `clients` empty jars at time `now`.
    #[must_use]
    pub fn new(config: Config, clients: usize, now: u64, encoded_len: fn(&Data) -> usize) -> Self {
        Self {
            config,
            now,
            jars: vec![None; clients],
            records: BTreeMap::new(),
            revoked: BTreeMap::new(),
            ring: vec![0],
            next_id: 0,
            next_key: 1,
            encoded_len,
            header_client: None,
        }
    }

    /// Time passes. Clients drop cookies whose `Max-Age` has run out.
    pub fn advance(&mut self, secs: u64) {
        self.now += secs;
        let now = self.now;
        for jar in &mut self.jars {
            if jar
                .as_ref()
                .is_some_and(|j| j.drop_at.is_some_and(|t| now >= t))
            {
                *jar = None;
            }
        }
    }

    /// The browser closes: browser-session cookies go.
    pub fn close_browser(&mut self, client: usize) {
        if self.jars[client]
            .as_ref()
            .is_some_and(|j| j.drop_at.is_none())
        {
            self.jars[client] = None;
        }
    }

    /// One client's token copied into another's jar (a thief, a second tab).
    pub fn copy(&mut self, from: usize, to: usize) {
        self.jars[to] = self.jars[from].clone();
    }

    /// A new key seals from now on; the old one still opens (`KeyRing::new(new).with_previous(old)`).
    pub fn rotate_key(&mut self) {
        let key = self.next_key;
        self.next_key += 1;
        self.ring.insert(0, key);
        self.ring.truncate(2);
    }

    /// Only the key that seals is left.
    pub fn retire_keys(&mut self) {
        self.ring.truncate(1);
    }

    fn primary(&self) -> u32 {
        self.ring[0]
    }

    fn absolute_limit(&self, lifetime: u64) -> u64 {
        match self.config.expiry.absolute {
            Absolute::Default => ABSOLUTE.max(lifetime).min(MAX_LIFETIME),
            Absolute::Limit(limit) => limit,
            Absolute::Off => MAX_LIFETIME,
        }
    }

    fn lifetime(&self) -> u64 {
        self.config.expiry.lifetime
    }

    fn is_revoked(&self, value: &Sealed) -> bool {
        value.data.user.is_some_and(|user| {
            self.revoked
                .get(&user)
                .is_some_and(|&before| value.times.issued_at <= before)
        })
    }

    /// "bad cookie (… wrong key, expired; a server-side ID that is unknown,
    /// expired or revoked): a fresh session".
    fn open(&mut self, jar: Option<&Jar>) -> Option<Open> {
        let jar = jar?;
        let now = self.now;
        let (value, record, stale) = match &jar.held {
            Held::Cookie(value) => {
                if !self.ring.contains(&value.key) {
                    return None;
                }
                (value.clone(), None, value.key != self.primary())
            }
            Held::Id { id, key } => {
                if !self.ring.contains(key) {
                    return None;
                }
                let value = self.records.get(id)?.clone();
                if !self.ring.contains(&value.key) {
                    return None;
                }
                let stale = *key != self.primary() || value.key != self.primary();
                (value, Some(*id), stale)
            }
        };
        let lifetime = value
            .times
            .lifetime
            .unwrap_or(self.lifetime())
            .min(MAX_LIFETIME);
        let expired = now >= value.times.expires_at
            || now >= value.times.issued_at + self.absolute_limit(lifetime);
        let revoked = self.config.revocation && self.is_revoked(&value);
        if expired || revoked {
            // an expired or revoked record is gone
            if let Some(id) = record {
                self.records.remove(&id);
            }
            return None;
        }
        Some(Open {
            value,
            record,
            stale,
        })
    }

    /// Live records of `user` ("a your-devices page").
    #[must_use]
    pub fn devices(&self, user: u64) -> usize {
        self.records
            .values()
            .filter(|r| r.data.user == Some(user) && r.times.expires_at > self.now)
            .count()
    }

    /// Whether `data` is kept in the cookie.
    fn in_cookie(&self, data: &Data) -> bool {
        match self.config.storage {
            Storage::Cookie => true,
            Storage::Server => false,
            Storage::Adaptive => (self.encoded_len)(data) <= self.config.threshold,
        }
    }

    /// One request from `client` whose handler does `action`; what the
    /// response must be. The model's state moves as the layer's should.
    #[allow(clippy::too_many_lines)]
    pub fn request(&mut self, client: usize, action: &Action) -> Expected {
        let now = self.now;
        let jar = self.jars[client].clone();
        let had_token = jar.is_some();
        let loads = action.extracts() || self.config.always_save;
        // "routes that do not extract the session get nothing"
        if !loads {
            return Expected {
                status: 200,
                body: None,
                token: TokenEffect::Leaves,
                extracted: false,
            };
        }
        let opened = self.open(jar.as_ref());
        let refused = had_token && opened.is_none();
        let mut data = opened
            .as_ref()
            .map(|o| o.value.data.clone())
            .unwrap_or_default();
        let loaded_data = data.clone();

        let mut cycle = false;
        let mut terminated = false;
        let mut lifetime_set = None;
        let mut browser_set = None;
        let mut issued_after = None;
        let mut restarted = None;
        let mut status = 200;
        let mut body = None;

        match action {
            Action::Read | Action::Plain => {}
            Action::SetNote(note) => {
                if self
                    .config
                    .note_limit
                    .is_some_and(|limit| note.len() > limit)
                {
                    // the bounded field's setter refuses it
                    status = 422;
                } else {
                    data.note.clone_from(note);
                }
            }
            Action::Hit => data.hits += 1,
            Action::Login(user) => data.user = Some(*user),
            Action::Logout => terminated = true,
            Action::Cycle => cycle = true,
            Action::Remember(secs) => lifetime_set = Some((*secs).min(MAX_LIFETIME)),
            Action::BrowserOnly => browser_set = Some(true),
            Action::Fail => {
                data.hits += 1;
                status = 500;
            }
            Action::RevokeDevices => {
                let current = opened.as_ref().and_then(|o| o.record);
                body = Some(match (self.config.storage, data.user) {
                    (_, None) => "0".to_owned(),
                    (Storage::Cookie, _) => "unsupported".to_owned(),
                    (_, Some(user)) => {
                        // "revoke_device(tag) ends one session": every live
                        // record of the user listed, but this one
                        let now = self.now;
                        let others: Vec<u64> = self
                            .records
                            .iter()
                            .filter(|(id, r)| {
                                r.data.user == Some(user)
                                    && r.times.expires_at > now
                                    && Some(**id) != current
                            })
                            .map(|(id, _)| *id)
                            .collect();
                        for id in &others {
                            self.records.remove(id);
                        }
                        others.len().to_string()
                    }
                });
            }
            Action::Restart => {
                // "restart() starts the new user from a fresh session (it
                // returns the old data)": the old one ends, the counter is
                // carried into a new one
                restarted = Some(Data {
                    hits: data.hits,
                    ..Data::default()
                });
                terminated = true;
            }
            Action::Devices => {
                body = Some(match (self.config.storage, data.user) {
                    // no user, no devices
                    (_, None) => "0".to_owned(),
                    // a cookie layer has no index
                    (Storage::Cookie, _) => "unsupported".to_owned(),
                    (_, Some(user)) => self.devices(user).to_string(),
                });
            }
            Action::RevokeAll { keep } => {
                if let Some(user) = data.user {
                    let current = opened.as_ref().and_then(|o| o.record);
                    // every server-side session of the user but (maybe) this one
                    self.records.retain(|id, r| {
                        r.data.user != Some(user) || (*keep && Some(*id) == current)
                    });
                    if self.keeps_times() {
                        // "raises the user's time — to now, or one past the
                        // time kept, whichever is later", reaching 5 minutes
                        // past the clock
                        let before = self.revoked.get(&user).map_or(0, |t| t + 1);
                        let at = (now + REVOCATION_TOLERANCE).max(before);
                        self.revoked.insert(user, at);
                        if *keep {
                            issued_after = Some(at);
                        }
                    }
                    if *keep {
                        // "it gets a new identity (cycle_id) and is issued
                        // after the revocation"
                        cycle = true;
                    } else {
                        terminated = true;
                    }
                }
            }
        }
        if let Some(fresh) = &restarted {
            body = Some(fresh.render());
        }
        if body.is_none() && action.extracts() {
            body = Some(data.render());
        }
        let extracted = action.extracts();
        if status >= 500 {
            // "5xx response: nothing written"
            return Expected {
                status,
                body: None,
                token: TokenEffect::Leaves,
                extracted,
            };
        }

        if terminated {
            if let Some(id) = opened.as_ref().and_then(|o| o.record) {
                self.records.remove(&id);
            }
            let token = if let Some(fresh) = restarted.filter(|d| *d != Data::default()) {
                // a terminated session given values again is a new session
                let times = self.new_times(&fresh, None, None);
                self.store_new(fresh, times)
            } else if had_token {
                TokenEffect::Clears
            } else {
                TokenEffect::Leaves
            };
            return self.answer(client, status, body, token, extracted);
        }

        let Some(existing) = opened else {
            // a new session: written when it differs from a fresh one
            let token = if data == Data::default() {
                if refused {
                    TokenEffect::Clears
                } else {
                    TokenEffect::Leaves
                }
            } else {
                let times = self.new_times(&data, lifetime_set, browser_set);
                self.store_new(data, times)
            };
            return self.answer(client, status, body, token, extracted);
        };

        // "a change of the #[session(user)] field: a login: the session
        // takes a new identity by itself"
        if data.user != loaded_data.user {
            cycle = true;
        }
        let old = &existing.value.times;
        let lifetime = lifetime_set
            .or(old.lifetime)
            .unwrap_or(self.lifetime())
            .min(MAX_LIFETIME);
        let issued_at = if cycle {
            self.issue_time(&data, issued_after)
        } else {
            old.issued_at
        };
        let mut times = Times {
            issued_at,
            expires_at: (now.max(issued_at) + lifetime)
                .min(issued_at + self.absolute_limit(lifetime)),
            lifetime: lifetime_set.or(old.lifetime),
            // "set_lifetime(d) after browser_session(): remember me: Max-Age
            // comes back"
            browser_session: browser_set.unwrap_or(old.browser_session && lifetime_set.is_none()),
        };
        let forced =
            cycle || lifetime_set.is_some() || browser_set.is_some() || self.config.always_save;
        // "refreshed at most every quarter of it": due once a quarter of the
        // lifetime has passed since the expiry was last set, and only when
        // it would move the expiry (near the absolute cap it cannot)
        let last_set = old.expires_at.saturating_sub(lifetime);
        let refresh_due = now.saturating_sub(last_set)
            >= self
                .config
                .expiry
                .refresh_after
                .map_or(lifetime / 4, |after| after.min(lifetime / 2))
            && times.expires_at > old.expires_at;
        let changed = data != loaded_data;
        let server_now = existing.record.is_some();
        if server_now
            && !self.config.always_save
            && !refresh_due
            && !existing.stale
            && !cycle
            && lifetime_set.is_none()
            && browser_set.is_none()
        {
            // "a server-side write that keeps its token sends no Set-Cookie":
            // the record keeps the expiry its cookie was given
            times.expires_at = old.expires_at;
        }
        let writes = changed || forced || refresh_due || existing.stale;
        if !writes {
            return Expected {
                status,
                body,
                token: TokenEffect::Leaves,
                extracted,
            };
        }
        let token = if self.in_cookie(&data) {
            // into the cookie; a record it had is deleted
            if let Some(id) = existing.record {
                self.records.remove(&id);
            }
            let max_age = (!times.browser_session).then(|| times.expires_at.saturating_sub(now));
            Self::sets(
                Held::Cookie(Sealed {
                    data,
                    times,
                    key: self.primary(),
                }),
                max_age,
            )
        } else {
            match existing.record {
                Some(id) if !cycle => {
                    let token_changes = existing.stale
                        || times.expires_at != old.expires_at
                        || times.browser_session != old.browser_session;
                    let max_age =
                        (!times.browser_session).then(|| times.expires_at.saturating_sub(now));
                    let value = Sealed {
                        data,
                        times,
                        key: self.primary(),
                    };
                    self.records.insert(id, value);
                    if token_changes {
                        Self::sets(
                            Held::Id {
                                id,
                                key: self.primary(),
                            },
                            max_age,
                        )
                    } else {
                        TokenEffect::Leaves
                    }
                }
                record => {
                    // "cycle_id(): new ID, same data; the old row is deleted first"
                    if let Some(id) = record {
                        self.records.remove(&id);
                    }
                    self.store_new(data, times)
                }
            }
        };
        self.answer(client, status, body, token, extracted)
    }

    /// The times of a new session: issued now (or after its user's
    /// revocation), living its lifetime, capped by the absolute timeout.
    fn new_times(&self, data: &Data, lifetime: Option<u64>, browser: Option<bool>) -> Times {
        let issued_at = self.issue_time(data, None);
        let idle = lifetime.unwrap_or(self.lifetime());
        Times {
            issued_at,
            expires_at: (self.now.max(issued_at) + idle).min(issued_at + self.absolute_limit(idle)),
            lifetime,
            browser_session: browser.unwrap_or(self.config.expiry.browser_session),
        }
    }

    /// "Any session of a user issued anew — a login, a cycle_id — is checked
    /// against the user's time before it is sealed": it is issued after it.
    fn issue_time(&self, data: &Data, after: Option<u64>) -> u64 {
        let revoked = if self.keeps_times() {
            data.user.and_then(|user| self.revoked.get(&user).copied())
        } else {
            None
        };
        match revoked.max(after) {
            Some(at) => self.now.max(at + 1),
            None => self.now,
        }
    }

    /// Whether revoking raises the user's time: with revocation times, and
    /// on a Server type, whose store keeps it as a fence for sessions
    /// issued anew while a revocation runs (it is not checked on loads).
    fn keeps_times(&self) -> bool {
        self.config.revocation || self.config.storage == Storage::Server
    }

    /// A session written for the first time, in the cookie or a new record.
    fn store_new(&mut self, data: Data, times: Times) -> TokenEffect {
        let max_age = (!times.browser_session).then(|| times.expires_at.saturating_sub(self.now));
        let key = self.primary();
        if self.in_cookie(&data) {
            return Self::sets(Held::Cookie(Sealed { data, times, key }), max_age);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.records.insert(id, Sealed { data, times, key });
        Self::sets(Held::Id { id, key }, max_age)
    }

    /// A token set with `max_age`: a `Max-Age` of 0 (a shorter lifetime
    /// that the absolute timeout has already passed) ends it at once.
    fn sets(held: Held, max_age: Option<u64>) -> TokenEffect {
        if max_age == Some(0) {
            TokenEffect::Clears
        } else {
            TokenEffect::Sets { held, max_age }
        }
    }

    /// The expected response, the token applied to the client's jar.
    fn answer(
        &mut self,
        client: usize,
        status: u16,
        body: Option<String>,
        token: TokenEffect,
        extracted: bool,
    ) -> Expected {
        self.apply(client, &token);
        Expected {
            status,
            body,
            token,
            extracted,
        }
    }

    fn apply(&mut self, client: usize, token: &TokenEffect) {
        match token {
            TokenEffect::Leaves => {}
            TokenEffect::Clears => self.jars[client] = None,
            TokenEffect::Sets { held, max_age } => {
                let drop_at = if self.header_client == Some(client) {
                    None
                } else {
                    max_age.map(|age| self.now + age)
                };
                self.jars[client] = Some(Jar {
                    held: held.clone(),
                    drop_at,
                });
            }
        }
    }

    /// What `client` would read now, without changing anything (the model
    /// of a read that is not sent).
    #[must_use]
    pub fn peek(&self, client: usize) -> Data {
        let mut copy = self.clone();
        let jar = copy.jars[client].clone();
        copy.open(jar.as_ref())
            .map(|o| o.value.data)
            .unwrap_or_default()
    }

    /// Forgets what `client` holds (after a race whose winner the model
    /// does not predict, the harness empties the jar too).
    pub fn forget(&mut self, client: usize) {
        self.jars[client] = None;
    }

    /// The user `client`'s session belongs to, if it opens.
    #[must_use]
    pub fn user_of(&self, client: usize) -> Option<u64> {
        self.peek(client).user
    }

    /// Whether `client`'s session lives in the store now.
    #[must_use]
    pub fn is_server_side(&self, client: usize) -> bool {
        matches!(
            self.jars[client].as_ref().map(|j| &j.held),
            Some(Held::Id { .. })
        )
    }
}
