//! The lifecycle rules, as pure functions of the layer's settings, what a
//! request loaded, what its handler did and the time: whether the session
//! is written, refreshed, removed or left alone, with which times, and
//! when a session takes a new identity. Nothing here does I/O, encodes or
//! knows a tier: [`Slot`](super::Slot) gathers the [`Facts`], asks
//! [`decide`], and hands the [`Decision`] to the cookie or the server tier.

use super::state::{Control, Existing, Loaded, ServerRef};
use crate::config::Settings;
use crate::data::SessionData;
use crate::seal::Meta;
use crate::seal::Opened;
use std::time::Duration;

/// What the rules look at, besides the settings and the time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    /// The session as it was loaded (none for a new or ended session).
    pub(crate) existing: Option<&'a Existing>,
    /// What the handler asked for.
    pub(crate) control: Control,
    /// Whether a handler changed a field.
    pub(crate) changed: bool,
    /// Whether the request carried a token (valid or not).
    pub(crate) had_token: bool,
}

/// The session's encoding, compared: what [`decide`] needs to know of the
/// data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// Not encoded: [`must_encode`] said there was no need.
    NotEncoded,
    /// Equal to the loaded session's encoding.
    Same,
    /// Equal to a fresh session's (and not to a loaded one).
    Fresh,
    /// Anything else.
    New,
}

/// Which encoding a write stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The session as the handler left it.
    Encoded,
    /// The session as it was loaded (a refresh or a re-seal).
    Loaded,
}

/// What the response does with the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing: the token stands.
    Nothing,
    /// Expire the token (and delete the server record).
    Remove,
    /// Store the session with these times.
    Write { body: Written, meta: Meta },
}

/// Whether the handler asked for a write whatever the data: a new ID, a
/// lifetime or cookie kind, or `always_save` on a loaded session.
fn forced(settings: &Settings, facts: &Facts<'_>) -> bool {
    let control = facts.control;
    control.cycle
        || control.lifetime.is_some()
        || control.browser_session.is_some()
        || (settings.always_save && facts.existing.is_some())
}

/// Whether [`decide`] needs the session encoded: it changed, a write is
/// forced, or it was terminated (a terminated session given values again
/// is a new one).
pub(crate) fn must_encode(settings: &Settings, facts: &Facts<'_>) -> bool {
    facts.changed || forced(settings, facts) || facts.control.terminated
}

/// The lifecycle rules: what to store, if anything.
pub(crate) fn decide(settings: &Settings, facts: &Facts<'_>, body: Body, now: u64) -> Decision {
    let control = facts.control;
    let Some(existing) = facts.existing else {
        // a session equal to a fresh one is no session: nothing to send,
        // and an existing token is expired when the handler terminated it
        return match body {
            Body::New | Body::Same => Decision::Write {
                body: Written::Encoded,
                meta: new_meta(settings, None, control, now),
            },
            _ if control.terminated && facts.had_token => Decision::Remove,
            _ => Decision::Nothing,
        };
    };

    let mut meta = new_meta(settings, Some(&existing.meta), control, now);
    let lifetime = effective_lifetime(settings, &existing.meta, control);
    let sealed_at = existing.meta.expires_at.saturating_sub(lifetime.as_secs());
    // near the absolute cap a refresh would not move the expiry
    let refresh_due = now.saturating_sub(sealed_at) >= settings.refresh_after(lifetime).as_secs()
        && meta.expires_at > existing.meta.expires_at;
    if existing.server.is_some()
        && !settings.always_save
        && !refresh_due
        && !existing.stale_key
        && !control.cycle
        && control.lifetime.is_none()
        && control.browser_session.is_none()
    {
        // a server-side write keeps the expiry the client's cookie was
        // last given, so the cookie need not be sent again: record and
        // cookie are refreshed together, when a refresh is due
        meta.expires_at = existing.meta.expires_at;
    }
    // sealed by the next release (`#[session(next = ..)]`): written back,
    // in this release's shape, only for what a handler did (a change, a
    // new ID, a lifetime, a cookie kind). A refresh, a re-seal under a
    // newer key and `always_save` are left to the next release, so that a
    // request served by an old instance during a rollout does not turn the
    // next release's session back into this one's for nothing.
    if existing.newer
        && matches!(body, Body::NotEncoded | Body::Same)
        && !control.cycle
        && control.lifetime.is_none()
        && control.browser_session.is_none()
    {
        return Decision::Nothing;
    }
    match body {
        Body::New | Body::Fresh => Decision::Write {
            body: Written::Encoded,
            meta,
        },
        Body::Same if forced(settings, facts) => Decision::Write {
            body: Written::Encoded,
            meta,
        },
        // unchanged: refresh the expiry when enough of the lifetime has
        // passed, and move a session sealed under an old key to the newest
        // one so the old key can be retired
        _ if existing.stale_key || refresh_due => Decision::Write {
            body: Written::Loaded,
            meta,
        },
        _ => Decision::Nothing,
    }
}

