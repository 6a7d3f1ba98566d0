//! The cookie path side by side: every configuration in one process, one
//! thread, interleaved, as Markdown tables on stdout (`benches/run.sh`
//! puts them into BENCHMARKS.md).
//!
//! axum configurations are measured against bare axum, actix-web ones
//! against bare actix-web; each request goes through the framework's
//! in-process service (`oneshot`, `actix_web::test::call_service`).

use actix_web::{App, web};
use axum::Router;
use axum::body::Body;
use http::Request;
use session_runtime::{Mode, SessionLayer};
use sessionkit_benches::floor::Floor;
use sessionkit_benches::peers::{self, PeerData};
use sessionkit_benches::sessionkit::{self as kit, key};
use sessionkit_benches::{
    Case, PeerCart, PeerCounter, PeerNote, Size, knobs, run_interleaved, with_peer_data,
};
use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use tower::ServiceExt as _;

type Runtime = Rc<tokio::runtime::Runtime>;
type ActixRuntime = Rc<actix_rt::SystemRunner>;

fn request(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    builder.body(Body::empty()).expect("valid request")
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// The cookie a first request to `/rw` gives, and the `Set-Cookie` length
/// of a second (steady-state) one.
fn prime(rt: &Runtime, app: &Router) -> (String, Option<usize>) {
    let set_cookie = |cookie: Option<&str>| {
        let response = rt
            .block_on(app.clone().oneshot(request("/rw", cookie)))
            .expect("infallible");
        assert!(response.status().is_success(), "{}", response.status());
        response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let first = set_cookie(None).expect("the first write sets a cookie");
    let cookie = pair(&first);
    let again = set_cookie(Some(&cookie)).map(|line| line.len());
    (cookie, again)
}

struct Table {
    cases: Vec<Case>,
    set_cookie: Vec<Option<usize>>,
}

impl Table {
    fn push(&mut self, case: Case, set_cookie: Option<usize>) -> usize {
        self.cases.push(case);
        self.set_cookie.push(set_cookie);
        self.cases.len() - 1
    }

    fn axum(
        &mut self,
        rt: &Runtime,
        name: String,
        baseline: Option<usize>,
        app: Router,
        uri: &'static str,
    ) -> usize {
        let (cookie, set_cookie) = if uri == "/rw" {
            let (cookie, set_cookie) = prime(rt, &app);
            (Some(cookie), set_cookie)
        } else {
            (None, None)
        };
        self.push(
            oneshot_case(rt, name, baseline, app, uri, cookie),
            set_cookie,
        )
    }
}

/// `n` requests to `uri` of `app`, each sending `cookie`, as a case.
fn oneshot_case(
    rt: &Runtime,
    name: String,
    baseline: Option<usize>,
    app: Router,
    uri: &'static str,
    cookie: Option<String>,
) -> Case {
    let rt = Rc::clone(rt);
    Case {
        name,
        baseline,
        run: Box::new(move |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let response = app
                        .clone()
                        .oneshot(request(uri, cookie.as_deref()))
                        .await
                        .expect("infallible");
                    black_box(response.status());
                }
            });
        }),
    }
}

