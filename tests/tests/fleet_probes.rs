//! Outside probes of two fleet features, written from their docs (README
//! "Rolling deploys: expand, then contract" and "A key ring that rotates
//! itself", the crate docs' "Rolling deploys", `seal::managed`,
//! `store::keys`):
//!
//! * `#[session(next = New)]`: a step-1 instance opens what the next
//!   release seals and writes it back (in its own shape) only when a
//!   handler changes it or asks for a write; reads, expiry refreshes,
//!   re-seals under a newer key and `always_save` leave it as sealed. Both
//!   tiers, every store, both codecs, quick fields on a `Tiered` store,
//!   garbage under a valid seal, `next` together with `previous`.
//! * `ManagedKeys`: concurrent first keys and rotations on every durable
//!   store, clock skew, revocations (twice, pending, every key, unknown),
//!   the retention boundary, the states `keys()` lists, records changed in
//!   the table, an instance whose root opens no key, a root rotation, a
//!   store that comes back empty, policy edge values, the background
//!   refresh's life, and the `sessionkit keys` command line.
//!
//! Each probe states the documented expectation it checks; a failing probe
//! is a defect report.

use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use session_runtime::store::{KeyStore, SqliteStore, StoredKey};
use session_runtime::{
    Bincode, BoundedString, KeyPolicy, KeyRing, KeyState, ManagedKeyError, ManagedKeys, MasterKey,
    MemoryStore, Meta, Mode, Postcard, Sealer, Session, SessionData, SessionLayer, StoreError,
    Tiered,
};
use sessionkit_tests::http::send;
use sessionkit_tests::servers::{address, run, table};
use sessionkit_tests::{TestClock, key, key_from, stores};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------------------
// `next = ..`: the shapes
// ---------------------------------------------------------------------------

/// A cookie-only session, step 1 (reads `PrefV2`).
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "pref", next = PrefV2)]
struct Pref {
    theme: BoundedString<8>,
}

/// What the next release writes.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "pref", previous = Pref)]
struct PrefV2 {
    theme: BoundedString<8>,
    dark: bool,
}

impl From<PrefV2> for Pref {
    fn from(new: PrefV2) -> Self {
        Self { theme: new.theme }
    }
}

impl From<Pref> for PrefV2 {
    fn from(old: Pref) -> Self {
        Self {
            theme: old.theme,
            dark: false,
        }
    }
}

/// A server-side session, step 1 (reads `WishV2`).
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "wish", storage = "server", next = WishV2)]
struct Wish {
    items: Vec<u32>,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "wish", storage = "server", previous = Wish)]
struct WishV2 {
    items: Vec<u32>,
    gift: Option<String>,
}

impl From<WishV2> for Wish {
    fn from(new: WishV2) -> Self {
        Self { items: new.items }
    }
}

impl From<Wish> for WishV2 {
    fn from(old: Wish) -> Self {
        Self {
            items: old.items,
            gift: None,
        }
    }
}

/// Step 1 of a change that adds a `quick` field (no quick field before).
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "tally", storage = "server", next = TallyV2)]
struct Tally {
    items: Vec<u32>,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "tally", storage = "server", previous = Tally)]
struct TallyV2 {
    items: Vec<u32>,
    #[session(quick)]
    hits: u32,
}

impl From<TallyV2> for Tally {
    fn from(new: TallyV2) -> Self {
        Self { items: new.items }
    }
}

impl From<Tally> for TallyV2 {
    fn from(old: Tally) -> Self {
        Self {
            items: old.items,
            hits: 0,
        }
    }
}

/// Step 1 of a change that makes a `quick` field durable.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "seen", storage = "server", next = SeenV2)]
struct Seen {
    items: Vec<u32>,
    #[session(quick)]
    hits: u32,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "seen", storage = "server", previous = Seen)]
struct SeenV2 {
    items: Vec<u32>,
    hits: u32,
}

impl From<SeenV2> for Seen {
    fn from(new: SeenV2) -> Self {
        Self {
            items: new.items,
            hits: new.hits,
        }
    }
}

impl From<Seen> for SeenV2 {
    fn from(old: Seen) -> Self {
        Self {
            items: old.items,
            hits: old.hits,
        }
    }
}

/// Step 1 of a change where both shapes have quick fields, the next one more.
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "visit", storage = "server", next = VisitV2)]
struct Visit {
    items: Vec<u32>,
    #[session(quick)]
    hits: u32,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "visit", storage = "server", previous = Visit)]
struct VisitV2 {
    items: Vec<u32>,
    #[session(quick)]
    hits: u32,
    #[session(quick)]
    seen: u8,
}

impl From<VisitV2> for Visit {
    fn from(new: VisitV2) -> Self {
        Self {
            items: new.items,
            hits: new.hits,
        }
    }
}

impl From<Visit> for VisitV2 {
    fn from(old: Visit) -> Self {
        Self {
            items: old.items,
            hits: old.hits,
            seen: 0,
        }
    }
}

/// `next` and `previous` on one release: `Note` reads `NoteV1` (before) and
/// `NoteV3` (after).
#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "note")]
struct NoteV1 {
    text: BoundedString<8>,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "note", previous = NoteV1, next = NoteV3)]
struct Note {
    text: BoundedString<8>,
    pinned: bool,
}

#[derive(Session, Default, Debug, Clone, PartialEq)]
#[session(cookie = "note", previous = Note)]
struct NoteV3 {
    text: BoundedString<8>,
    pinned: bool,
    color: u8,
}

impl From<NoteV1> for Note {
    fn from(old: NoteV1) -> Self {
        Self {
            text: old.text,
            pinned: false,
        }
    }
}

impl From<NoteV3> for Note {
    fn from(new: NoteV3) -> Self {
        Self {
            text: new.text,
            pinned: new.pinned,
        }
    }
}

