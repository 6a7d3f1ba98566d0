//! What one request knows about its session: what came in and was loaded
//! ([`Existing`]), what the handler changed and asked for
//! ([`RequestState`], [`Control`], [`Replay`]), and the typed data with it
//! ([`Loaded`]). Plain data: the rules that read it are in
//! [`lifecycle`](super::lifecycle).

use crate::data::{FieldSet, SessionAccess, SessionData};
use crate::id::SessionId;
use crate::seal::{Meta, Opened};
use std::time::Duration;

/// The session as it was loaded from the request.
#[derive(Debug)]
pub(crate) struct Existing {
    pub(crate) meta: Meta,
    /// The encoded session in the current shape, to tell whether anything
    /// changed.
    pub(crate) body: Vec<u8>,
    /// Sealed under an older key, or in an older shape: re-seal on the
    /// next write, and on an expiry refresh.
    pub(crate) stale_key: bool,
    /// Where a server-side session's record is.
    pub(crate) server: Option<ServerRef>,
    /// Sealed by the next release (`#[session(next = ..)]`): left to it
    /// unless a handler changes it.
    pub(crate) newer: bool,
}

/// A server-side session's ID and the record version it was loaded at.
#[derive(Debug, Clone)]
pub(crate) struct ServerRef {
    pub(crate) id: SessionId,
    pub(crate) version: u64,
}

/// Lifecycle requests made by the handler.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    pub(crate) cycle: bool,
    pub(crate) terminated: bool,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) browser_session: Option<bool>,
    /// Re-issued by a user revocation at this time (Unix seconds; 0: not):
    /// the new issue time is after it, so the revocation does not cover it.
    pub(crate) issued_after: u64,
    /// The user's revocation time read before a session of theirs is
    /// issued anew. A new record is written, then the time is read again:
    /// a revocation that came in meanwhile (its index scan may have run
    /// before the record existed) ends it.
    pub(crate) fence_seen: Option<u64>,
}

/// One recorded `Session::atomically` closure.
pub(crate) type Step<S> = Box<dyn FnMut(&mut <S as SessionData>::Access) + Send>;

/// The read-modify-write closures of a request, replayed in order on fresh
/// data when a save conflicts, and the fields they changed.
pub(crate) struct Replay<S: SessionData> {
    pub(crate) steps: Vec<Step<S>>,
    pub(crate) fields: FieldSet,
}

impl<S: SessionData> Default for Replay<S> {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            fields: FieldSet::new(),
        }
    }
}

impl<S: SessionData> Replay<S> {
    /// Re-applies this request's changes on top of `fresh`, the record a
    /// concurrent request saved: plain-set fields are copied from `ours`
    /// (the later save wins), then the closures run again in order.
    pub(crate) fn rebase(&mut self, fresh: S, ours: &mut S, changed: &FieldSet) -> S {
        let mut merged = fresh;
        let mut plain = FieldSet::new();
        for index in changed.iter() {
            if !self.fields.contains(index) {
                plain.insert(index);
            }
        }
        merged.take_fields(ours, &plain);
        if self.steps.is_empty() {
            return merged;
        }
        let mut access = S::Access::from_data(merged);
        for step in &mut self.steps {
            step(&mut access);
        }
        access.into_parts().0
    }
}

/// Everything a request knows about its session but the data itself: what
/// came in, what was loaded, what the handler changed and asked for. The
/// handler's `Session` holds it while it runs, the slot between handlers.
pub(crate) struct RequestState<S: SessionData> {
    /// Fields changed by handlers that already gave the session back.
    pub(crate) changed: FieldSet,
    pub(crate) existing: Option<Existing>,
    /// A session token came with the request (valid or not): a terminate
    /// must expire it.
    pub(crate) had_token: bool,
    /// A session token came that could not be opened: the response
    /// clears it unless it sets a new one.
    pub(crate) refused_token: bool,
    pub(crate) control: Control,
    /// A server record to delete at the end of the request (terminated).
    pub(crate) retire: Option<SessionId>,
    /// The store failed at load and the outage policy let the handler run:
    /// nothing is written for this request.
    pub(crate) degraded: bool,
    /// `Session::atomically` closures, for a server layer.
    pub(crate) replay: Replay<S>,
    /// The `#[session(user)]` of the session as it was loaded: a session
    /// saved with another user is a login, and takes a new identity.
    pub(crate) loaded_user: Option<String>,
}

impl<S: SessionData> RequestState<S> {
    pub(crate) fn fresh(had_token: bool) -> Self {
        Self {
            changed: FieldSet::new(),
            existing: None,
            had_token,
            refused_token: false,
            control: Control::default(),
            retire: None,
            degraded: false,
            replay: Replay::default(),
            loaded_user: None,
        }
    }

    /// Ends the session this request loaded: a server record is deleted at
    /// the end of the request, and the response expires the token.
    pub(crate) fn end(&mut self) {
        self.changed = FieldSet::new();
        self.replay = Replay::default();
        if let Some(server) = self.existing.take().and_then(|existing| existing.server) {
            self.retire = Some(server.id);
        }
        self.control = Control {
            terminated: true,
            ..Control::default()
        };
    }
}

/// A loaded session, between extractions.
pub(crate) struct Loaded<S: SessionData> {
    pub(crate) data: S,
    /// Boxed: the state (some 300 bytes) moves from the slot to the
    /// handler's `Session` and back, and through the finish; a pointer
    /// moves for the price of one allocation per extracting request.
    pub(crate) state: Box<RequestState<S>>,
}

impl<S: SessionData> Loaded<S> {
    pub(crate) fn fresh(had_token: bool) -> Self {
        Self {
            data: S::default_session(),
            state: Box::new(RequestState::fresh(had_token)),
        }
    }

    /// A fresh session for a request whose token could not be opened (or
    /// was refused): the response clears it unless it sets a new one.
    pub(crate) fn refused(had_token: bool) -> Self {
        let mut fresh = Self::fresh(had_token);
        fresh.state.refused_token = had_token;
        fresh
    }

    /// A refused session whose server record (if any) goes at the end of
    /// the request: timed out or revoked.
    pub(crate) fn retired(had_token: bool, server: Option<&ServerRef>) -> Self {
        let mut fresh = Self::refused(had_token);
        fresh.state.retire = server.map(|server| server.id.clone());
        fresh
    }

    /// An opened session (from a cookie, or a record at `server`) as this
    /// request's. Whether it may be served is the lifecycle's to say
    /// ([`admit`](super::lifecycle::admit)).
    pub(crate) fn opened(opened: Opened<S>, server: Option<ServerRef>, had_token: bool) -> Self {
        Self {
            state: Box::new(RequestState {
                existing: Some(Existing {
                    meta: opened.meta,
                    body: opened.body,
                    stale_key: opened.stale_key,
                    server,
                    newer: opened.shape == crate::seal::SealedShape::Next,
                }),
                loaded_user: if S::HAS_USER {
                    opened.data.user_key()
                } else {
                    None
                },
                ..RequestState::fresh(had_token)
            }),
            data: opened.data,
        }
    }
}