/// An actix-web app as a case: primed like the axum ones.
macro_rules! actix_case {
    ($table:expr, $system:expr, $name:expr, $baseline:expr, $uri:expr, $app:expr) => {{
        let system: ActixRuntime = Rc::clone(&$system);
        let app = system.block_on(actix_web::test::init_service($app));
        let call = |cookie: Option<&str>| {
            let mut req = actix_web::test::TestRequest::get().uri("/rw");
            if let Some(cookie) = cookie {
                req = req.insert_header(("cookie", cookie.to_owned()));
            }
            let response = system.block_on(actix_web::test::call_service(&app, req.to_request()));
            assert!(response.status().is_success());
            response
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        let (cookie, set_cookie) = if $uri == "/rw" {
            let first = call(None).expect("the first write sets a cookie");
            let cookie = pair(&first);
            let again = call(Some(&cookie)).map(|l| l.len());
            (Some(cookie), again)
        } else {
            (None, None)
        };
        let app = Rc::new(app);
        let case = Case {
            name: $name,
            baseline: $baseline,
            run: Box::new(move |n| {
                system.block_on(async {
                    for _ in 0..n {
                        let mut req = actix_web::test::TestRequest::get().uri($uri);
                        if let Some(cookie) = &cookie {
                            req = req.insert_header(("cookie", cookie.clone()));
                        }
                        let response = actix_web::test::call_service(&*app, req.to_request()).await;
                        black_box(response.status());
                    }
                });
            }),
        };
        $table.push(case, set_cookie)
    }};
}

fn floor_case<T: PeerData>(encrypted: bool) -> (Case, usize) {
    let floor = Floor::<T>::new(&T::filled(), encrypted, T::bump);
    let len = floor.set_cookie().len();
    let floor = RefCell::new(floor);
    let mode = if encrypted { "encrypted" } else { "signed" };
    (
        Case {
            name: format!("floor, {mode}"),
            baseline: None,
            run: Box::new(move |n| {
                let mut floor = floor.borrow_mut();
                for _ in 0..n {
                    floor.step();
                }
            }),
        },
        len,
    )
}

struct Row {
    size: Option<Size>,
    index: usize,
}

fn main() {
    let (rounds, per_round) = knobs(15, 2_000);
    let rt: Runtime = Rc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let mut table = Table {
        cases: Vec::new(),
        set_cookie: Vec::new(),
    };
    let mut rows = Vec::new();
    // bare axum is sent a cart's cookie too: building a request with a
    // 300-byte header is not the layer's cost
    let (bare_cookie, _) = prime(&rt, &kit::cookie_app(Size::Cart, Mode::Encrypted));
    let bare = table.push(
        oneshot_case(
            &rt,
            "bare axum".into(),
            None,
            Router::new().route("/untouched", axum::routing::get(kit::untouched)),
            "/untouched",
            Some(bare_cookie),
        ),
        None,
    );
    rows.push(Row {
        size: None,
        index: bare,
    });
    for (name, app) in [
        (
            "sessionkit, cookie sent, session not extracted",
            kit::cookie_app(Size::Cart, Mode::Encrypted),
        ),
        (
            "tower-sessions, cookie sent, session not extracted",
            peers::tower_sessions_app(Size::Cart),
        ),
    ] {
        // prime through /rw so the cookie is a real one, then time /untouched
        let (cookie, _) = prime(&rt, &app);
        let case = oneshot_case(
            &rt,
            name.into(),
            Some(bare),
            app,
            "/untouched",
            Some(cookie),
        );
        let index = table.push(case, None);
        rows.push(Row { size: None, index });
    }
    let mut floors = Vec::new();
    for size in Size::ALL {
        for (label, mode) in [("encrypted", Mode::Encrypted), ("signed", Mode::Signed)] {
            let index = table.axum(
                &rt,
                format!("sessionkit, {label}"),
                Some(bare),
                kit::cookie_app(size, mode),
                "/rw",
            );
            rows.push(Row {
                size: Some(size),
                index,
            });
        }
        let index = table.axum(
            &rt,
            "tower-sessions 0.15, MemoryStore".into(),
            Some(bare),
            peers::tower_sessions_app(size),
            "/rw",
        );
        rows.push(Row {
            size: Some(size),
            index,
        });
        for (label, private) in [("signed", false), ("private", true)] {
            let index = table.axum(
                &rt,
                format!("axum-extra 0.12, {label} jar (JSON)"),
                Some(bare),
                peers::jar_app(size, private),
                "/rw",
            );
            rows.push(Row {
                size: Some(size),
                index,
            });
        }
        for encrypted in [true, false] {
            let (case, len) = with_peer_data!(size, floor_case(encrypted));
            let index = table.push(case, Some(len));
            floors.push((size, encrypted, index));
            rows.push(Row {
                size: Some(size),
                index,
            });
        }
    }

    // actix-web, against bare actix-web
    let system: ActixRuntime = Rc::new(actix_rt::System::new());
    let actix_bare = actix_case!(
        table,
        system,
        "bare actix-web".into(),
        None,
        "/untouched",
        App::new().route("/untouched", web::get().to(kit::untouched))
    );
    let mut actix_rows = vec![Row {
        size: None,
        index: actix_bare,
    }];
    for size in [Size::Counter, Size::Cart] {
        let index = match size {
            Size::Counter => actix_case!(
                table,
                system,
                "sessionkit, encrypted".into(),
                Some(actix_bare),
                "/rw",
                App::new()
                    .wrap(session_runtime::actix::SessionMiddleware::new(
                        SessionLayer::<sessionkit_benches::Counter>::new(key())
                    ))
                    .route("/rw", web::get().to(kit::counter))
            ),
            _ => actix_case!(
                table,
                system,
                "sessionkit, encrypted".into(),
                Some(actix_bare),
                "/rw",
                App::new()
                    .wrap(session_runtime::actix::SessionMiddleware::new(
                        SessionLayer::<sessionkit_benches::Cart>::new(key())
                    ))
                    .route("/rw", web::get().to(kit::cart))
            ),
        };
        actix_rows.push(Row {
            size: Some(size),
            index,
        });
        let actix_key = actix_web::cookie::Key::from(&[6u8; 64]);
        let middleware = || {
            actix_session::SessionMiddleware::builder(
                actix_session::storage::CookieSessionStore::default(),
                actix_key.clone(),
            )
            .cookie_name("bench".into())
            .build()
        };
        let index = match size {
            Size::Counter => actix_case!(
                table,
                system,
                "actix-session 0.11, cookie store (private)".into(),
                Some(actix_bare),
                "/rw",
                App::new()
                    .wrap(middleware())
                    .route("/rw", web::get().to(peers::actix_session_rw::<PeerCounter>))
            ),
            _ => actix_case!(
                table,
                system,
                "actix-session 0.11, cookie store (private)".into(),
                Some(actix_bare),
                "/rw",
                App::new()
                    .wrap(middleware())
                    .route("/rw", web::get().to(peers::actix_session_rw::<PeerCart>))
            ),
        };
        actix_rows.push(Row {
            size: Some(size),
            index,
        });
    }
    let _ = PeerNote::default();

    let times = run_interleaved(&mut table.cases, rounds, per_round);
    let overhead = |i: usize| match table.cases[i].baseline {
        Some(base) => times[i] - times[base],
        None => times[i],
    };

    println!(
        "### Cookie path, axum 0.8 (µs per request, median of {rounds} interleaved rounds of {per_round})\n"
    );
    print_rows(&table, &times, &rows, &overhead);
    println!("\n### Cookie path, actix-web 4 (same run)\n");
    print_rows(&table, &times, &actix_rows, &overhead);

    // the targets, as ratios of this run
    let find = |size: Size, name: &str| {
        rows.iter()
            .find(|r| r.size == Some(size) && table.cases[r.index].name == name)
            .map(|r| r.index)
            .expect("row exists")
    };
    let best_peer = |size: Size| {
        rows.iter()
            .filter(|r| r.size == Some(size))
            .map(|r| r.index)
            .filter(|&i| {
                !table.cases[i].name.starts_with("sessionkit")
                    && !table.cases[i].name.starts_with("floor")
            })
            .map(|i| (overhead(i), table.cases[i].name.clone()))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("peers measured")
    };
    let floor_of = |size: Size, encrypted: bool| {
        floors
            .iter()
            .find(|f| f.0 == size && f.1 == encrypted)
            .map(|f| f.2)
            .expect("floor measured")
    };
    println!("\n### Targets (ratios of this run)\n");
    println!("| target | measured | met |\n| --- | --- | --- |");
    let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
    let untouched = overhead(rows[1].index);
    println!(
        "| untouched ≤ +0.10 µs over bare | {untouched:+.3} µs | {} |",
        verdict(untouched <= 0.10)
    );
    for (label, encrypted) in [("encrypted", true), ("signed", false)] {
        let name = format!("sessionkit, {label}");
        for (size, within) in [
            (Size::Counter, 1.25),
            (Size::Cart, 1.25),
            (Size::Note, 1.15),
        ] {
            let ours = overhead(find(size, &name));
            let floor = times[floor_of(size, encrypted)];
            println!(
                "| {} read + write, {label}: ≤ {within:.2}× the floor ({floor:.3} µs) | {ours:+.3} µs = {:.2}× | {} |",
                size.label(),
                ours / floor,
                verdict(ours <= within * floor)
            );
        }
        let ours = overhead(find(Size::Cart, &name));
        let (peer, peer_name) = best_peer(Size::Cart);
        println!(
            "| 131-byte cart, {label}: ≥ 4× less overhead than the best peer ({peer_name}, {peer:+.3} µs) | {:.2}× less | {} |",
            peer / ours,
            verdict(peer / ours >= 4.0)
        );
    }
    let counter = overhead(find(Size::Counter, "sessionkit, encrypted"));
    let (peer, peer_name) = best_peer(Size::Counter);
    println!(
        "| counter read + write ≤ ½ the best peer's overhead ({peer_name}, {peer:+.3} µs) | {counter:+.3} µs = {:.2}× | {} |",
        counter / peer,
        verdict(counter <= peer / 2.0)
    );
    let len = table.set_cookie[find(Size::Cart, "sessionkit, encrypted")].unwrap_or(0);
    let floor_len = table.set_cookie[floor_of(Size::Cart, true)].unwrap_or(0);
    println!(
        "| Set-Cookie of the 131-byte cart ≤ 280 B (floor: {floor_len} B with the same attributes) | {len} B | {} |",
        verdict(len <= 280)
    );
}

fn print_rows(table: &Table, times: &[f64], rows: &[Row], overhead: &dyn Fn(usize) -> f64) {
    println!(
        "| session | configuration | µs / request | overhead | Set-Cookie |\n| --- | --- | --- | --- | --- |"
    );
    for row in rows {
        let case = &table.cases[row.index];
        let size = row.size.map_or("—", Size::label);
        let over = match case.baseline {
            Some(_) => format!("{:+.3}", overhead(row.index)),
            None if case.name.starts_with("floor") => format!("{:.3} (floor)", times[row.index]),
            None => "baseline".into(),
        };
        let set_cookie = table.set_cookie[row.index].map_or("—".into(), |l| format!("{l} B"));
        println!(
            "| {size} | {} | {:.3} | {over} | {set_cookie} |",
            case.name, times[row.index]
        );
    }
}