impl From<Note> for NoteV3 {
    fn from(old: Note) -> Self {
        Self {
            text: old.text,
            pinned: old.pinned,
            color: 0,
        }
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn bounded<const N: usize>(text: &str) -> BoundedString<N> {
    BoundedString::try_from(text.to_owned()).unwrap()
}

/// The step-1 cookie app: `/` reads, `/set` changes, `/cycle`, `/life`,
/// `/browser` ask for a write without a change.
fn pref_app(layer: SessionLayer<Pref>) -> Router {
    Router::new()
        .route(
            "/",
            get(|p: Session<Pref>| async move { p.theme().to_string() }),
        )
        .route("/plain", get(|| async { "no extraction" }))
        .route(
            "/set",
            post(|mut p: Session<Pref>| async move {
                p.set_theme(bounded("old"));
                "ok"
            }),
        )
        .route(
            "/cycle",
            post(|mut p: Session<Pref>| async move {
                p.cycle_id();
                "ok"
            }),
        )
        .route(
            "/life",
            post(|mut p: Session<Pref>| async move {
                p.set_lifetime(Duration::from_secs(3600));
                "ok"
            }),
        )
        .route(
            "/browser",
            post(|mut p: Session<Pref>| async move {
                p.browser_session();
                "ok"
            }),
        )
        .layer(layer)
}

/// The next release's cookie app.
fn pref_v2_app(layer: SessionLayer<PrefV2>) -> Router {
    Router::new()
        .route(
            "/",
            get(|p: Session<PrefV2>| async move { format!("{}|{}", p.theme(), p.dark()) }),
        )
        .route(
            "/write",
            post(|mut p: Session<PrefV2>| async move {
                p.set_theme(bounded("sea"));
                p.set_dark(true);
                "ok"
            }),
        )
        .layer(layer)
}

/// Cookie tier: a session the next release sealed, read on a step-1
/// instance that re-seals under a newer key, has `always_save`, or whose
/// expiry refresh is due: nothing is written (no `Set-Cookie`), and the next
/// release still finds `dark`. A change, `cycle_id`, a lifetime and
/// `browser_session` write it back in this shape, which the next release
/// opens (`dark` lost, as documented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_cookie_left_as_sealed_unless_a_handler_asks() {
    let clock = TestClock::new();
    let next = pref_v2_app(SessionLayer::<PrefV2>::new(key()).with_clock(clock.clone()));
    let issued = send(&next, "POST", "/write", None).await;
    let token = issued.set_cookie.expect("the next release issues a cookie");
    let cookie = Some(("__Host-pref", token.as_str()));
    let base = SessionLayer::<Pref>::new(key()).with_clock(clock.clone());
    let rotated = KeyRing::new(key_from(7)).with_previous(key());
    let quiet: Vec<(&str, SessionLayer<Pref>)> = vec![
        ("plain read", base.clone()),
        ("always_save", base.clone().with_always_save(true)),
        ("a newer key seals", base.clone().with_keys(rotated.clone())),
        (
            "always_save and a newer key",
            base.clone()
                .with_always_save(true)
                .with_keys(rotated.clone()),
        ),
    ];
    for (what, layer) in &quiet {
        let app = pref_app(layer.clone());
        let read = send(&app, "GET", "/", cookie).await;
        assert_eq!(read.body, "sea", "{what}");
        assert_eq!(read.set_cookie, None, "{what}: nothing written");
        let plain = send(&app, "GET", "/plain", cookie).await;
        assert_eq!(
            plain.set_cookie, None,
            "{what}, a route that does not extract"
        );
    }
    // expiry refresh due (3 of 7 days)
    clock.advance(3 * DAY);
    for (what, layer) in &quiet {
        let app = pref_app(layer.clone());
        let read = send(&app, "GET", "/", cookie).await;
        assert_eq!(
            read.set_cookie, None,
            "{what}, refresh due: nothing written"
        );
    }
    let still = send(&next, "GET", "/", cookie).await;
    assert_eq!(still.body, "sea|true", "the next release's field survives");
    for route in ["/set", "/cycle", "/life", "/browser"] {
        let app = pref_app(base.clone());
        let wrote = send(&app, "POST", route, cookie).await;
        let written = wrote
            .set_cookie
            .unwrap_or_else(|| panic!("{route}: a handler asked for a write"));
        let back = send(&next, "GET", "/", Some(("__Host-pref", written.as_str()))).await;
        assert!(back.body.ends_with("|false"), "{route}: {}", back.body);
    }
}

fn wish_app(layer: SessionLayer<Wish>) -> Router {
    Router::new()
        .route(
            "/",
            get(|w: Session<Wish>| async move { format!("{:?}", w.items()) }),
        )
        .route("/plain", get(|| async { "no extraction" }))
        .route(
            "/add",
            post(|mut w: Session<Wish>| async move {
                w.items_mut().push(99);
                "ok"
            }),
        )
        .route(
            "/cycle",
            post(|mut w: Session<Wish>| async move {
                w.cycle_id();
                "ok"
            }),
        )
        .layer(layer)
}

fn wish_v2_app(layer: SessionLayer<WishV2>) -> Router {
    Router::new()
        .route(
            "/",
            get(|w: Session<WishV2>| async move { format!("{:?}|{:?}", w.items(), w.gift()) }),
        )
        .route(
            "/write",
            post(|mut w: Session<WishV2>| async move {
                w.set_items(vec![1, 2]);
                w.set_gift(Some("wrapped".to_owned()));
                "ok"
            }),
        )
        .layer(layer)
}

/// Server tier, on every store two layers can share: a next-shaped record
/// read on a step-1 instance with `always_save`, with a newer key (the ID
/// and record sealed under the previous one), with both, or with its
/// refresh due, is left as the next release wrote it (no `Set-Cookie`, the
/// next release still finds `gift`). `cycle_id` on the step-1 instance
/// gives a new ID (the old one stops working) over a record in this shape,
/// which the next release opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_server_record_left_as_sealed_on_every_store() {
    let clock = TestClock::new();
    let this = stores::every_server_layer::<Wish>(&key(), "fp_next_srv").await;
    let next = stores::every_server_layer::<WishV2>(&key(), "fp_next_srv").await;
    let rotated = KeyRing::new(key_from(7)).with_previous(key());
    let mut checked = Vec::new();
    for ((name, this), (_, next)) in this.into_iter().zip(next) {
        if name.contains("memory") {
            continue;
        }
        let this = this.with_clock(clock.clone());
        let next = wish_v2_app(next.with_clock(clock.clone()));
        let issued = send(&next, "POST", "/write", None).await;
        let token = issued.set_cookie.expect("the next release issues an ID");
        let cookie = Some(("__Host-wish", token.as_str()));
        let quiet = [
            ("always_save", this.clone().with_always_save(true)),
            ("a newer key", this.clone().with_keys(rotated.clone())),
            (
                "always_save and a newer key",
                this.clone()
                    .with_always_save(true)
                    .with_keys(rotated.clone()),
            ),
        ];
        for (what, layer) in &quiet {
            let read = send(&wish_app(layer.clone()), "GET", "/", cookie).await;
            assert_eq!(read.body, "[1, 2]", "{name} {what}");
            assert_eq!(read.set_cookie, None, "{name} {what}: nothing written");
        }
        clock.advance(3 * DAY);
        for (what, layer) in &quiet {
            let read = send(&wish_app(layer.clone()), "GET", "/", cookie).await;
            assert_eq!(read.set_cookie, None, "{name} {what}, refresh due");
            let plain = send(&wish_app(layer.clone()), "GET", "/plain", cookie).await;
            assert_eq!(plain.set_cookie, None, "{name} {what}, no extraction");
        }
        let still = send(&next, "GET", "/", cookie).await;
        assert_eq!(
            still.body, "[1, 2]|Some(\"wrapped\")",
            "{name}: the record is as the next release wrote it"
        );
        let token = still.set_cookie.unwrap_or(token);
        let cookie = Some(("__Host-wish", token.as_str()));
        let cycled = send(&wish_app(this.clone()), "POST", "/cycle", cookie).await;
        let new_id = cycled
            .set_cookie
            .unwrap_or_else(|| panic!("{name}: cycle_id writes"));
        assert_ne!(new_id, token, "{name}");
        let old = send(&next, "GET", "/", cookie).await;
        assert_eq!(old.body, "[]|None", "{name}: the old ID is dead");
        let back = send(&next, "GET", "/", Some(("__Host-wish", new_id.as_str()))).await;
        assert_eq!(back.body, "[1, 2]|None", "{name}: written in this shape");
        checked.push(name);
    }
    assert!(!checked.is_empty());
    sessionkit_tests::figure(&format!(
        "fleet probes: next-shaped records left as sealed under always_save / newer key / refresh due on {checked:?}"
    ));
}

