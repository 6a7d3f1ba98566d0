//! The cookie tier: the whole session sealed into the token. Loading opens
//! the token (no I/O); a write seals the session into a new token, or
//! fails the request when it would not fit in the browsers' 4096 bytes
//! (only a hand-written `MaxEncodedLen` that understates gets there).

use super::outcome::{Answer, Outcome, Plan};
use super::state::Loaded;
use super::token::Incoming;
use super::{Core, lifecycle};
use crate::config::unix_secs;
use crate::data::SessionData;
use crate::seal::{Meta, OpenError};

/// The session a request's token holds: the first of the candidates that
/// opens (several only when the cookie came more than once), else a
/// fresh session that clears the token.
pub(crate) fn load<S: SessionData>(core: &Core<S>, incoming: &Incoming) -> Loaded<S> {
    let mut refused = None;
    for raw in incoming.candidates() {
        match open(core, raw.bytes(), incoming.had_token()) {
            Ok(loaded) => return loaded,
            Err(reason) => refused = Some(reason),
        }
    }
    if let Some(reason) = refused {
        refuse(core, &reason);
    }
    Loaded::refused(incoming.had_token())
}

/// One sealed token value, opened.
pub(crate) fn open<S: SessionData>(
    core: &Core<S>,
    value: &[u8],
    had_token: bool,
) -> Result<Loaded<S>, OpenError> {
    let now = unix_secs(&*core.settings.clock);
    let opened = core
        .codec
        .open_value(&core.sealer, &core.cookie_name, value, now)?;
    core.metrics.loaded();
    let name = &core.cookie_name;
    Ok(lifecycle::admit(
        &core.settings,
        name,
        opened,
        None,
        now,
        had_token,
    ))
}

/// Counts and logs a sealed token that did not open.
pub(crate) fn refuse<S: SessionData>(core: &Core<S>, reason: &OpenError) {
    core.metrics.refused(crate::telemetry::open_reason(reason));
    tracing::debug!(cookie = %core.cookie_name, %reason, "session token refused: starting a new session");
}

/// Carries out `plan` in the token: a write is the session sealed.
pub(crate) fn carry_out<S: SessionData>(
    core: &Core<S>,
    answer: Answer<'_>,
    plan: Plan,
    refused: bool,
    now: u64,
) -> Outcome {
    let outcome = match plan {
        Plan::Write { body, meta } => {
            core.metrics.saved(crate::telemetry::Tier::Cookie);
            write(core, answer, &body, &meta, now)
        }
        Plan::Done(outcome) => outcome,
    };
    answer.clear_refused(refused, outcome)
}

/// The session encoded as `body` sealed into the token.
fn write<S: SessionData>(
    core: &Core<S>,
    answer: Answer<'_>,
    body: &[u8],
    meta: &Meta,
    now: u64,
) -> Outcome {
    match seal(core, answer, body, meta, now) {
        Some(outcome) => outcome,
        None => {
            tracing::error!(cookie = %core.cookie_name, len = body.len(), "sealed session exceeds 4096 bytes: not saved");
            Outcome::failed("the session is too large for its cookie".to_owned())
        }
    }
}

/// The session encoded as `body` sealed into a token; `None` when it is
/// over the cookie limit.
pub(crate) fn seal<S: SessionData>(
    core: &Core<S>,
    answer: Answer<'_>,
    body: &[u8],
    meta: &Meta,
    now: u64,
) -> Option<Outcome> {
    let sealed = core
        .codec
        .seal_value(&core.sealer, &core.cookie_name, meta, body);
    answer.sealed(&core.sealer, &sealed, meta, now)
}
