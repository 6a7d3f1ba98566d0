//! Generated operation sequences against the real layer, compared step by
//! step with the reference model in `tests/src/model.rs`.
//!
//! Each sequence runs on a fresh system: two processes (two layers over one
//! store), three browsers and an API client that sends its token in a
//! header, one test clock. Steps are requests (reads, writes whose sizes
//! cross the cookie/server boundary both ways, logins, `cycle_id`,
//! `terminate`, remember me, browser sessions, log out everywhere, a 500),
//! clock advances across the refresh, idle and absolute limits, a browser
//! closing, a cookie copied to another browser, key rotation and
//! retirement, a deploy that changes the struct (`previous`), and
//! concurrent pairs of requests on one session or one user. Every response
//! is compared with the model: status, body, whether the token is set,
//! cleared or left and with which `Max-Age`, whether it is a sealed
//! session or a signed ID (and a new one), the channel it comes on, cache
//! headers, the 4096-byte cookie limit.
//!
//! Configurations: Cookie, Adaptive and Server session types, each with and
//! without always-save (Server types with and without revocation times),
//! over MemoryStore and SQLite in every run, and over Redis, PostgreSQL and
//! Tiered Redis + PostgreSQL when the servers run. Each sequence also draws
//! the layer's expiry settings (lifetime, absolute timeout or none, refresh
//! interval, browser-session default), and a session kept active for weeks
//! meets the absolute timeouts.
//! `SESSIONKIT_MODEL_CASES` sets the sequences per configuration (default
//! 24; a long run: 2000), `SESSIONKIT_MODEL_STEPS` the longest sequence
//! (default 40). One figure line says what ran.
//!
//! A counterexample is printed shrunk; each one found became a named test
//! at the end of this file.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use session_runtime::RevocationTimes;
use session_runtime::store::{PostgresStore, RedisStore, SqliteStore};
use session_runtime::{
    Bincode, BoundedString, KeyRing, MasterKey, MemoryStore, Session, SessionLayer, SessionStore,
    StoreError, Tiered, encode_to_vec,
};
use sessionkit_tests::model::{
    Absolute, Action, Config, DAY, Data, Expiry, Held, Model, Storage, TokenEffect,
};
use sessionkit_tests::{TestClock, figure, stores};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tower::ServiceExt as _;

/// Browsers 0..3 keep cookies; client 3 is an API client using the header.
const CLIENTS: usize = 4;
const HEADER_CLIENT: usize = 3;
const TOKEN_HEADER: &str = "x-session";
/// The cookie type's note: `BoundedString<NOTE_LIMIT>`.
const NOTE_LIMIT: usize = 120;

// ---------------------------------------------------------------------------
// the session types: one per storage, each in two releases

macro_rules! session_types {
    ($v1:ident, $v2:ident, $name:literal, $storage:literal, $note:ty) => {
        #[derive(Session, Default, Debug)]
        #[session(cookie = $name, storage = $storage)]
        struct $v1 {
            #[session(user)]
            user: Option<u64>,
            note: $note,
            hits: u32,
        }

        /// The next release: one more field, reading the last one's
        /// sessions.
        #[derive(Session, Default, Debug)]
        #[session(cookie = $name, storage = $storage, previous = $v1)]
        struct $v2 {
            #[session(user)]
            user: Option<u64>,
            note: $note,
            hits: u32,
            coupon: Option<u32>,
        }

        impl From<$v1> for $v2 {
            fn from(old: $v1) -> Self {
                Self {
                    user: old.user,
                    note: old.note,
                    hits: old.hits,
                    coupon: None,
                }
            }
        }
    };
}

session_types!(
    CookieV1,
    CookieV2,
    "mc",
    "cookie",
    BoundedString<NOTE_LIMIT>
);
session_types!(AdaptiveV1, AdaptiveV2, "ma", "auto", String);
session_types!(ServerV1, ServerV2, "ms", "server", String);

/// The note a handler is asked to set: `len` times `fill`.
fn note_of(len: usize, fill: char) -> String {
    std::iter::repeat_n(fill, len).collect()
}

/// How a route turns the path's note into the field's type (the cookie
/// type's bounded string refuses one that is too long).
trait NoteField: Sized {
    fn from_note(note: String) -> Option<Self>;
    fn text(&self) -> &str;
}

impl NoteField for String {
    fn from_note(note: String) -> Option<Self> {
        Some(note)
    }
    fn text(&self) -> &str {
        self
    }
}

impl<const N: usize> NoteField for BoundedString<N> {
    fn from_note(note: String) -> Option<Self> {
        BoundedString::try_from(note).ok()
    }
    fn text(&self) -> &str {
        self.as_str()
    }
}

fn render(user: Option<u64>, hits: u32, note: &str) -> String {
    Data {
        user,
        note: note.to_owned(),
        hits,
    }
    .render()
}