/// A value sealed with a valid key, in the next shape's fingerprint, whose
/// body does not decode: "no session" (the handler sees a fresh session,
/// the cookie is cleared), never a panic or a misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_shape_garbage_under_a_valid_seal_is_no_session() {
    let sealer = Sealer::new(key(), Mode::Encrypted);
    let meta = Meta {
        issued_at: 1_800_000_000,
        expires_at: 1_800_000_000 + 3600,
        ..Meta::default()
    };
    let app = pref_app(SessionLayer::<Pref>::new(key()).with_clock(TestClock::new()));
    for body in [&b""[..], b"\xff", b"\x03sea\x07", &[0xff; 64]] {
        let value = sealer.seal_body::<Bincode>("__Host-pref", PrefV2::FINGERPRINT, &meta, body);
        let read = send(&app, "GET", "/", Some(("__Host-pref", value.as_str()))).await;
        assert_eq!(read.status, 200, "{body:?}");
        assert_eq!(read.body, "", "{body:?}: a fresh session");
        assert_eq!(read.set_cookie.as_deref(), Some(""), "{body:?}: cleared");
    }
}

/// Postcard on both releases: the next release's cookie opens on step 1,
/// and a read writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_shape_opens_under_postcard() {
    let clock = TestClock::new();
    let next = pref_v2_app(
        SessionLayer::<PrefV2>::new(key())
            .with_codec::<Postcard>()
            .with_clock(clock.clone()),
    );
    let token = send(&next, "POST", "/write", None)
        .await
        .set_cookie
        .unwrap();
    let this = pref_app(
        SessionLayer::<Pref>::new(key())
            .with_codec::<Postcard>()
            .with_always_save(true)
            .with_clock(clock.clone()),
    );
    let read = send(&this, "GET", "/", Some(("__Host-pref", token.as_str()))).await;
    assert_eq!(read.body, "sea");
    assert_eq!(read.set_cookie, None);
}

/// `previous` and `next` on one release: a V1 cookie and a V3 cookie both
/// open; reading the V3 one writes nothing even with the refresh due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_and_previous_on_one_release() {
    let clock = TestClock::new();
    let sealer = Sealer::new(key(), Mode::Encrypted);
    let now = clock.secs();
    let meta = Meta {
        issued_at: now,
        expires_at: now + 7 * 24 * 3600,
        ..Meta::default()
    };
    let v1 = sealer
        .seal::<NoteV1, Bincode>(
            "__Host-note",
            &meta,
            &NoteV1 {
                text: bounded("one"),
            },
        )
        .unwrap();
    let v3 = sealer
        .seal::<NoteV3, Bincode>(
            "__Host-note",
            &meta,
            &NoteV3 {
                text: bounded("three"),
                pinned: true,
                color: 4,
            },
        )
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|n: Session<Note>| async move { format!("{}|{}", n.text(), n.pinned()) }),
        )
        .layer(
            SessionLayer::<Note>::new(key())
                .with_always_save(true)
                .with_clock(clock.clone()),
        );
    clock.advance(3 * DAY);
    let old = send(&app, "GET", "/", Some(("__Host-note", v1.as_str()))).await;
    assert_eq!(old.body, "one|false");
    let new = send(&app, "GET", "/", Some(("__Host-note", v3.as_str()))).await;
    assert_eq!(new.body, "three|true");
    assert_eq!(new.set_cookie, None, "the V3 session is left as sealed");
}

/// A shared `Tiered` (memory cache + SQLite) for two layers: one process.
async fn shared_tiered(name: &str) -> Arc<Tiered<MemoryStore, SqliteStore>> {
    Arc::new(Tiered::new(
        MemoryStore::default(),
        stores::sqlite_file(name).await,
    ))
}

/// Quick fields, `next` adds one (`TallyV2.hits`, `Tally` has none): on a
/// `Tiered` store the next release seals the durable fields and the quick
/// ones apart. "Both tiers, every store": the step-1 instance must open the
/// record (items `[1, 2]`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_adds_a_quick_field_on_a_tiered_store() {
    let store = shared_tiered("fp_quick_add").await;
    let next = Router::new()
        .route(
            "/write",
            post(|mut t: Session<TallyV2>| async move {
                t.set_items(vec![1, 2]);
                t.set_hits(5);
                "ok"
            }),
        )
        .layer(SessionLayer::<TallyV2>::with_store(
            key(),
            Arc::clone(&store),
        ));
    let this = Router::new()
        .route(
            "/",
            get(|t: Session<Tally>| async move { format!("{:?}", t.items()) }),
        )
        .layer(SessionLayer::<Tally>::with_store(key(), Arc::clone(&store)));
    let token = send(&next, "POST", "/write", None)
        .await
        .set_cookie
        .unwrap();
    let read = send(&this, "GET", "/", Some(("__Host-tally", token.as_str()))).await;
    assert_eq!(
        read.body, "[1, 2]",
        "a step-1 instance opens the next release's record (set-cookie {:?})",
        read.set_cookie
    );
}

/// Quick fields, `next` makes one durable (`Seen.hits` quick, `SeenV2.hits`
/// not): what the step-1 instance writes on a `Tiered` store must open on
/// the next release ("While it rolls out, step-1 instances open what it
/// writes" and the other way round).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_makes_a_quick_field_durable_on_a_tiered_store() {
    let store = shared_tiered("fp_quick_durable").await;
    let this = Router::new()
        .route(
            "/write",
            post(|mut s: Session<Seen>| async move {
                s.set_items(vec![3, 4]);
                s.set_hits(6);
                "ok"
            }),
        )
        .route(
            "/",
            get(|s: Session<Seen>| async move { format!("{:?}|{}", s.items(), s.hits()) }),
        )
        .layer(SessionLayer::<Seen>::with_store(key(), Arc::clone(&store)));
    let next = Router::new()
        .route(
            "/",
            get(|s: Session<SeenV2>| async move { format!("{:?}|{}", s.items(), s.hits()) }),
        )
        .route(
            "/write",
            post(|mut s: Session<SeenV2>| async move {
                s.set_items(vec![7]);
                s.set_hits(8);
                "ok"
            }),
        )
        .layer(SessionLayer::<SeenV2>::with_store(
            key(),
            Arc::clone(&store),
        ));
    // the next release's record opens on step 1
    let token = send(&next, "POST", "/write", None)
        .await
        .set_cookie
        .unwrap();
    let read = send(&this, "GET", "/", Some(("__Host-seen", token.as_str()))).await;
    assert_eq!(read.body, "[7]|8", "step 1 opens the next release's record");
    // step 1's record opens on the next release
    let token = send(&this, "POST", "/write", None)
        .await
        .set_cookie
        .unwrap();
    let read = send(&next, "GET", "/", Some(("__Host-seen", token.as_str()))).await;
    assert_eq!(
        read.body, "[3, 4]|6",
        "the next release opens what step 1 wrote (set-cookie {:?})",
        read.set_cookie
    );
}