/// The times a session is written with: its issue time (new on a new or
/// cycled session, after a revocation it survives), its expiry (the
/// lifetime from now, capped by the absolute timeout), its own lifetime
/// and cookie kind.
pub(crate) fn new_meta(
    settings: &Settings,
    existing: Option<&Meta>,
    control: Control,
    now: u64,
) -> Meta {
    let issued_at = match existing {
        Some(existing) if !control.cycle => existing.issued_at,
        _ => now,
    }
    .max(match control.issued_after {
        0 => 0,
        at => at.saturating_add(1),
    });
    let lifetime = match existing {
        Some(existing) => effective_lifetime(settings, existing, control),
        None => control
            .lifetime
            .unwrap_or(settings.lifetime)
            .min(crate::MAX_LIFETIME),
    };
    // a session issued after a revocation may carry an issue time ahead
    // of the clock: its lifetime counts from then
    let mut expires_at = now.max(issued_at).saturating_add(lifetime.as_secs());
    let limit = settings.absolute_limit(lifetime);
    expires_at = expires_at.min(issued_at.saturating_add(limit.as_secs()));
    let custom = control.lifetime.or_else(|| {
        existing.and_then(|e| (e.lifetime > 0).then(|| Duration::from_secs(e.lifetime.into())))
    });
    Meta {
        issued_at,
        expires_at,
        lifetime: custom.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
        browser_session: control
            .browser_session
            .or_else(|| existing.map(|e| e.browser_session))
            .unwrap_or(settings.browser_session),
    }
}

/// A session's idle lifetime: the one the handler sets now, else its own,
/// else the layer's; never more than [`MAX_LIFETIME`](crate::MAX_LIFETIME).
pub(crate) fn effective_lifetime(settings: &Settings, meta: &Meta, control: Control) -> Duration {
    control
        .lifetime
        .unwrap_or_else(|| {
            if meta.lifetime > 0 {
                Duration::from_secs(meta.lifetime.into())
            } else {
                settings.lifetime
            }
        })
        .min(crate::MAX_LIFETIME)
}

/// Whether a loaded session is past its absolute timeout (counted from
/// its issue time): it is then refused like an expired one.
pub(crate) fn past_absolute(settings: &Settings, meta: &Meta, now: u64) -> bool {
    let limit = settings.absolute_limit(effective_lifetime(settings, meta, Control::default()));
    now >= meta.issued_at.saturating_add(limit.as_secs())
}

/// An opened session (from a cookie of the layer named `name`, or a record
/// at `server`), unless it is past its absolute timeout: then a fresh
/// session that clears the token and retires the record.
pub(crate) fn admit<S: SessionData>(
    settings: &Settings,
    name: &str,
    opened: Opened<S>,
    server: Option<ServerRef>,
    now: u64,
    had_token: bool,
) -> Loaded<S> {
    if past_absolute(settings, &opened.meta, now) {
        tracing::debug!(cookie = %name, "session past its absolute timeout: starting a new one");
        return Loaded::retired(had_token, server.as_ref());
    }
    Loaded::opened(opened, server, had_token)
}