/// The routes of the test app, for one session type.
macro_rules! routes {
    ($ty:ty) => {
        Router::new()
            .route("/plain", get(|| async { "no session here" }))
            .route(
                "/read",
                get(|s: Session<$ty>| async move { render(*s.user(), *s.hits(), s.note().text()) }),
            )
            .route(
                "/note/{len}/{fill}",
                post(
                    |mut s: Session<$ty>, Path((len, fill)): Path<(usize, char)>| async move {
                        match NoteField::from_note(note_of(len, fill)) {
                            Some(note) => {
                                s.set_note(note);
                                (
                                    StatusCode::OK,
                                    render(*s.user(), *s.hits(), s.note().text()),
                                )
                            }
                            None => (
                                StatusCode::UNPROCESSABLE_ENTITY,
                                render(*s.user(), *s.hits(), s.note().text()),
                            ),
                        }
                    },
                ),
            )
            .route(
                "/hit",
                post(|mut s: Session<$ty>| async move {
                    *s.hits_mut() += 1;
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/login/{user}",
                post(|mut s: Session<$ty>, Path(user): Path<u64>| async move {
                    s.set_user(Some(user));
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/logout",
                post(|mut s: Session<$ty>| async move {
                    let body = render(*s.user(), *s.hits(), s.note().text());
                    s.terminate();
                    body
                }),
            )
            .route(
                "/cycle",
                post(|mut s: Session<$ty>| async move {
                    s.cycle_id();
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/remember/{secs}",
                post(|mut s: Session<$ty>, Path(secs): Path<u64>| async move {
                    s.set_lifetime(Duration::from_secs(secs));
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/browser",
                post(|mut s: Session<$ty>| async move {
                    s.browser_session();
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/revoke/{keep}",
                post(|mut s: Session<$ty>, Path(keep): Path<bool>| async move {
                    let body = render(*s.user(), *s.hits(), s.note().text());
                    match s.revoke_user_sessions(keep).await {
                        Ok(_) => (StatusCode::OK, body),
                        Err(err) => (err.status(), err.to_string()),
                    }
                }),
            )
            .route(
                "/devices",
                get(|s: Session<$ty>| async move {
                    match s.user_sessions().await {
                        Ok(devices) => devices.len().to_string(),
                        Err(StoreError::Unsupported { .. }) => "unsupported".to_owned(),
                        Err(err) => format!("error: {err}"),
                    }
                }),
            )
            .route(
                "/revoke-devices",
                post(|s: Session<$ty>| async move {
                    let devices = match s.user_sessions().await {
                        Ok(devices) => devices,
                        Err(StoreError::Unsupported { .. }) => return "unsupported".to_owned(),
                        Err(err) => return format!("error: {err}"),
                    };
                    let mut ended = 0;
                    for device in devices.iter().filter(|d| !d.current) {
                        match s.revoke_device(&device.tag).await {
                            Ok(true) => ended += 1,
                            Ok(false) => {}
                            Err(err) => return format!("error: {err}"),
                        }
                    }
                    ended.to_string()
                }),
            )
            .route(
                "/restart",
                post(|mut s: Session<$ty>| async move {
                    let old = s.restart();
                    s.set_hits(old.hits);
                    render(*s.user(), *s.hits(), s.note().text())
                }),
            )
            .route(
                "/fail",
                post(|mut s: Session<$ty>| async move {
                    *s.hits_mut() += 1;
                    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
                }),
            )
    };
}

/// How many bytes a session encodes to, in each release (the model's
/// oracle for the Adaptive threshold).
fn encoded_v1(data: &Data) -> usize {
    encode_to_vec::<AdaptiveV1, Bincode>(&AdaptiveV1 {
        user: data.user,
        note: data.note.clone(),
        hits: data.hits,
    })
    .unwrap()
    .len()
}

fn encoded_v2(data: &Data) -> usize {
    encode_to_vec::<AdaptiveV2, Bincode>(&AdaptiveV2 {
        user: data.user,
        note: data.note.clone(),
        hits: data.hits,
        coupon: None,
    })
    .unwrap()
    .len()
}

// ---------------------------------------------------------------------------
// the operations

/// One step of a sequence.
#[derive(Clone, Debug)]
enum Step {
    /// A request from `client` to `process`.
    Request {
        client: usize,
        process: usize,
        action: Action,
    },
    /// The clock moves.
    Advance(u64),
    /// A client keeps using its session for `days`: a read every third of
    /// the lifetime (across the absolute timeouts).
    StayActive { client: usize, days: u64 },
    /// A browser closes (browser-session cookies go).
    CloseBrowser(usize),
    /// A cookie is copied into another browser.
    Copy { from: usize, to: usize },
    /// A new key seals; the old one still opens.
    RotateKey,
    /// Only the newest key is left.
    RetireKeys,
    /// Both processes move to the release with one more field.
    Deploy,
    /// Two requests at once.
    Race(Race),
}

#[derive(Clone, Debug)]
enum Race {
    /// A note and a hit on one session, from two processes.
    Fields {
        client: usize,
        small: usize,
        large: usize,
    },
    /// One device logs the user out everywhere while another writes.
    RevokeWhileWriting { revoker: usize, other: usize },
    /// "Log out other devices" on one device, "everywhere" on another.
    KeepAgainstRevoke { keeper: usize, revoker: usize },
    /// A logout and a write through a copy of the same server-side cookie.
    LogoutAgainstCopy { client: usize, copy: usize },
}

/// Note lengths that matter: small ones, ones around the Adaptive
/// threshold (both sides of it), large ones; for the cookie type around
/// its bound.
fn note_len(config: Config) -> BoxedStrategy<usize> {
    if let Some(limit) = config.note_limit {
        return prop_oneof![0..8usize, (limit - 3)..=(limit + 2)].boxed();
    }
    // the encoding of a note of n bytes is n plus a few bytes of framing
    let edge = config.threshold.saturating_sub(12);
    prop_oneof![
        3 => 0..16usize,
        4 => edge..edge + 24,
        2 => 3000..4600usize,
        1 => 6000..9000usize,
    ]
    .boxed()
}

/// The layer's expiry settings: the defaults half the time, else a
/// short or long lifetime, a short, long or lifted absolute timeout, a
/// 10-minute refresh interval, browser-session cookies by default.
fn expiry() -> impl Strategy<Value = Expiry> {
    let varied = (
        prop_oneof![Just(3600u64), Just(7 * DAY), Just(20 * DAY)],
        prop_oneof![
            Just(Absolute::Default),
            Just(Absolute::Limit(2 * DAY)),
            Just(Absolute::Limit(45 * DAY)),
            Just(Absolute::Off),
        ],
        // a refresh interval of 10 minutes, or of half a 1-hour lifetime
        // (the most the layer accepts for it)
        prop_oneof![Just(None), Just(Some(600u64)), Just(Some(1800))],
        any::<bool>(),
    )
        .prop_map(
            |(lifetime, absolute, refresh_after, browser_session)| Expiry {
                lifetime,
                absolute,
                refresh_after,
                browser_session,
            },
        );
    prop_oneof![Just(Expiry::default()), varied]
}

fn fill() -> impl Strategy<Value = char> {
    prop_oneof![Just('a'), Just('b'), Just('c')]
}

fn action(config: Config) -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Read),
        2 => Just(Action::Plain),
        5 => (note_len(config), fill()).prop_map(|(len, c)| Action::SetNote(note_of(len, c))),
        4 => Just(Action::Hit),
        3 => (1..=2u64).prop_map(Action::Login),
        2 => Just(Action::Logout),
        2 => Just(Action::Cycle),
        1 => prop_oneof![Just(300u64), Just(3600), Just(2 * DAY), Just(60 * DAY)]
            .prop_map(Action::Remember),
        1 => Just(Action::BrowserOnly),
        2 => any::<bool>().prop_map(|keep| Action::RevokeAll { keep }),
        1 => Just(Action::Devices),
        1 => Just(Action::RevokeDevices),
        1 => Just(Action::Restart),
        1 => Just(Action::Fail),
    ]
}

fn step(config: Config) -> impl Strategy<Value = Step> {
    let client = 0..CLIENTS;
    let browser = 0..HEADER_CLIENT;
    prop_oneof![
        30 => (client.clone(), 0..2usize, action(config))
            .prop_map(|(client, process, action)| Step::Request { client, process, action }),
        // across the refresh (1.75 days), idle (7) and absolute (30) limits
        6 => prop_oneof![
            Just(30u64),
            Just(4 * 60),
            Just(12 * 60),
            Just(3600),
            Just(3 * 3600),
            Just(DAY),
            Just(2 * DAY),
            Just(6 * DAY + 23 * 3600),
            Just(8 * DAY),
            Just(31 * DAY),
        ]
        .prop_map(Step::Advance),
        2 => (client.clone(), prop_oneof![Just(3u64), Just(31), Just(46)])
            .prop_map(|(client, days)| Step::StayActive { client, days }),
        1 => browser.clone().prop_map(Step::CloseBrowser),
        2 => (browser.clone(), browser.clone()).prop_map(|(from, to)| Step::Copy { from, to }),
        1 => Just(Step::RotateKey),
        1 => Just(Step::RetireKeys),
        1 => Just(Step::Deploy),
        3 => race(config).prop_map(Step::Race),
    ]
}

fn race(config: Config) -> impl Strategy<Value = Race> {
    let browser = 0..HEADER_CLIENT;
    let edge = config.threshold;
    prop_oneof![
        (browser.clone(), 0..8usize, (edge + 100)..(edge + 400)).prop_map(
            |(client, small, large)| {
                Race::Fields {
                    client,
                    small,
                    large,
                }
            }
        ),
        (browser.clone(), browser.clone())
            .prop_map(|(revoker, other)| Race::RevokeWhileWriting { revoker, other }),
        (browser.clone(), browser.clone())
            .prop_map(|(keeper, revoker)| Race::KeepAgainstRevoke { keeper, revoker }),
        (browser.clone(), browser)
            .prop_map(|(client, copy)| Race::LogoutAgainstCopy { client, copy }),
    ]
}

// ---------------------------------------------------------------------------
// the real system

/// What a client holds: the cookie's name on the wire and its value, and
/// when the client drops it.
#[derive(Clone, Debug)]
struct RealJar {
    name: String,
    value: String,
    drop_at: Option<u64>,
}

/// What came back, as the model sees it.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
    /// `Some((name, value, max_age))` for a `Set-Cookie`.
    set_cookie: Option<(String, String, Option<u64>)>,
    token_header: Option<String>,
    cache_control: Option<String>,
    set_cookie_len: usize,
}

type Build = dyn Fn(u8, &KeyRing) -> Router + Send + Sync;
/// The store's revocation time of a user (what a race left there).
type RevokedBefore =
    dyn Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Option<u64>> + Send>> + Send + Sync;

struct Real {
    clock: TestClock,
    keys: Vec<MasterKey>,
    ring: Vec<usize>,
    release: u8,
    apps: [Router; 2],
    jars: [Option<RealJar>; CLIENTS],
    build: Arc<Build>,
    revoked_before: Arc<RevokedBefore>,
}

impl Real {
    fn new(
        clock: TestClock,
        build: Arc<Build>,
        revoked_before: Arc<RevokedBefore>,
        seed: u8,
    ) -> Self {
        let keys = vec![MasterKey::from_secret(&[seed; 32]).unwrap()];
        let ring = KeyRing::new(keys[0].clone());
        Self {
            apps: [build(1, &ring), build(1, &ring)],
            clock,
            keys,
            ring: vec![0],
            release: 1,
            jars: Default::default(),
            build,
            revoked_before,
        }
    }

    fn key_ring(&self) -> KeyRing {
        let mut ring = KeyRing::new(self.keys[self.ring[0]].clone());
        for &older in &self.ring[1..] {
            ring = ring.with_previous(self.keys[older].clone());
        }
        ring
    }

    /// Every process restarts with the current keys and release.
    fn redeploy(&mut self) {
        let ring = self.key_ring();
        self.apps = [
            (self.build)(self.release, &ring),
            (self.build)(self.release, &ring),
        ];
    }

    fn rotate_key(&mut self) {
        let generation = self.keys.len();
        let secret = [u8::try_from(generation % 200).unwrap() + 40; 32];
        self.keys.push(MasterKey::from_secret(&secret).unwrap());
        self.ring.insert(0, generation);
        self.ring.truncate(2);
        self.redeploy();
    }

    fn retire_keys(&mut self) {
        self.ring.truncate(1);
        self.redeploy();
    }

    fn deploy(&mut self) {
        self.release = 2;
        self.redeploy();
    }

    fn advance(&mut self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
        let now = self.clock.secs();
        for jar in &mut self.jars {
            if jar
                .as_ref()
                .is_some_and(|j| j.drop_at.is_some_and(|t| now >= t))
            {
                *jar = None;
            }
        }
    }

    fn request_for(&self, client: usize, action: &Action) -> Request<Body> {
        let (method, uri) = match action {
            Action::Read => ("GET", "/read".to_owned()),
            Action::Plain => ("GET", "/plain".to_owned()),
            Action::SetNote(note) => {
                let fill = note.chars().next().unwrap_or('a');
                ("POST", format!("/note/{}/{fill}", note.len()))
            }
            Action::Hit => ("POST", "/hit".to_owned()),
            Action::Login(user) => ("POST", format!("/login/{user}")),
            Action::Logout => ("POST", "/logout".to_owned()),
            Action::Cycle => ("POST", "/cycle".to_owned()),
            Action::Remember(secs) => ("POST", format!("/remember/{secs}")),
            Action::BrowserOnly => ("POST", "/browser".to_owned()),
            Action::RevokeAll { keep } => ("POST", format!("/revoke/{keep}")),
            Action::Devices => ("GET", "/devices".to_owned()),
            Action::RevokeDevices => ("POST", "/revoke-devices".to_owned()),
            Action::Restart => ("POST", "/restart".to_owned()),
            Action::Fail => ("POST", "/fail".to_owned()),
        };
        let mut request = Request::builder().method(method).uri(uri);
        let jar = self.jars[client].as_ref();
        if client == HEADER_CLIENT {
            // a header client asks for its first token with the header empty
            request = request.header(TOKEN_HEADER, jar.map_or("", |j| j.value.as_str()));
        } else if let Some(jar) = jar {
            request = request.header(header::COOKIE, format!("{}={}", jar.name, jar.value));
        }
        request.body(Body::empty()).unwrap()
    }

    /// Two requests at once, the first to process 0, the second to 1.
    async fn race(&self, a: (usize, &Action), b: (usize, &Action)) -> (Reply, Reply) {
        let (first, second) = (self.request_for(a.0, a.1), self.request_for(b.0, b.1));
        tokio::join!(
            async { reply(self.apps[0].clone().oneshot(first).await.unwrap()).await },
            async { reply(self.apps[1].clone().oneshot(second).await.unwrap()).await },
        )
    }

    async fn send(&self, client: usize, process: usize, action: &Action) -> Reply {
        let request = self.request_for(client, action);
        reply(self.apps[process].clone().oneshot(request).await.unwrap()).await
    }

    /// Keeps what the response set, as the client would.
    fn take(&mut self, client: usize, reply: &Reply) {
        let now = self.clock.secs();
        if client == HEADER_CLIENT {
            if let Some(value) = &reply.token_header {
                self.jars[client] = (!value.is_empty()).then(|| RealJar {
                    name: String::new(),
                    value: value.clone(),
                    drop_at: None,
                });
            }
        } else if let Some((name, value, max_age)) = &reply.set_cookie {
            self.jars[client] = (!value.is_empty() && *max_age != Some(0)).then(|| RealJar {
                name: name.clone(),
                value: value.clone(),
                drop_at: max_age.map(|age| now + age),
            });
        }
    }
}

async fn reply(response: axum::response::Response) -> Reply {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
    let got = sessionkit_tests::http::read(response).await;
    let header = |name| {
        got.headers
            .get(name)
            .map(|value: &axum::http::HeaderValue| value.to_str().unwrap().to_owned())
    };
    let set_cookie = header(header::SET_COOKIE.as_str()).map(|value| {
        let parsed = cookie::Cookie::parse(value).unwrap();
        let max_age = parsed
            .max_age()
            .map(|age| u64::try_from(age.whole_seconds()).unwrap_or(0));
        (parsed.name().to_owned(), parsed.value().to_owned(), max_age)
    });
    Reply {
        status: got.status.as_u16(),
        set_cookie,
        token_header: header(TOKEN_HEADER),
        cache_control: header(header::CACHE_CONTROL.as_str()),
        set_cookie_len: got.headers.get_all(header::SET_COOKIE).iter().count(),
        body: got.body,
    }
}

// ---------------------------------------------------------------------------
// comparing

/// A signed ID by its documented form (a fixed length, the format byte's
/// first character), written here rather than taken from the crate, so a
/// crate that takes a sealed session for an ID does not fool the check.
fn looks_like_an_id(value: &str) -> bool {
    value.len() == session_runtime::id::SIGNED_ID_LEN && value.starts_with('C')
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// The response against what the model expected.
fn compare(
    model: &Model,
    real: &Real,
    client: usize,
    action: &Action,
    before: Option<&Held>,
    expected: &sessionkit_tests::model::Expected,
    got: &Reply,
) -> Result<(), TestCaseError> {
    let context = || format!("client {client} {action:?} at +{}s", model.now - START);
    if got.status != expected.status {
        return Err(fail(format!(
            "{}: status {} (body {:?}), the model expects {}",
            context(),
            got.status,
            got.body,
            expected.status
        )));
    }
    if let Some(body) = &expected.body
        && &got.body != body
    {
        return Err(fail(format!(
            "{}: read {:?}, the model expects {body:?}",
            context(),
            got.body
        )));
    }
    if got.set_cookie_len > 1 {
        return Err(fail(format!(
            "{}: {} Set-Cookie headers",
            context(),
            got.set_cookie_len
        )));
    }
    if let Some((name, value, _)) = &got.set_cookie
        && name.len() + 1 + value.len() > 4096
    {
        return Err(fail(format!(
            "{}: a cookie of {} bytes, over the 4096 browsers keep",
            context(),
            name.len() + 1 + value.len()
        )));
    }
    // the token answers on the channel it came in, never on both
    let header_client = client == HEADER_CLIENT;
    let (on_channel, off_channel) = if header_client {
        (
            got.token_header.clone().map(|v| (v, None)),
            got.set_cookie.is_some(),
        )
    } else {
        (
            got.set_cookie.clone().map(|(_, value, max_age)| {
                if max_age == Some(0) {
                    (String::new(), None)
                } else {
                    (value, max_age)
                }
            }),
            got.token_header.is_some(),
        )
    };
    if off_channel {
        return Err(fail(format!(
            "{}: the token was answered on the other channel too (set-cookie {:?}, header {:?})",
            context(),
            got.set_cookie,
            got.token_header
        )));
    }
    let previous = real.jars[client].as_ref().map(|j| j.value.clone());
    match (&expected.token, &on_channel) {
        (TokenEffect::Leaves, None) => {}
        (TokenEffect::Clears, Some((value, _))) if value.is_empty() => {}
        (TokenEffect::Sets { held, max_age }, Some((value, got_age))) if !value.is_empty() => {
            let is_id = looks_like_an_id(value);
            match held {
                Held::Cookie(_) if is_id => {
                    return Err(fail(format!(
                        "{}: a signed ID, the model expects the session in the cookie",
                        context()
                    )));
                }
                Held::Id { .. } if !is_id => {
                    return Err(fail(format!(
                        "{}: a sealed session, the model expects a signed ID",
                        context()
                    )));
                }
                Held::Id { id, .. } => {
                    let same_id = matches!(before, Some(Held::Id { id: old, .. }) if old == id);
                    if !same_id && previous.as_deref() == Some(value.as_str()) {
                        return Err(fail(format!(
                            "{}: the same ID again, the model expects a new one",
                            context()
                        )));
                    }
                }
                Held::Cookie(_) => {}
            }
            if !header_client && got_age != max_age {
                return Err(fail(format!(
                    "{}: Max-Age {got_age:?}, the model expects {max_age:?}",
                    context()
                )));
            }
        }
        (want, got_token) => {
            return Err(fail(format!(
                "{}: the token was {}, the model expects it {}",
                context(),
                match got_token {
                    None => "left".to_owned(),
                    Some((v, _)) if v.is_empty() => "cleared".to_owned(),
                    Some((v, age)) => format!("set ({} bytes, max-age {age:?})", v.len()),
                },
                match want {
                    TokenEffect::Leaves => "left".to_owned(),
                    TokenEffect::Clears => "cleared".to_owned(),
                    TokenEffect::Sets { held, max_age } => format!(
                        "set ({}, max-age {max_age:?})",
                        if matches!(held, Held::Id { .. }) {
                            "ID"
                        } else {
                            "sealed"
                        }
                    ),
                }
            )));
        }
    }
    // "a response that sets or clears the token gets Cache-Control: no-store";
    // one built from the session is private
    let cache = got.cache_control.as_deref().unwrap_or("");
    let touched = !matches!(expected.token, TokenEffect::Leaves);
    if touched && !cache.contains("no-store") {
        return Err(fail(format!(
            "{}: token changed with Cache-Control {cache:?}",
            context()
        )));
    }
    if expected.extracted
        && expected.status < 500
        && !cache.contains("no-store")
        && !cache.contains("private")
    {
        return Err(fail(format!(
            "{}: a page built from the session with Cache-Control {cache:?}",
            context()
        )));
    }
    Ok(())
}

const START: u64 = 1_800_000_000;

// ---------------------------------------------------------------------------
// running

/// One configuration: how to build a process's app over its store.
struct Setup {
    name: String,
    config: Config,
    build: Arc<BuildOn>,
    revoked_before: Arc<RevokedBefore>,
}

/// Builds a sequence's `Build` over the setup's store, on its clock.
type BuildOn = dyn Fn(&TestClock, Expiry) -> Arc<Build> + Send + Sync;

static SEQUENCES: AtomicUsize = AtomicUsize::new(0);
static STEPS: AtomicUsize = AtomicUsize::new(0);
static REQUESTS: AtomicUsize = AtomicUsize::new(0);
/// User ids unique to this run, so sequences sharing a Redis or PostgreSQL
/// never see each other's users or revocation times.
static USERS: AtomicU64 = AtomicU64::new(0);

fn user_base() -> u64 {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        % 1_000_000_000;
    run * 1000 + USERS.fetch_add(3, Ordering::SeqCst)
}

async fn run_sequence(setup: &Setup, expiry: Expiry, steps: &[Step]) -> Result<(), TestCaseError> {
    SEQUENCES.fetch_add(1, Ordering::Relaxed);
    let clock = TestClock::new();
    let users = user_base();
    let mut real = Real::new(
        clock.clone(),
        (setup.build)(&clock, expiry),
        Arc::clone(&setup.revoked_before),
        11,
    );
    let config = Config {
        expiry,
        ..setup.config
    };
    let mut model = Model::new(config, CLIENTS, clock.secs(), encoded_v1);
    model.header_client = Some(HEADER_CLIENT);
    for (index, step) in steps.iter().enumerate() {
        STEPS.fetch_add(1, Ordering::Relaxed);
        let at = |e: TestCaseError| fail(format!("step {index} ({step:?}): {e}"));
        match step {
            Step::Request {
                client,
                process,
                action,
            } => {
                let action = with_users(action, users);
                request(&mut model, &mut real, *client, *process, &action)
                    .await
                    .map_err(at)?;
            }
            Step::Advance(secs) => {
                model.advance(*secs);
                real.advance(*secs);
            }
            Step::StayActive { client, days } => {
                let lifetime = model.config.expiry.lifetime;
                // a short lifetime would take thousands of reads
                let chunk = (lifetime / 3).max(DAY / 2);
                let mut left = days * DAY;
                while left > 0 {
                    let by = chunk.min(left);
                    left -= by;
                    model.advance(by);
                    real.advance(by);
                    request(
                        &mut model,
                        &mut real,
                        *client,
                        left as usize % 2,
                        &Action::Read,
                    )
                    .await
                    .map_err(at)?;
                }
            }
            Step::CloseBrowser(client) => {
                model.close_browser(*client);
                if real.jars[*client]
                    .as_ref()
                    .is_some_and(|j| j.drop_at.is_none())
                {
                    real.jars[*client] = None;
                }
            }
            Step::Copy { from, to } => {
                model.copy(*from, *to);
                real.jars[*to] = real.jars[*from].clone();
            }
            Step::RotateKey => {
                model.rotate_key();
                real.rotate_key();
            }
            Step::RetireKeys => {
                model.retire_keys();
                real.retire_keys();
            }
            Step::Deploy => {
                model.encoded_len = encoded_v2;
                real.deploy();
            }
            Step::Race(race) => run_race(&mut model, &mut real, race, users)
                .await
                .map_err(at)?,
        }
        // the jars agree on whether there is a token
        for client in 0..CLIENTS {
            if model.jars[client].is_some() != real.jars[client].is_some() {
                return Err(fail(format!(
                    "after step {index} ({step:?}): client {client} holds {}, the model says {}",
                    if real.jars[client].is_some() {
                        "a token"
                    } else {
                        "none"
                    },
                    if model.jars[client].is_some() {
                        "a token"
                    } else {
                        "none"
                    }
                )));
            }
        }
    }
    // at the end every client reads what the model says
    for client in 0..CLIENTS {
        request(&mut model, &mut real, client, 0, &Action::Read)
            .await
            .map_err(|e| fail(format!("final read: {e}")))?;
    }
    Ok(())
}

fn with_users(action: &Action, base: u64) -> Action {
    match action {
        Action::Login(user) => Action::Login(base + user),
        other => other.clone(),
    }
}

async fn request(
    model: &mut Model,
    real: &mut Real,
    client: usize,
    process: usize,
    action: &Action,
) -> Result<(), TestCaseError> {
    let before = model.jars[client].as_ref().map(|j| j.held.clone());
    let expected = model.request(client, action);
    let got = real.send(client, process, action).await;
    let result = compare(
        model,
        real,
        client,
        action,
        before.as_ref(),
        &expected,
        &got,
    );
    real.take(client, &got);
    result
}

/// Two requests at once. The model does not say which finishes first;
/// it says what must hold whichever does, and the check is a read after.
async fn run_race(
    model: &mut Model,
    real: &mut Real,
    race: &Race,
    users: u64,
) -> Result<(), TestCaseError> {
    match *race {
        Race::Fields {
            client,
            small,
            large,
        } => {
            // only on a session that stays where it is: a move between the
            // cookie and the store in one of the two is a sequential matter
            // a session to race on (the setup request is checked too)
            if model.peek(client) == Data::default() {
                request(model, real, client, 0, &Action::Hit).await?;
            }
            let server = model.is_server_side(client);
            let len = if server { large } else { small };
            let note = Action::SetNote(note_of(len, 'z'));
            if model.config.note_limit.is_some_and(|limit| len > limit) {
                return Ok(());
            }
            let probe = {
                let mut data = model.peek(client);
                data.note = note_of(len, 'z');
                data
            };
            let stays_server = match model.config.storage {
                Storage::Server => true,
                Storage::Cookie => false,
                Storage::Adaptive => (model.encoded_len)(&probe) > model.config.threshold,
            };
            if stays_server != server {
                return Ok(());
            }
            let (ra, rb) = real.race((client, &note), (client, &Action::Hit)).await;
            if ra.status != 200 || rb.status != 200 {
                return Err(fail(format!(
                    "race of a note and a hit: {} / {}",
                    ra.status, rb.status
                )));
            }
            real.take(client, &ra);
            real.take(client, &rb);
            if server {
                // "changes to different fields both survive"
                model.request(client, &note);
                model.request(client, &Action::Hit);
            } else {
                // a cookie holds what the response applied last had
                let mut alone = model.clone();
                alone.request(client, &Action::Hit);
                *model = alone;
            }
            // the jar's expiry may differ by which response came last
            resync_drop(model, real, client);
            request(model, real, client, 0, &Action::Read).await
        }
        Race::RevokeWhileWriting { revoker, other } => {
            let user = same_user(model, real, revoker, other, users).await?;
            if user.is_none() {
                return Ok(());
            }
            let (ra, rb) = real
                .race(
                    (revoker, &Action::RevokeAll { keep: false }),
                    (other, &Action::Hit),
                )
                .await;
            real.take(revoker, &ra);
            real.take(other, &rb);
            model.request(revoker, &Action::RevokeAll { keep: false });
            sync_revocation(model, real, user).await;
            no_user_after_race(
                model,
                real,
                &[revoker, other],
                user,
                "a write racing a log out everywhere",
            )
            .await
        }
        Race::KeepAgainstRevoke { keeper, revoker } => {
            let user = same_user(model, real, keeper, revoker, users).await?;
            if user.is_none() {
                return Ok(());
            }
            let (ra, rb) = real
                .race(
                    (keeper, &Action::RevokeAll { keep: true }),
                    (revoker, &Action::RevokeAll { keep: false }),
                )
                .await;
            real.take(keeper, &ra);
            real.take(revoker, &rb);
            let before = model.clone();
            let revoker_jar = model.jars[revoker].clone();
            // the revoker loaded its session after the keeper's revocation
            // had covered it (a copy of the keeper's cookie, or a device
            // the keeper logged out): it was refused and revoked nothing,
            // and the keeper rightly stays. The race was then the sequence
            // keeper, revoker (the revoker with the token it sent)
            let revoker_served = rb.body.starts_with(&format!("u={};", user.unwrap()));
            if !revoker_served {
                // the keeper's new token, unless the refused revoker (the
                // same session) retired the record the keeper was cycling:
                // then the keeper ended too
                let kept = ra
                    .set_cookie
                    .as_ref()
                    .is_some_and(|(_, value, age)| !value.is_empty() && *age != Some(0));
                *model = before;
                model.request(keeper, &Action::RevokeAll { keep: kept });
                model.jars[revoker] = revoker_jar;
                model.request(revoker, &Action::RevokeAll { keep: false });
                sync_revocation(model, real, user).await;
                resync_drop(model, real, keeper);
                return Ok(());
            }
            model.request(revoker, &Action::RevokeAll { keep: false });
            sync_revocation(model, real, user).await;
            no_user_after_race(
                model,
                real,
                &[keeper, revoker],
                user,
                "log out other devices racing log out everywhere",
            )
            .await
        }
        Race::LogoutAgainstCopy { client, copy } => {
            if client == copy
                || !model.is_server_side(client)
                || model.peek(client) == Data::default()
            {
                return Ok(());
            }
            model.copy(client, copy);
            real.jars[copy] = real.jars[client].clone();
            let old = model.peek(client);
            let (ra, rb) = real
                .race((client, &Action::Logout), (copy, &Action::Hit))
                .await;
            real.take(client, &ra);
            real.take(copy, &rb);
            model.request(client, &Action::Logout);
            // "no resurrection": whatever the order, the copy does not get
            // the ended session back
            let read = real.send(copy, 0, &Action::Read).await;
            let now = parse(&read.body);
            let back = (old.user.is_some() && now.user == old.user)
                || (!old.note.is_empty() && now.note == old.note)
                || (old.hits > 0 && now.hits > old.hits);
            if read.status != 200 || back {
                return Err(fail(format!(
                    "a write through a copy racing a logout: the copy reads {:?} ({}) after the session {} ended",
                    read.body,
                    read.status,
                    old.render()
                )));
            }
            forget(model, real, copy);
            forget(model, real, client);
            Ok(())
        }
    }
}

/// Logs `a` and `b` in as one user unless they are (each login checked
/// against the model); the user.
async fn same_user(
    model: &mut Model,
    real: &mut Real,
    a: usize,
    b: usize,
    users: u64,
) -> Result<Option<u64>, TestCaseError> {
    let user = match model.user_of(a) {
        Some(user) => user,
        None => {
            request(model, real, a, 0, &Action::Login(users + 1)).await?;
            users + 1
        }
    };
    if model.user_of(b) != Some(user) {
        request(model, real, b, 1, &Action::Login(user)).await?;
    }
    Ok(model.user_of(a).filter(|&u| model.user_of(b) == Some(u)))
}

/// Which of two revocations came last decides the user's time (one past
/// the other's, or the clock's): the model takes what the store kept.
async fn sync_revocation(model: &mut Model, real: &Real, user: Option<u64>) {
    if let Some(user) = user
        && let Some(at) = (real.revoked_before)(user).await
    {
        model.revoked.insert(user, at);
    }
}

/// A read's body back into data (`u=..;h=..;n=..`).
fn parse(body: &str) -> Data {
    let mut data = Data::default();
    for (i, part) in body.splitn(3, ';').enumerate() {
        let value = part.split_once('=').map_or("", |(_, v)| v);
        match i {
            0 => data.user = value.parse().ok(),
            1 => data.hits = value.parse().unwrap_or(0),
            _ => data.note = value.to_owned(),
        }
    }
    data
}

fn resync_drop(model: &mut Model, real: &Real, client: usize) {
    if let (Some(m), Some(r)) = (model.jars[client].as_mut(), real.jars[client].as_ref()) {
        m.drop_at = r.drop_at;
    }
}

fn forget(model: &mut Model, real: &mut Real, client: usize) {
    model.forget(client);
    real.jars[client] = None;
}

/// After a race that must end the user's sessions: each of `clients` reads
/// no user, whichever request finished first. Their jars are then emptied
/// on both sides (which of the two responses set what is not modelled).
async fn no_user_after_race(
    model: &mut Model,
    real: &mut Real,
    clients: &[usize],
    user: Option<u64>,
    what: &str,
) -> Result<(), TestCaseError> {
    for &client in clients {
        let read = real.send(client, 1, &Action::Read).await;
        if read.status != 200 || !read.body.starts_with("u=-;") {
            return Err(fail(format!(
                "{what}: client {client} of user {user:?} reads {:?} ({}): the revocation was escaped",
                read.body, read.status
            )));
        }
        forget(model, real, client);
    }
    // every other client of the user is covered by the model's revocation
    Ok(())
}

// ---------------------------------------------------------------------------
// configurations

fn setup<St>(
    name: &str,
    storage: Storage,
    always_save: bool,
    revocation: bool,
    store: Arc<St>,
) -> Setup
where
    St: SessionStore + RevocationTimes,
{
    let threshold = match storage {
        Storage::Adaptive => session_runtime::seal::envelope::cookie_body_budget("ma".len()),
        _ => 0,
    };
    let config = Config {
        storage,
        always_save,
        revocation,
        threshold,
        note_limit: (storage == Storage::Cookie).then_some(NOTE_LIMIT),
        expiry: Expiry::default(),
    };
    let revoked_store = Arc::clone(&store);
    let revoked_before: Arc<RevokedBefore> = Arc::new(move |user: u64| {
        let store = Arc::clone(&revoked_store);
        Box::pin(async move {
            let key = session_runtime::UserField::user_key(&Some(user))?;
            // a Server type without revocation times keeps its own, per type
            let key = if storage == Storage::Server && !revocation {
                session_runtime::user::type_revocation_key("__Host-ms", &key)
            } else {
                key
            };
            store.revoked_before(&key).await.unwrap()
        })
    });
    let build = move |clock: &TestClock, expiry: Expiry| -> Arc<Build> {
        let clock = clock.clone();
        let store = Arc::clone(&store);
        Arc::new(move |release: u8, ring: &KeyRing| -> Router {
            let clock = clock.clone();
            let store = Arc::clone(&store);
            macro_rules! finish {
                ($layer:expr) => {{
                    let layer = $layer
                        .with_clock(clock)
                        .with_always_save(always_save)
                        .with_token_header(TOKEN_HEADER)
                        .unwrap()
                        .with_lifetime(Duration::from_secs(expiry.lifetime))
                        .unwrap()
                        .with_browser_session(expiry.browser_session);
                    let layer = match expiry.absolute {
                        Absolute::Default => layer,
                        Absolute::Limit(limit) => layer
                            .with_absolute_timeout(Duration::from_secs(limit))
                            .unwrap(),
                        Absolute::Off => layer.without_absolute_timeout(),
                    };
                    match expiry.refresh_after {
                        Some(after) => layer
                            .with_refresh_after(Duration::from_secs(after))
                            .unwrap(),
                        None => layer,
                    }
                }};
            }
            match (storage, release) {
                (Storage::Cookie, 1) => routes!(CookieV1).layer(finish!(
                    SessionLayer::<CookieV1>::new(ring.clone()).with_user_revocation(store)
                )),
                (Storage::Cookie, _) => routes!(CookieV2).layer(finish!(
                    SessionLayer::<CookieV2>::new(ring.clone()).with_user_revocation(store)
                )),
                (Storage::Adaptive, 1) => routes!(AdaptiveV1).layer(finish!(
                    SessionLayer::<AdaptiveV1>::with_store(ring.clone(), Arc::clone(&store))
                        .with_user_revocation(store)
                )),
                (Storage::Adaptive, _) => routes!(AdaptiveV2).layer(finish!(
                    SessionLayer::<AdaptiveV2>::with_store(ring.clone(), Arc::clone(&store))
                        .with_user_revocation(store)
                )),
                (Storage::Server, 1) if revocation => routes!(ServerV1).layer(finish!(
                    SessionLayer::<ServerV1>::with_store(ring.clone(), Arc::clone(&store))
                        .with_user_revocation(store)
                )),
                (Storage::Server, 1) => routes!(ServerV1).layer(finish!(
                    SessionLayer::<ServerV1>::with_store(ring.clone(), store)
                )),
                (Storage::Server, _) if revocation => routes!(ServerV2).layer(finish!(
                    SessionLayer::<ServerV2>::with_store(ring.clone(), Arc::clone(&store))
                        .with_user_revocation(store)
                )),
                (Storage::Server, _) => routes!(ServerV2).layer(finish!(
                    SessionLayer::<ServerV2>::with_store(ring.clone(), store)
                )),
            }
        })
    };
    Setup {
        name: format!(
            "{} {name}{}",
            match storage {
                Storage::Cookie => "cookie",
                Storage::Adaptive => "adaptive",
                Storage::Server => "server",
            },
            match (always_save, storage == Storage::Server && revocation) {
                (false, false) => "",
                (true, false) => " always-save",
                (false, true) => " revocation-times",
                (true, true) => " always-save revocation-times",
            }
        ),
        config,
        build: Arc::new(build),
        revoked_before,
    }
}

fn setups_over<St>(name: &str, store: &Arc<St>) -> Vec<Setup>
where
    St: SessionStore + RevocationTimes,
{
    let mut setups = Vec::new();
    for storage in [Storage::Cookie, Storage::Adaptive, Storage::Server] {
        for always_save in [false, true] {
            // the cookie-capable types always have revocation times (log out
            // everywhere needs them); a Server type with and without
            let revocation = storage != Storage::Server || always_save;
            setups.push(setup(
                name,
                storage,
                always_save,
                revocation,
                Arc::clone(store),
            ));
        }
    }
    setups.push(setup(name, Storage::Server, false, true, Arc::clone(store)));
    setups
}

fn cases() -> u32 {
    std::env::var("SESSIONKIT_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn max_steps() -> usize {
    std::env::var("SESSIONKIT_MODEL_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// Runs generated sequences on every setup; the shrunk counterexamples.
fn explore(runtime: &tokio::runtime::Runtime, setups: &[Setup]) -> Vec<String> {
    let mut failures = Vec::new();
    for setup in setups {
        let mut runner = TestRunner::new(RunnerConfig {
            cases: cases(),
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let strategy = (
            expiry(),
            proptest::collection::vec(step(setup.config), 1..=max_steps()),
        );
        let result = runner.run(&strategy, |(expiry, steps)| {
            runtime.block_on(run_sequence(setup, expiry, &steps))
        });
        if let Err(err) = result {
            failures.push(format!("{}: {err}", setup.name));
        }
    }
    failures
}

#[test]
fn generated_sequences_follow_the_model() {
    // one runtime for the stores' pools and the requests
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut setups = Vec::new();
    setups.extend(setups_over("memory", &Arc::new(MemoryStore::default())));
    let sqlite: Arc<SqliteStore> = Arc::new(runtime.block_on(stores::sqlite_memory("model")));
    setups.extend(setups_over("sqlite", &sqlite));
    let redis: Option<Arc<RedisStore>> = runtime.block_on(stores::redis()).map(Arc::new);
    let postgres: Option<Arc<PostgresStore>> =
        runtime.block_on(stores::postgres("model")).map(Arc::new);
    if let Some(redis) = &redis {
        setups.extend(setups_over("redis", redis));
    }
    if let Some(postgres) = &postgres {
        setups.extend(setups_over("postgres", postgres));
    }
    if let (Some(cache), Some(_)) = (runtime.block_on(stores::redis()), &postgres) {
        let durable = runtime.block_on(stores::postgres("model_tiered")).unwrap();
        setups.extend(setups_over(
            "tiered redis+postgres",
            &Arc::new(Tiered::new(cache, durable)),
        ));
    }
    let failures = explore(&runtime, &setups);
    figure(&format!(
        "lifecycle model: {} sequences, {} steps ({} requests), {} configurations ({} stores x cookie/adaptive/server x always-save on/off, server with and without revocation times), counterexamples {}",
        SEQUENCES.load(Ordering::Relaxed),
        STEPS.load(Ordering::Relaxed),
        REQUESTS.load(Ordering::Relaxed),
        setups.len(),
        setups.len() / 7,
        failures.len()
    ));
    assert!(
        failures.is_empty(),
        "counterexamples:\n{}",
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// counterexamples, kept as named sequences (each checked step by step
// against the model, and by its own assertion)

fn request_step(client: usize, action: Action) -> Step {
    Step::Request {
        client,
        process: 0,
        action,
    }
}

/// Runs `steps` on a MemoryStore setup; the failure, if any.
fn replay(storage: Storage, always_save: bool, revocation: bool, steps: &[Step]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(
        "memory",
        storage,
        always_save,
        revocation,
        Arc::new(MemoryStore::default()),
    );
    if let Err(err) = runtime.block_on(run_sequence(&setup, Expiry::default(), steps)) {
        panic!("{}: {err}", setup.name);
    }
}

/// Found by the model on its first run: on a Server type without
/// revocation times, `revoke_user_sessions(true)` kept this session's ID,
/// so a copy of its cookie (a thief's, another tab's) survived "log out
/// other devices". The kept session now always takes a new ID.
#[test]
fn log_out_other_devices_ends_a_copy_of_a_server_cookie() {
    replay(
        Storage::Server,
        false,
        false,
        &[
            request_step(0, Action::Login(1)),
            Step::Copy { from: 0, to: 1 },
            request_step(0, Action::RevokeAll { keep: true }),
            // the copy must read no session (the final reads check it too)
            request_step(1, Action::Read),
        ],
    );
}

/// The Adaptive-size loss (#17), found when its fix is reverted: a sealed
/// session exactly as long as a signed ID was taken for one and lost.
#[test]
fn a_sealed_session_as_long_as_an_id_reads_back() {
    replay(
        Storage::Adaptive,
        false,
        true,
        &[
            request_step(0, Action::SetNote(note_of(4, 'a'))),
            request_step(0, Action::Read),
        ],
    );
}

/// The token-header leak (#17), found when its fix is reverted: a cookie
/// request was answered in the token header too, where scripts read it.
#[test]
fn a_cookie_request_is_answered_in_the_cookie_alone() {
    replay(
        Storage::Cookie,
        false,
        true,
        &[request_step(0, Action::SetNote(note_of(1, 'a')))],
    );
}

/// The always-save regression (#17), found when its fix is reverted: a
/// route that does not extract the session did not re-issue it.
#[test]
fn always_save_reissues_on_a_route_that_does_not_extract_the_session() {
    for storage in [Storage::Cookie, Storage::Adaptive, Storage::Server] {
        replay(
            storage,
            true,
            true,
            &[
                request_step(0, Action::SetNote(note_of(1, 'a'))),
                Step::Advance(30),
                request_step(0, Action::Plain),
            ],
        );
    }
}

/// The revocation race (#17), found when its fix is reverted: "log out
/// other devices" kept a session that a concurrent "log out everywhere"
/// from another device had revoked; and, with the whole check reverted,
/// the kept session was issued inside its own revocation and refused next.
#[test]
fn a_kept_session_does_not_escape_a_concurrent_revocation() {
    replay(
        Storage::Cookie,
        false,
        true,
        &[
            request_step(0, Action::Login(1)),
            request_step(0, Action::RevokeAll { keep: true }),
            request_step(0, Action::Read),
        ],
    );
    for storage in [Storage::Cookie, Storage::Adaptive, Storage::Server] {
        let races: Vec<Step> = (0..20)
            .map(|_| {
                Step::Race(Race::KeepAgainstRevoke {
                    keeper: 0,
                    revoker: 1,
                })
            })
            .collect();
        replay(storage, false, true, &races);
    }
}

/// Found by the model with the previous fix in: on a Server type without
/// revocation times, "log out other devices" racing "log out everywhere"
/// kept the new ID it wrote while the other's index scan ran. Revoking now
/// raises the user's time in the store first, and a session issued anew
/// reads it again after its write.
#[test]
fn a_server_session_issued_during_a_revocation_scan_ends() {
    let mut steps = vec![
        request_step(1, Action::Login(2)),
        Step::Copy { from: 1, to: 0 },
    ];
    steps.extend((0..30).map(|i| {
        Step::Race(Race::KeepAgainstRevoke {
            keeper: i % 2,
            revoker: (i + 1) % 3,
        })
    }));
    replay(Storage::Server, false, false, &steps);
}