/// Quick fields on both shapes, the next one with one more: step 1 opens
/// the next release's record, a quick-only change there keeps the record
/// opening on the next release (its extra quick field may be lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_with_more_quick_fields_on_a_tiered_store() {
    let store = shared_tiered("fp_quick_more").await;
    let next = Router::new()
        .route(
            "/",
            get(|v: Session<VisitV2>| async move { format!("{:?}|{}", v.items(), v.hits()) }),
        )
        .route(
            "/write",
            post(|mut v: Session<VisitV2>| async move {
                v.set_items(vec![1]);
                v.set_hits(2);
                v.set_seen(3);
                "ok"
            }),
        )
        .layer(SessionLayer::<VisitV2>::with_store(
            key(),
            Arc::clone(&store),
        ));
    let this = Router::new()
        .route(
            "/",
            get(|v: Session<Visit>| async move { format!("{:?}|{}", v.items(), v.hits()) }),
        )
        .route(
            "/hit",
            post(|mut v: Session<Visit>| async move {
                *v.hits_mut() += 1;
                "ok"
            }),
        )
        .layer(SessionLayer::<Visit>::with_store(key(), Arc::clone(&store)));
    let token = send(&next, "POST", "/write", None)
        .await
        .set_cookie
        .unwrap();
    let cookie = Some(("__Host-visit", token.as_str()));
    assert_eq!(send(&this, "GET", "/", cookie).await.body, "[1]|2");
    let hit = send(&this, "POST", "/hit", cookie).await;
    assert_eq!(hit.status, 200);
    let cookie = hit
        .set_cookie
        .as_deref()
        .map_or(cookie, |t| Some(("__Host-visit", t)));
    assert_eq!(send(&next, "GET", "/", cookie).await.body, "[1]|3");
    assert_eq!(send(&this, "GET", "/", cookie).await.body, "[1]|3");
}

// ---------------------------------------------------------------------------
// ManagedKeys
// ---------------------------------------------------------------------------

#[derive(Session, Default, Debug, PartialEq)]
#[session(cookie = "probe", storage = "cookie")]
struct Probe {
    n: u32,
}

const META: Meta = Meta {
    issued_at: 0,
    expires_at: u64::MAX,
    lifetime: 0,
    browser_session: false,
};

const MIN: Duration = Duration::from_secs(60);

fn root() -> MasterKey {
    MasterKey::from_secret(&[42; 32]).unwrap()
}

fn seal_with(ring: &KeyRing, n: u32) -> String {
    Sealer::new(ring.clone(), Mode::Encrypted)
        .seal::<Probe, Bincode>("probe", &META, &Probe { n })
        .unwrap()
}

fn opens_with(ring: &KeyRing, value: &str) -> bool {
    Sealer::new(ring.clone(), Mode::Encrypted)
        .open::<Probe, Bincode>("probe", value, 1)
        .is_ok()
}

fn seal<K>(keys: &ManagedKeys<K>, n: u32) -> String {
    seal_with(&keys.ring(), n)
}

fn opens<K>(keys: &ManagedKeys<K>, value: &str) -> bool {
    opens_with(&keys.ring(), value)
}

/// Refresh every minute, activate after 5, rotate hourly, keep 2 hours.
fn hourly(clock: &TestClock) -> KeyPolicy {
    KeyPolicy::default()
        .with_refresh(MIN)
        .with_activation_delay(5 * MIN)
        .with_rotation(60 * MIN)
        .with_retention(120 * MIN)
        .with_clock(clock.clone())
}

fn millis(clock: &TestClock) -> u64 {
    clock.secs() * 1000
}

async fn kids<K: KeyStore>(store: &K) -> Vec<u32> {
    let mut kids: Vec<u32> = store
        .load_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.kid)
        .collect();
    kids.sort_unstable();
    kids
}

/// `n` instances loading at once on one empty store: exactly one first key
/// is made, every instance seals with it, and each opens what the others
/// seal.
async fn concurrent_first_key<K, F, Fut>(name: &str, connect: F)
where
    K: KeyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = K>,
{
    let clock = TestClock::new();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(connect().await);
    }
    let check = connect().await;
    assert!(check.load_keys().await.unwrap().is_empty(), "{name}: fresh");
    let loads = stores
        .into_iter()
        .map(|store| {
            let policy = hourly(&clock);
            tokio::spawn(async move { ManagedKeys::load(store, root(), policy).await })
        })
        .collect::<Vec<_>>();
    let mut rings = Vec::new();
    for load in loads {
        rings.push(
            load.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    assert_eq!(kids(&check).await, [1], "{name}: exactly one first key");
    for a in &rings {
        assert_eq!(a.status().current, 1, "{name}");
        for b in &rings {
            assert!(opens(b, &seal(a, 1)), "{name}: one ring everywhere");
        }
    }
}

/// Four instances start at once on an empty store (memory, SQLite file,
/// PostgreSQL, MariaDB, Redis, each instance with connections of its own):
/// one first key, one ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_key_on_every_durable_store() {
    let memory = Arc::new(MemoryStore::default());
    concurrent_first_key("memory", || {
        let memory = Arc::clone(&memory);
        async move { memory }
    })
    .await;
    concurrent_first_key("sqlite", || stores::sqlite_file("fp_first")).await;
    if address("SESSIONKIT_POSTGRES_URL").is_some() {
        concurrent_first_key("postgres", || async {
            stores::postgres("fp_first").await.unwrap()
        })
        .await;
    }
    if address("SESSIONKIT_MYSQL_URL").is_some() {
        concurrent_first_key("mariadb", || async {
            stores::mysql("fp_first").await.unwrap()
        })
        .await;
    }
    if address("SESSIONKIT_REDIS_URL").is_some() {
        let prefix = format!("fp-first-{}:", run());
        concurrent_first_key("redis", || {
            let prefix = prefix.clone();
            async move { stores::redis().await.unwrap().with_prefix(&prefix) }
        })
        .await;
    }
}