/// Whether writing `meta` changes what the client holds: a new expiry or
/// cookie kind, or a token signed under an older key. A server-side save
/// that changes none of these sends no `Set-Cookie`.
pub(crate) fn token_changes(existing: &Existing, meta: &Meta) -> bool {
    existing.stale_key
        || existing.meta.expires_at != meta.expires_at
        || existing.meta.browser_session != meta.browser_session
}

/// A session saved with another `#[session(user)]` than it was loaded with
/// is a login (or a switch of user): it takes a new identity, a new ID on
/// the server tier and a new issue time in a cookie, against fixation.
pub(crate) fn is_login(
    loaded: bool,
    control: Control,
    user: Option<&str>,
    loaded_user: Option<&str>,
) -> bool {
    loaded && !control.terminated && user != loaded_user
}

/// Whether the response would issue a session of a user with a new issue
/// time: a new session, or a cycled one, that something is written for.
/// Such a session is checked against the user's revocation time first.
pub(crate) fn issues_anew(facts: &Facts<'_>, has_user: bool) -> bool {
    let control = facts.control;
    // a terminated session that was given values again (`restart()`, or
    // `terminate()` then setters) is a new session too
    has_user
        && (!control.terminated || facts.changed)
        && (control.cycle || facts.existing.is_none())
        && (control.cycle || facts.changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AbsoluteTimeout;

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;
    const DAY: u64 = 24 * HOUR;
    /// The default lifetime, 7 days.
    const LIFE: u64 = 7 * DAY;

    fn settings() -> Settings {
        Settings::new("t")
    }

    /// A session issued `age` ago and last sealed `sealed` ago, with the
    /// default lifetime; server-side when `server`.
    fn existing(age: u64, sealed: u64, server: bool) -> Existing {
        Existing {
            meta: Meta {
                issued_at: NOW - age,
                expires_at: NOW - sealed + LIFE,
                lifetime: 0,
                browser_session: false,
            },
            body: vec![1],
            stale_key: false,
            server: server.then(|| super::super::state::ServerRef {
                id: crate::id::SessionId::generate().unwrap(),
                version: 1,
            }),
            newer: false,
        }
    }

    fn facts(existing: Option<&Existing>, control: Control, changed: bool) -> Facts<'_> {
        Facts {
            existing,
            control,
            changed,
            had_token: existing.is_some(),
        }
    }

    fn write(body: Written, issued_at: u64, expires_at: u64) -> Decision {
        Decision::Write {
            body,
            meta: Meta {
                issued_at,
                expires_at,
                lifetime: 0,
                browser_session: false,
            },
        }
    }

    const CYCLE: Control = Control {
        cycle: true,
        terminated: false,
        lifetime: None,
        browser_session: None,
        issued_after: 0,
        fence_seen: None,
    };

    const TERMINATED: Control = Control {
        cycle: false,
        terminated: true,
        ..CYCLE
    };

    #[test]
    fn the_rules_as_a_table() {
        let none = Control::default();
        let fresh_cookie = existing(HOUR, HOUR, false);
        let fresh_server = existing(HOUR, HOUR, true);
        // sealed 2 days ago: past the refresh interval (a quarter: 42 h)
        let due_cookie = existing(2 * DAY, 2 * DAY, false);
        let due_server = existing(2 * DAY, 2 * DAY, true);
        let stale = Existing {
            stale_key: true,
            ..existing(HOUR, HOUR, false)
        };
        // 29 days into the 30-day absolute timeout: a refresh cannot move it
        let capped = existing(29 * DAY, 2 * DAY, false);
        // sealed by the next release, due for a refresh, under an old key
        let newer = Existing {
            newer: true,
            stale_key: true,
            ..existing(2 * DAY, 2 * DAY, true)
        };
        let s = settings();
        #[rustfmt::skip]
        let rows: [(&str, Facts<'_>, Body, Decision); 20] = [
            ("nothing loaded, nothing done", facts(None, none, false), Body::NotEncoded, Decision::Nothing),
            ("a new session with values", facts(None, none, true), Body::New, write(Written::Encoded, NOW, NOW + LIFE)),
            ("a new session left as fresh", facts(None, none, true), Body::Fresh, Decision::Nothing),
            ("terminated with a token", Facts { had_token: true, ..facts(None, TERMINATED, false) }, Body::Fresh, Decision::Remove),
            ("terminated without a token", facts(None, TERMINATED, false), Body::Fresh, Decision::Nothing),
            ("restart(): terminated, then given values", facts(None, TERMINATED, true), Body::New, write(Written::Encoded, NOW, NOW + LIFE)),
            ("read only, not due", facts(Some(&fresh_cookie), none, false), Body::NotEncoded, Decision::Nothing),
            ("read only, refresh due", facts(Some(&due_cookie), none, false), Body::NotEncoded, write(Written::Loaded, NOW - 2 * DAY, NOW + LIFE)),
            ("set to the same value", facts(Some(&fresh_cookie), none, true), Body::Same, Decision::Nothing),
            ("changed in a cookie: a new expiry", facts(Some(&fresh_cookie), none, true), Body::New, write(Written::Encoded, NOW - HOUR, NOW + LIFE)),
            ("changed server-side: the expiry stands", facts(Some(&fresh_server), none, true), Body::New, write(Written::Encoded, NOW - HOUR, NOW - HOUR + LIFE)),
            ("changed server-side, refresh due", facts(Some(&due_server), none, true), Body::New, write(Written::Encoded, NOW - 2 * DAY, NOW + LIFE)),
            ("an old key: re-sealed", facts(Some(&stale), none, false), Body::NotEncoded, write(Written::Loaded, NOW - HOUR, NOW + LIFE)),
            ("cycle_id: a new issue time", facts(Some(&fresh_server), CYCLE, false), Body::Same, write(Written::Encoded, NOW, NOW + LIFE)),
            ("changed back to a fresh session's values", facts(Some(&fresh_cookie), none, true), Body::Fresh, write(Written::Encoded, NOW - HOUR, NOW + LIFE)),
            ("at the absolute cap no refresh is due", facts(Some(&capped), none, false), Body::NotEncoded, Decision::Nothing),
            ("the next release's, read only: left to it", facts(Some(&newer), none, false), Body::NotEncoded, Decision::Nothing),
            ("the next release's, set to the same value", facts(Some(&newer), none, true), Body::Same, Decision::Nothing),
            ("the next release's, changed: written in this shape", facts(Some(&newer), none, true), Body::New, write(Written::Encoded, NOW - 2 * DAY, NOW + LIFE)),
            ("the next release's, cycle_id: written", facts(Some(&newer), CYCLE, false), Body::Same, write(Written::Encoded, NOW, NOW + LIFE)),
        ];
        for (case, facts, body, expected) in rows {
            assert_eq!(decide(&s, &facts, body, NOW), expected, "{case}");
        }
    }

    #[test]
    fn what_must_be_encoded() {
        let s = settings();
        let loaded = existing(HOUR, HOUR, false);
        let none = Control::default();
        assert!(!must_encode(&s, &facts(Some(&loaded), none, false)));
        assert!(must_encode(&s, &facts(Some(&loaded), none, true)));
        assert!(must_encode(&s, &facts(Some(&loaded), CYCLE, false)));
        assert!(must_encode(&s, &facts(None, TERMINATED, false)));
        let lifetime = Control {
            lifetime: Some(Duration::from_secs(HOUR)),
            ..none
        };
        assert!(must_encode(&s, &facts(Some(&loaded), lifetime, false)));
        let always = Settings {
            always_save: true,
            ..settings()
        };
        assert!(must_encode(&always, &facts(Some(&loaded), none, false)));
        assert!(!must_encode(&always, &facts(None, none, false)));
        // always-save writes an unchanged session, with a new expiry
        assert_eq!(
            decide(&always, &facts(Some(&loaded), none, false), Body::Same, NOW),
            write(Written::Encoded, NOW - HOUR, NOW + LIFE)
        );
        // but not one the next release sealed
        let newer = Existing {
            newer: true,
            ..existing(HOUR, HOUR, false)
        };
        assert_eq!(
            decide(&always, &facts(Some(&newer), none, false), Body::Same, NOW),
            Decision::Nothing
        );
    }

    #[test]
    fn times_of_a_write() {
        let s = settings();
        let none = Control::default();
        // a session's own lifetime is kept, and counts from now
        let own = Meta {
            issued_at: NOW - DAY,
            expires_at: NOW,
            lifetime: 3600,
            browser_session: true,
        };
        assert_eq!(
            new_meta(&s, Some(&own), none, NOW),
            Meta {
                expires_at: NOW + HOUR,
                ..own
            }
        );
        // re-issued after a revocation: after it, even ahead of the clock
        let after = Control {
            issued_after: NOW + 10,
            ..none
        };
        let meta = new_meta(&s, None, after, NOW);
        assert_eq!(
            (meta.issued_at, meta.expires_at),
            (NOW + 11, NOW + 11 + LIFE)
        );
        // the absolute timeout caps the expiry; lifted, 400 days do
        let limited = Settings {
            absolute_timeout: AbsoluteTimeout::Limit(Duration::from_secs(2 * DAY)),
            ..settings()
        };
        let old = Meta {
            issued_at: NOW - DAY,
            ..own
        };
        let custom = Control {
            lifetime: Some(Duration::from_secs(LIFE)),
            ..none
        };
        assert_eq!(
            new_meta(&limited, Some(&old), custom, NOW).expires_at,
            NOW + DAY
        );
        let lifted = Settings {
            absolute_timeout: AbsoluteTimeout::Off,
            ..settings()
        };
        let long = Control {
            lifetime: Some(Duration::from_secs(1000 * DAY)),
            ..none
        };
        assert_eq!(
            new_meta(&lifted, None, long, NOW).expires_at,
            NOW + crate::MAX_LIFETIME.as_secs()
        );
        // a browser session stays one, and the layer's default applies to new ones
        let browser = Settings {
            browser_session: true,
            ..settings()
        };
        assert!(new_meta(&browser, None, none, NOW).browser_session);
        assert!(new_meta(&s, Some(&own), none, NOW).browser_session);
    }

    #[test]
    fn absolute_timeout_and_token_changes() {
        let s = settings();
        let meta = |age: u64| Meta {
            issued_at: NOW - age,
            expires_at: NOW + DAY,
            lifetime: 0,
            browser_session: false,
        };
        // the default absolute timeout: 30 days
        assert!(!past_absolute(&s, &meta(30 * DAY - 1), NOW));
        assert!(past_absolute(&s, &meta(30 * DAY), NOW));
        let loaded = existing(HOUR, HOUR, true);
        assert!(!token_changes(&loaded, &loaded.meta));
        let later = Meta {
            expires_at: loaded.meta.expires_at + 1,
            ..loaded.meta
        };
        assert!(token_changes(&loaded, &later));
        let kind = Meta {
            browser_session: true,
            ..loaded.meta
        };
        assert!(token_changes(&loaded, &kind));
        let stale = Existing {
            stale_key: true,
            ..existing(HOUR, HOUR, true)
        };
        assert!(token_changes(&stale, &stale.meta));
    }

    #[test]
    fn logins_and_sessions_issued_anew() {
        let none = Control::default();
        assert!(is_login(true, none, Some("ann"), None));
        assert!(is_login(true, none, Some("bob"), Some("ann")));
        assert!(is_login(true, none, None, Some("ann")));
        assert!(!is_login(true, none, Some("ann"), Some("ann")));
        assert!(!is_login(false, none, Some("ann"), None));
        assert!(!is_login(true, TERMINATED, None, Some("ann")));

        let loaded = existing(HOUR, HOUR, true);
        // a new session with a user, written
        assert!(issues_anew(&facts(None, none, true), true));
        // no user now, or nothing written
        assert!(!issues_anew(&facts(None, none, true), false));
        assert!(!issues_anew(&facts(None, none, false), true));
        // a loaded session changed in place keeps its issue time
        assert!(!issues_anew(&facts(Some(&loaded), none, true), true));
        // cycled, changed or not
        assert!(issues_anew(&facts(Some(&loaded), CYCLE, false), true));
        // terminated: only when given values again
        assert!(!issues_anew(&facts(None, TERMINATED, false), true));
        assert!(issues_anew(&facts(None, TERMINATED, true), true));
    }
}