/// Two instances rotating at the same moment: one next key, both name it,
/// both rings verify it, and after its activation each opens what the
/// other seals.
async fn rotate_at_once<K: KeyStore>(name: &str, a: K, b: K, check: K) {
    let clock = TestClock::new();
    let a = ManagedKeys::load(a, root(), hourly(&clock)).await.unwrap();
    let b = ManagedKeys::load(b, root(), hourly(&clock)).await.unwrap();
    let (ka, kb) = tokio::join!(a.rotate(), b.rotate());
    let (ka, kb) = (ka.unwrap(), kb.unwrap());
    assert_eq!((ka, kb), (2, 2), "{name}: both name the one next key");
    assert_eq!(kids(&check).await, [1, 2], "{name}");
    b.refresh().await.unwrap();
    a.refresh().await.unwrap();
    assert_eq!(
        (a.status().verifying, b.status().verifying),
        (2, 2),
        "{name}"
    );
    clock.advance(6 * MIN);
    a.refresh().await.unwrap();
    b.refresh().await.unwrap();
    assert_eq!((a.status().current, b.status().current), (2, 2), "{name}");
    assert!(opens(&a, &seal(&b, 1)) && opens(&b, &seal(&a, 2)), "{name}");
}

/// [`rotate_at_once`] on SQLite (a file, a pool each) and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_rotating_at_once_make_one_key() {
    rotate_at_once(
        "sqlite",
        stores::sqlite_file("fp_rotate").await,
        stores::sqlite_file("fp_rotate").await,
        stores::sqlite_file("fp_rotate").await,
    )
    .await;
    if let Some(first) = stores::postgres("fp_rotate").await {
        rotate_at_once(
            "postgres",
            first,
            stores::postgres("fp_rotate").await.unwrap(),
            stores::postgres("fp_rotate").await.unwrap(),
        )
        .await;
    }
}

/// Clock skew of 2 minutes (under the 5-minute activation delay less a
/// refresh): through a rotation, minute by minute, whatever one instance
/// seals the other opens, before and after it refreshes (the pending state
/// "verifies: instances whose clock runs ahead may seal with it").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_minutes_of_clock_skew_lose_nothing() {
    for ahead_first in [true, false] {
        let (early, late) = (TestClock::new(), TestClock::new());
        early.advance(2 * MIN);
        let store = Arc::new(MemoryStore::default());
        let (first, second) = if ahead_first {
            (&early, &late)
        } else {
            (&late, &early)
        };
        let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(first))
            .await
            .unwrap();
        let b = ManagedKeys::load(Arc::clone(&store), root(), hourly(second))
            .await
            .unwrap();
        for minute in 1..=200 {
            early.advance(MIN);
            late.advance(MIN);
            a.refresh().await.unwrap();
            assert!(
                opens(&b, &seal(&a, minute)) && opens(&a, &seal(&b, minute)),
                "ahead first {ahead_first}, minute {minute}: a {:?} / b {:?}",
                a.keys(),
                b.keys()
            );
            b.refresh().await.unwrap();
            assert!(
                opens(&b, &seal(&a, minute)) && opens(&a, &seal(&b, minute)),
                "ahead first {ahead_first}, minute {minute} (both refreshed)"
            );
        }
        assert!(a.status().current >= 3, "rotated: {:?}", a.keys());
    }
}

/// Revocations: the pending key (its number refused twice gives the first
/// time, no error), an unknown key (`NoSuchKey`), then every key (a new
/// key seals at once and the other instance opens it after its refresh);
/// a revoked key is refused by the other instance after its next refresh
/// and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_pending_twice_unknown_and_every_key() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let b = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let by_one = seal(&a, 1);
    assert_eq!(a.rotate().await.unwrap(), 2);
    assert_eq!(
        a.rotate().await.unwrap(),
        2,
        "a pending key is the next one"
    );
    a.revoke(2).await.unwrap();
    let first_at = store
        .load_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kid == 2)
        .unwrap()
        .revoked_at;
    clock.advance(MIN);
    a.revoke(2).await.expect("a second revocation is no error");
    let again_at = store
        .load_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kid == 2)
        .unwrap()
        .revoked_at;
    assert_eq!(first_at, again_at, "the first revocation time stays");
    assert_eq!(
        a.status().current,
        1,
        "revoking the pending key keeps key 1"
    );
    assert!(matches!(
        a.revoke(77).await,
        Err(ManagedKeyError::NoSuchKey(77))
    ));
    // every key
    a.revoke(1).await.unwrap();
    let current = a.status().current;
    assert!(current > 2, "a new key seals: {:?}", a.keys());
    assert!(!opens(&a, &by_one));
    assert!(opens(&b, &by_one), "b has not refreshed");
    b.refresh().await.unwrap();
    assert!(!opens(&b, &by_one), "b refuses key 1 after its refresh");
    assert!(opens(&b, &seal(&a, 3)) && opens(&a, &seal(&b, 3)));
    assert_eq!(b.status().current, current);
}

/// The retention boundary: a replaced key verifies for `retain` plus one
/// refresh interval and its jitter (an instance may seal with it until its
/// next refresh). One second before, key 1 verifies; at the boundary it
/// does not (and is removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_ends_exactly_at_the_boundary() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let by_one = seal(&a, 1);
    while a.status().current == 1 {
        clock.advance(MIN);
        a.refresh().await.unwrap();
    }
    let replaced = a.keys()[0].replaced_at.expect("key 1 replaced");
    let replaced = replaced
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // the hourly policy's retention, plus 1.1 refresh intervals
    let boundary = replaced + 120 * 60 + 66;
    // catch up to one second before the boundary, refreshing on the way
    while clock.secs() + 60 < boundary {
        clock.advance(MIN);
        a.refresh().await.unwrap();
    }
    clock.advance(Duration::from_secs(boundary - 1 - clock.secs()));
    a.refresh().await.unwrap();
    assert!(opens(&a, &by_one), "one second before the boundary");
    assert_eq!(a.keys()[0].state, KeyState::Previous);
    clock.advance(Duration::from_secs(1));
    a.refresh().await.unwrap();
    assert!(!opens(&a, &by_one), "at the boundary");
    assert!(!kids(&store).await.contains(&1));
}

/// `keys()` shows each state of the docs' table: a previous, the current,
/// a revoked and a pending key, and a retired one (past its retention,
/// before the refresh that removes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_lists_every_state() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    assert_eq!(a.rotate().await.unwrap(), 2);
    clock.advance(6 * MIN);
    a.refresh().await.unwrap();
    assert_eq!(a.rotate().await.unwrap(), 3);
    a.revoke(3).await.unwrap();
    assert_eq!(a.rotate().await.unwrap(), 4);
    let states: Vec<(u32, KeyState)> = a.keys().iter().map(|k| (k.kid, k.state)).collect();
    assert_eq!(
        states,
        [
            (1, KeyState::Previous),
            (2, KeyState::Current),
            (3, KeyState::Revoked),
            (4, KeyState::Pending)
        ]
    );
    clock.advance(121 * MIN);
    let states: Vec<(u32, KeyState)> = a.keys().iter().map(|k| (k.kid, k.state)).collect();
    assert_eq!(states[0], (1, KeyState::Retired), "{states:?}");
    assert!(
        a.keys()
            .iter()
            .all(|k| k.envelope_id.is_some() || k.state == KeyState::Revoked),
        "every key opens here"
    );
}

/// Replaces key `kid`'s record in a SQLite store's `<table>_keys`.
async fn tamper(store: &SqliteStore, sql: &str) {
    let sql = sql.replace("{t}", &format!("{}_keys", store.table()));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .unwrap();
}

/// Records changed in the table (SQLite) before any instance opened them:
/// a pending key whose `activates_at` is moved to now does not open and
/// does not seal; two rows whose sealed secrets are swapped open neither
/// (`NoUsableKey`). "a changed time makes the key unusable rather than
/// active at another time".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_records_do_not_open_for_a_new_instance() {
    let clock = TestClock::new();
    let store = stores::sqlite_file("fp_tamper_new").await;
    let a = ManagedKeys::load(store, root(), hourly(&clock))
        .await
        .unwrap();
    // a minute on: key 2's moved time falls after key 1's activation
    clock.advance(MIN);
    a.rotate().await.unwrap();
    drop(a);
    let now = millis(&clock);
    let store = stores::sqlite_file("fp_tamper_new").await;
    tamper(
        &store,
        &format!(
            "UPDATE {{t}} SET activates_at = {} WHERE kid = 2",
            now - 1000
        ),
    )
    .await;
    let c = ManagedKeys::load(store, root(), hourly(&clock))
        .await
        .unwrap();
    assert_eq!(c.status().current, 1, "the moved key does not seal");
    let moved = c.keys().into_iter().find(|k| k.kid == 2).unwrap();
    assert_eq!(moved.envelope_id, None, "and does not open");
    let store = stores::sqlite_file("fp_tamper_new").await;
    tamper(
        &store,
        "UPDATE {t} SET sealed = CASE kid WHEN 1 THEN (SELECT sealed FROM {t} WHERE kid = 2) \
         ELSE (SELECT sealed FROM {t} WHERE kid = 1) END WHERE kid IN (1, 2)",
    )
    .await;
    let swapped = ManagedKeys::load(store, root(), hourly(&clock)).await;
    assert!(
        matches!(swapped, Err(ManagedKeyError::NoUsableKey(_))),
        "{swapped:?}"
    );
}

/// The same change made while an instance runs: it had opened the pending
/// key already. The record's time is bound to its secret, so the running
/// instance must not start sealing with it early either; else a new
/// instance (for which the changed record does not open) refuses what the
/// running one seals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_activation_time_does_not_activate_a_key_on_a_running_instance() {
    let clock = TestClock::new();
    let store = stores::sqlite_file("fp_tamper_running").await;
    let a = ManagedKeys::load(store, root(), hourly(&clock))
        .await
        .unwrap();
    clock.advance(MIN);
    a.rotate().await.unwrap();
    let now = millis(&clock);
    let store = stores::sqlite_file("fp_tamper_running").await;
    tamper(
        &store,
        &format!(
            "UPDATE {{t}} SET activates_at = {} WHERE kid = 2",
            now - 1000
        ),
    )
    .await;
    a.refresh().await.unwrap();
    let c = ManagedKeys::load(store, root(), hourly(&clock))
        .await
        .unwrap();
    let c_opens_a = opens(&c, &seal(&a, 1));
    assert!(
        a.status().current == 1 && c_opens_a,
        "the running instance seals with key {} (a new instance seals with {}, opens the running one's: {c_opens_a}): {:?}",
        a.status().current,
        c.status().current,
        a.keys()
    );
}

/// An instance started with the wrong root secret must be refused
/// (`NoUsableKey`: "no key of the store opens under the root secret") and
/// leave the store as it found it. Here the rotation is due when it
/// starts; the fleet must then rotate on schedule (10 minutes on, a new key
/// seals on the right instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_the_wrong_root_is_refused_and_changes_nothing() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    // the rotation is due within the activation delay
    clock.advance(56 * MIN);
    let wrong = ManagedKeys::load(Arc::clone(&store), key_from(9), hourly(&clock)).await;
    let refused = matches!(wrong, Err(ManagedKeyError::NoUsableKey(_)));
    let wrong_seals = wrong.as_ref().ok().map(|w| w.status().current);
    drop(wrong);
    let after = kids(&store).await;
    for _ in 0..10 {
        clock.advance(MIN);
        a.refresh().await.unwrap();
    }
    assert!(
        refused && after == [1] && a.status().current != 1,
        "refused: {refused} (it seals with key {wrong_seals:?}); keys after its start: {after:?}; \
         the right instance seals with key {} 10 minutes later ({:?})",
        a.status().current,
        a.keys()
    );
}

/// A key in the store that does not open here (made under another root,
/// or changed) is the plan's current key: the instance seals with the
/// first key that opens. When the next key is made it must still not seal
/// before its activation: whatever one instance seals, another that
/// refreshed within the refresh interval opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_does_not_open_does_not_let_a_pending_key_seal_early() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let b = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let now = millis(&clock);
    let foreign = StoredKey {
        kid: 2,
        created_at: now,
        activates_at: now + 1000,
        revoked_at: None,
        sealed: vec![1; 94],
    };
    assert!(store.add_key(&foreign).await.unwrap());
    for minute in 1..=130 {
        clock.advance(MIN);
        a.refresh().await.unwrap();
        // b refreshed a minute ago
        assert!(
            opens(&b, &seal(&a, minute)),
            "minute {minute}: a seals with key {} that b (refreshed a minute ago) does not know: {:?}",
            a.status().current,
            a.keys()
        );
        b.refresh().await.unwrap();
    }
}

/// A root rotation through a root ring: instances holding [old, new]
/// (the new one as previous) then [new, old] open every key the others
/// make, and an instance with only the new root opens what was made under
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_rotation_through_a_root_ring() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let (old, new) = (key_from(31), key_from(32));
    let a = ManagedKeys::load(Arc::clone(&store), old.clone(), hourly(&clock))
        .await
        .unwrap();
    let expand = KeyRing::new(old.clone()).with_previous(new.clone());
    let b = ManagedKeys::load(Arc::clone(&store), expand, hourly(&clock))
        .await
        .unwrap();
    assert_eq!(b.rotate().await.unwrap(), 2);
    a.refresh().await.unwrap();
    clock.advance(6 * MIN);
    a.refresh().await.unwrap();
    b.refresh().await.unwrap();
    assert!(opens(&a, &seal(&b, 1)) && opens(&b, &seal(&a, 1)));
    drop(a);
    let contract = KeyRing::new(new.clone()).with_previous(old.clone());
    let c = ManagedKeys::load(Arc::clone(&store), contract, hourly(&clock))
        .await
        .unwrap();
    assert_eq!(c.rotate().await.unwrap(), 3);
    b.refresh().await.unwrap();
    clock.advance(6 * MIN);
    b.refresh().await.unwrap();
    c.refresh().await.unwrap();
    assert_eq!((b.status().current, c.status().current), (3, 3));
    assert!(opens(&b, &seal(&c, 1)) && opens(&c, &seal(&b, 1)));
    let only_new = ManagedKeys::load(Arc::clone(&store), new, hourly(&clock))
        .await
        .unwrap();
    assert_eq!(only_new.status().current, 3);
    assert!(opens(&only_new, &seal(&c, 2)));
}

/// "A store that comes back empty gets its keys back from the instances",
/// "revocations included": here the instance that restores first had not
/// refreshed since another revoked key 1 (and made key 2). After the
/// restore, key 1 must stay revoked everywhere and key 2 must not be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_by_a_stale_instance_keeps_revocations_and_newer_keys() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let b = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    let by_one = seal(&b, 1);
    b.revoke(1).await.unwrap();
    let by_two = seal(&b, 2);
    assert_eq!(b.status().current, 2);
    // the store loses everything (a Redis restarted without persistence)
    for kid in kids(&store).await {
        store.remove_key(kid).await.unwrap();
    }
    a.refresh().await.unwrap();
    b.refresh().await.unwrap();
    let (revoked_opens, newer_opens) = (opens(&b, &by_one), opens(&b, &by_two));
    assert!(
        !revoked_opens && newer_opens,
        "after the restore, b opens revoked key 1's session: {revoked_opens}; b opens key 2's: {newer_opens}; store {:?}",
        store.load_keys().await.unwrap()
    );
}

/// A store that came back empty, and an instance that starts before any
/// running one refreshed: it makes a first key with the number the running
/// instances already hold for another secret. Every instance must still
/// follow one ring (what one seals the others open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_on_an_emptied_store_does_not_split_the_fleet() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let a = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    store.remove_key(1).await.unwrap();
    let c = ManagedKeys::load(Arc::clone(&store), root(), hourly(&clock))
        .await
        .unwrap();
    a.refresh().await.unwrap();
    c.refresh().await.unwrap();
    let (a_opens_c, c_opens_a) = (opens(&a, &seal(&c, 1)), opens(&c, &seal(&a, 1)));
    assert!(
        a_opens_c && c_opens_a,
        "a opens c's: {a_opens_c}, c opens a's: {c_opens_a} (both seal with key {} / {})",
        a.status().current,
        c.status().current
    );
}

/// A revoked pending key's record retires after the retention; the next
/// scheduled key made after it must not be served with the revoked key's
/// secret: numbers are never used again (the next key is 3), and an
/// instance started then seals and opens with the same ring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_number_freed_by_retirement_is_not_served_with_the_old_secret() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    // retain 54 minutes: key 2's record goes one refresh before the
    // rotation (due 55 minutes in) makes the next key
    let policy = hourly(&clock).with_retention(54 * MIN);
    let a = ManagedKeys::load(Arc::clone(&store), root(), policy.clone())
        .await
        .unwrap();
    assert_eq!(a.rotate().await.unwrap(), 2);
    a.revoke(2).await.unwrap();
    for _ in 0..55 {
        clock.advance(MIN);
        a.refresh().await.unwrap();
    }
    assert_eq!(
        kids(&store).await.last(),
        Some(&3),
        "the next key takes a new number, never revoked key 2's: {:?}",
        a.keys()
    );
    for _ in 0..6 {
        clock.advance(MIN);
        a.refresh().await.unwrap();
    }
    let c = ManagedKeys::load(Arc::clone(&store), root(), policy)
        .await
        .unwrap();
    let (a_opens_c, c_opens_a) = (opens(&a, &seal(&c, 1)), opens(&c, &seal(&a, 1)));
    assert!(
        a_opens_c && c_opens_a,
        "both seal with key {} / {}: a opens c's {a_opens_c}, c opens a's {c_opens_a}",
        a.status().current,
        c.status().current
    );
}

/// `list` reads and changes nothing, not even on an empty store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_makes_nothing() {
    let store = Arc::new(MemoryStore::default());
    let listed = ManagedKeys::list(&store, root(), &KeyPolicy::default())
        .await
        .unwrap();
    assert!(listed.is_empty());
    assert!(kids(&store).await.is_empty());
}

/// Policy edges: zero, an activation delay of exactly twice the refresh
/// (accepted) and a millisecond less (refused), a rotation not longer than
/// the activation delay (refused). "Every duration must be positive, and
/// the activation delay at least twice the refresh interval".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_edges() {
    let store = Arc::new(MemoryStore::default());
    let base = KeyPolicy::default().with_rotation(DAY).with_retention(DAY);
    let refused = [
        base.clone().with_refresh(Duration::ZERO),
        base.clone().with_retention(Duration::ZERO),
        base.clone()
            .with_refresh(Duration::from_secs(1))
            .with_activation_delay(Duration::from_millis(1999)),
        base.clone().with_activation_delay(DAY),
    ];
    for policy in refused {
        let loaded = ManagedKeys::load(Arc::clone(&store), root(), policy.clone()).await;
        assert!(
            matches!(loaded, Err(ManagedKeyError::Policy(_))),
            "{policy:?}: {loaded:?}"
        );
    }
    let exact = base
        .with_refresh(Duration::from_secs(1))
        .with_activation_delay(Duration::from_secs(2));
    assert!(
        ManagedKeys::load(Arc::clone(&store), root(), exact)
            .await
            .is_ok()
    );
}

/// A huge refresh interval is a policy the check refuses or accepts, never
/// a panic (`ManagedKeys::load` returns `ManagedKeyError::Policy`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_refresh_interval_is_an_error_not_a_panic() {
    let policy = KeyPolicy::default().with_refresh(Duration::MAX);
    let store = Arc::new(MemoryStore::default());
    let loaded = tokio::spawn(async move { ManagedKeys::load(store, root(), policy).await }).await;
    match loaded {
        Ok(Err(ManagedKeyError::Policy(_))) => {}
        Ok(other) => panic!("expected a policy error: {other:?}"),
        Err(join) => panic!("ManagedKeys::load panicked: {join}"),
    }
}

/// Durations past 100 years are refused (they would saturate the
/// millisecond clock and make a rotation look due); the longest accepted
/// one makes no second key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_durations_are_refused_and_long_ones_make_no_key_early() {
    let clock = TestClock::new();
    let store = Arc::new(MemoryStore::default());
    let huge = KeyPolicy::default()
        .with_refresh(Duration::from_secs(1))
        .with_activation_delay(Duration::from_secs(u64::MAX / 100))
        .with_rotation(Duration::MAX)
        .with_retention(Duration::MAX)
        .with_clock(clock.clone());
    assert!(matches!(
        ManagedKeys::load(Arc::clone(&store), root(), huge).await,
        Err(ManagedKeyError::Policy(_))
    ));
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    let long = KeyPolicy::default()
        .with_refresh(Duration::from_secs(1))
        .with_activation_delay(century / 2)
        .with_rotation(century)
        .with_retention(century)
        .with_clock(clock.clone());
    let a = ManagedKeys::load(Arc::clone(&store), root(), long)
        .await
        .unwrap();
    a.refresh().await.unwrap();
    assert_eq!(
        kids(&store).await,
        [1],
        "no rotation is due: {:?}",
        a.keys()
    );
}

/// A store that counts reads.
#[derive(Clone)]
struct Counting {
    inner: Arc<MemoryStore>,
    loads: Arc<AtomicUsize>,
}

impl KeyStore for Counting {
    fn load_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_keys()
    }

    fn add_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.add_key(key)
    }

    fn revoke_key(
        &self,
        kid: u32,
        at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.revoke_key(kid, at)
    }

    fn remove_key(&self, kid: u32) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.remove_key(kid)
    }
}

fn fast(clock: &TestClock) -> KeyPolicy {
    KeyPolicy::default()
        .with_refresh(Duration::from_millis(50))
        .with_activation_delay(Duration::from_millis(100))
        .with_rotation(DAY)
        .with_retention(DAY)
        .with_clock(clock.clone())
}

/// The background refresh lives as long as the ring does: the README and
/// `ring()` ("every clone follows the store") give the layers the ring; an
/// app that keeps the layer (the ring) but not the `ManagedKeys` handle
/// must still follow the store: a key revoked by another instance is
/// refused within a refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_kept_without_its_handle_keeps_refreshing() {
    let clock = TestClock::new();
    let memory = Arc::new(MemoryStore::default());
    let loads = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: Arc::clone(&memory),
        loads: Arc::clone(&loads),
    };
    let ring = ManagedKeys::start_with(store, root(), fast(&clock))
        .await
        .unwrap()
        .ring();
    let layer = SessionLayer::<Probe>::new(ring.clone());
    let by_one = seal_with(&ring, 1);
    let admin = ManagedKeys::load(Arc::clone(&memory), root(), fast(&clock))
        .await
        .unwrap();
    admin.revoke(1).await.unwrap();
    let before = loads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refreshed = loads.load(Ordering::SeqCst) - before;
    assert!(
        refreshed > 0 && !opens_with(&ring, &by_one),
        "refreshes in 400 ms with only the ring held: {refreshed}; revoked key 1 still opens: {}",
        opens_with(&ring, &by_one)
    );
    drop(layer);
}

/// Everything dropped (every handle, ring and layer): the background task
/// ends and stops reading the store. Two instances started in the
/// background follow a revocation within about one refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refresh_follows_revocations_and_stops_when_dropped() {
    let clock = TestClock::new();
    let memory = Arc::new(MemoryStore::default());
    let loads = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inner: Arc::clone(&memory),
        loads: Arc::clone(&loads),
    };
    let a = ManagedKeys::start_with(store, root(), fast(&clock))
        .await
        .unwrap();
    let b = ManagedKeys::start_with(Arc::clone(&memory), root(), fast(&clock))
        .await
        .unwrap();
    let by_one = seal(&a, 1);
    b.revoke(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!opens(&a, &by_one), "refused on a within a refresh or two");
    assert!(opens(&a, &seal(&b, 2)), "and a follows b's new key");
    let ring = a.ring();
    drop(a);
    drop(ring);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let settled = loads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        loads.load(Ordering::SeqCst),
        settled,
        "no reads after everything was dropped"
    );
    drop(b);
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

/// The `sessionkit` binary the suite built (`--features cli`), if any.
fn cli() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    let path = target.join("debug/sessionkit");
    if path.exists() {
        Some(path)
    } else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI builds {} (cargo test --workspace --all-features)",
            path.display()
        );
        eprintln!("SKIPPED: {} not built", path.display());
        None
    }
}

fn run_cli(bin: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(bin);
    command.args(args).env_remove("DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn root_text() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32])
}

/// The command line's mistakes: a root variable that is not set fails and
/// names it; revoking an unknown key fails ("no key 99") and, like any
/// failed command, leaves the store as it was (here: empty, no key made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_mistakes_fail_and_change_nothing() {
    let Some(bin) = cli() else { return };
    let path = std::env::temp_dir().join(format!("sessionkit-fp-cli-{}.db", run()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = stores::sqlite_at(&path).await;
    let root = root_text();
    let env = [("FP_ROOT", root.as_str())];
    let unset = run_cli(
        &bin,
        &[
            "keys",
            "--database-url",
            &url,
            "--root-key-env",
            "FP_ROOT_UNSET",
            "list",
        ],
        &[],
    );
    assert!(!unset.status.success());
    assert!(
        String::from_utf8_lossy(&unset.stderr).contains("FP_ROOT_UNSET"),
        "{}",
        String::from_utf8_lossy(&unset.stderr)
    );
    let unknown = run_cli(
        &bin,
        &[
            "keys",
            "--database-url",
            &url,
            "--root-key-env",
            "FP_ROOT",
            "revoke",
            "99",
        ],
        &env,
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no key 99"));
    assert!(
        kids(&store).await.is_empty(),
        "a failed `keys revoke 99` made keys: {:?}",
        kids(&store).await
    );
    store.pool().close().await;
    let _ = std::fs::remove_file(&path);
}

/// `sessionkit keys` against PostgreSQL (its `--table`): `list` shows the
/// instance's key as current, `revoke 1` is refused on the instance at its
/// next refresh, an unknown key fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keys_against_postgres() {
    let Some(bin) = cli() else { return };
    let Some(url) = address("SESSIONKIT_POSTGRES_URL") else {
        return;
    };
    let Some(store) = stores::postgres("fp_cli").await else {
        return;
    };
    let name = table("fp_cli");
    let instance = ManagedKeys::load(store, root(), KeyPolicy::default())
        .await
        .unwrap();
    let by_one = seal(&instance, 1);
    let root = root_text();
    let env = [("FP_ROOT", root.as_str())];
    let keys = |action: &[&str]| {
        let mut args = vec![
            "keys",
            "--database-url",
            url.as_str(),
            "--table",
            name.as_str(),
            "--root-key-env",
            "FP_ROOT",
        ];
        args.extend_from_slice(action);
        run_cli(&bin, &args, &env)
    };
    let listed = keys(&["list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(text.contains("key 1  Current"), "{text}");
    let revoked = keys(&["revoke", "1"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    instance.refresh().await.unwrap();
    assert!(!opens(&instance, &by_one), "revoked from the command line");
    assert!(instance.status().current > 1);
    let unknown = keys(&["revoke", "99"]);
    assert!(!unknown.status.success());
}
