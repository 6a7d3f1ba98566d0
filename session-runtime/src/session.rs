//! `Session<S>`: the handle a handler works with.

use crate::core::{Loaded, RequestState, Slot, TakeError};
use crate::data::{SessionAccess, SessionData};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The slot a session layer puts in each request's extensions; handlers
/// take [`Session<S>`](struct@Session) from it.
pub(crate) struct SessionSlot<S: SessionData>(pub(crate) Arc<Slot<S>>);

impl<S: SessionData> Clone for SessionSlot<S> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S: SessionData> std::fmt::Debug for SessionSlot<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSlot").finish_non_exhaustive()
    }
}

/// The session could not be handed to the handler.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionRejection {
    /// No `SessionLayer<S>` ran for this request.
    #[error(
        "no session layer for this session type: is `SessionLayer<{0}>` installed on this route?"
    )]
    MissingLayer(&'static str),
    /// Another extractor of this request still holds the session.
    #[error(
        "the session `{0}` is already extracted in this request: extract it once, or drop the first handle before taking another"
    )]
    AlreadyExtracted(&'static str),
    /// A layer with a store needs an async load: `Session::load(..).await`
    /// (the axum extractor does that).
    #[error("the session `{0}` lives server-side: load it with `Session::load(&request).await`")]
    NeedsAsyncLoad(&'static str),
    /// The session store failed and the layer's outage policy is
    /// [`OutagePolicy::Unavailable`](crate::OutagePolicy::Unavailable).
    #[error("the session store is unavailable; please retry")]
    StoreUnavailable,
}

impl SessionRejection {
    /// 503 for a store outage; 500 for the others, which are programming
    /// errors, not client errors.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::StoreUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short text a client is shown: the rejection's detail (type
    /// names, what to fix) is for the log, not for the client.
    #[must_use]
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::StoreUnavailable => "the session store is unavailable; please retry",
            _ => "internal server error",
        }
    }

    fn from_take(err: TakeError, type_name: &'static str) -> Self {
        match err {
            TakeError::AlreadyTaken => Self::AlreadyExtracted(type_name),
            TakeError::NeedsAsync => Self::NeedsAsyncLoad(type_name),
            TakeError::Unavailable => Self::StoreUnavailable,
        }
    }
}

/// A typed session for one request.
///
/// Derefs to the generated accessor type (`CartAccess` for `Cart`): call
/// `cart.items()`, `cart.set_user_id(..)`, `cart.items_mut()` directly.
/// Lifecycle operations are inherent methods here. The session goes back to
/// the layer when the handle is dropped; the layer writes at most one
/// `Set-Cookie`, after the handler, and only if the encoded session changed.
///
/// With the `axum` feature it is an extractor (and `Option<Session<S>>` is
/// one that yields `None` when the request carries no valid session). From
/// other Tower services (hyper, tonic), use [`Session::load`] (or
/// [`Session::from_request`] for cookie sessions) on the request.
pub struct Session<S: SessionData> {
    access: Option<S::Access>,
    /// Everything but the data; fields changed by earlier handlers of the
    /// request are in `state.changed`.
    state: Option<Box<RequestState<S>>>,
    slot: Arc<Slot<S>>,
}

/// What a session is taken from: a request, or its parts ([`http::request::Parts`],
/// what axum's extractors and `Request::into_parts` give). The layer's slot
/// is in its extensions, the token in its headers: the token is looked for
/// at the first extraction, so a route that never takes the session costs
/// no header scan.
pub trait RequestHead: sealed::Sealed {
    /// The request's headers.
    fn headers(&self) -> &http::HeaderMap;
    /// The request's extensions.
    fn extensions(&self) -> &http::Extensions;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for http::request::Parts {}
    impl<B> Sealed for http::Request<B> {}
}

impl RequestHead for http::request::Parts {
    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }
    fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }
}

impl<B> RequestHead for http::Request<B> {
    fn headers(&self) -> &http::HeaderMap {
        self.headers()
    }
    fn extensions(&self) -> &http::Extensions {
        self.extensions()
    }
}

impl<S: SessionData + Send> Session<S> {
    /// The layer's slot for `S` in a request, with its token looked for.
    fn slot_of(request: &impl RequestHead) -> Result<Arc<Slot<S>>, SessionRejection> {
        let slot = request
            .extensions()
            .get::<SessionSlot<S>>()
            .ok_or(SessionRejection::MissingLayer(std::any::type_name::<S>()))?;
        let slot = Arc::clone(&slot.0);
        slot.look_up(|| slot.core.find_token(request.headers()));
        Ok(slot)
    }

    /// Takes the session out of a request (or its parts), decoding the
    /// cookie on first use: for layers whose sessions live in the cookie,
    /// from Tower services other than axum (hyper, tonic). A layer with a
    /// store (or user revocation) needs [`load`](Self::load).
    ///
    /// # Errors
    ///
    /// [`SessionRejection::MissingLayer`] without a layer for `S`,
    /// [`SessionRejection::AlreadyExtracted`] while another handle is alive,
    /// [`SessionRejection::NeedsAsyncLoad`] when a store must be asked.
    pub fn from_request(request: &impl RequestHead) -> Result<Self, SessionRejection> {
        let slot = Self::slot_of(request)?;
        let loaded = slot
            .take()
            .map_err(|err| SessionRejection::from_take(err, std::any::type_name::<S>()))?;
        Ok(Self::from_loaded(loaded, slot))
    }

    /// Takes the session out of a slot whose token was looked for, loading
    /// it from the store if need be: what every framework's extractor does.
    pub(crate) async fn load_from(slot: Arc<Slot<S>>) -> Result<Self, SessionRejection> {
        let loaded = slot
            .take_async()
            .await
            .map_err(|err| SessionRejection::from_take(err, std::any::type_name::<S>()))?;
        Ok(Self::from_loaded(loaded, slot))
    }

    /// Takes the session out of a request (or its parts), loading it on
    /// first use: from the cookie, or from the store for a layer built with
    /// [`SessionLayer::with_store`](crate::SessionLayer::with_store).
    ///
    /// # Errors
    ///
    /// As [`from_request`](Self::from_request), and
    /// [`SessionRejection::StoreUnavailable`] when the store fails under
    /// the default outage policy.
    pub fn load(
        request: &impl RequestHead,
    ) -> impl Future<Output = Result<Self, SessionRejection>> + Send + 'static {
        let slot = Self::slot_of(request);
        async move { Self::load_from(slot?).await }
    }

    /// As [`load`](Self::load), but `None` when the request carries no
    /// valid session.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn load_existing(
        request: &impl RequestHead,
    ) -> impl Future<Output = Result<Option<Self>, SessionRejection>> + Send + 'static {
        let session = Self::load(request);
        async move {
            let session = session.await?;
            Ok((!session.is_new()).then_some(session))
        }
    }

    /// As [`from_request`](Self::from_request), but `None` when the
    /// request carries no valid session.
    ///
    /// # Errors
    ///
    /// As [`from_request`](Self::from_request).
    pub fn existing_from_request(
        request: &impl RequestHead,
    ) -> Result<Option<Self>, SessionRejection> {
        let session = Self::from_request(request)?;
        Ok((!session.is_new()).then_some(session))
    }
}

impl<S: SessionData> Session<S> {
    fn from_loaded(loaded: Loaded<S>, slot: Arc<Slot<S>>) -> Self {
        Self {
            access: Some(S::Access::from_data(loaded.data)),
            state: Some(loaded.state),
            slot,
        }
    }

    fn state(&mut self) -> &mut RequestState<S> {
        // only `Drop` takes it
        self.state
            .get_or_insert_with(|| Box::new(RequestState::fresh(false)))
    }

    /// Runs a read-modify-write on the session that composes with
    /// concurrent requests: `change` runs now on the loaded data, and for a
    /// server-side session it is recorded and run again, in order with the
    /// request's other `atomically` calls, on the freshly loaded data each
    /// time a save meets a concurrent write. Increments, pushes and other
    /// changes that depend on the current value are therefore never lost:
    ///
    /// ```
    /// use session_runtime::Session;
    ///
    /// #[derive(Session, Default)]
    /// struct Stats {
    ///     hits: u64,
    /// }
    ///
    /// fn count(stats: &mut Session<Stats>) {
    ///     // 32 concurrent requests: the counter ends at 32
    ///     stats.atomically(|s| *s.hits_mut() += 1);
    /// }
    /// # let _ = count;
    /// ```
    ///
    /// Plain setters keep their rule: on a conflict the fields they set are
    /// copied onto the fresh data (the later save wins), before the
    /// closures run again. A field changed inside `atomically` is always
    /// recomputed by the closures from the fresh value, so keep every
    /// change of such a field inside the closure. For a cookie session the
    /// closure simply runs once.
    pub fn atomically(&mut self, mut change: impl FnMut(&mut S::Access) + Send + 'static) {
        let server = self.slot.is_server();
        let Some(access) = self.access.take() else {
            return;
        };
        // run it on a fresh change set, to know which fields it touches
        let (data, changed_before) = access.into_parts();
        let mut scratch = S::Access::from_data(data);
        change(&mut scratch);
        let (data, changed_by_step) = scratch.into_parts();
        let state = self.state();
        state.changed.union_with(&changed_before);
        state.changed.union_with(&changed_by_step);
        if server {
            state.replay.fields.union_with(&changed_by_step);
            state.replay.steps.push(Box::new(change));
        }
        self.access = Some(S::Access::from_data(data));
    }

    /// Whether this request started a new session (no valid cookie came in,
    /// or it was terminated).
    #[must_use]
    pub fn is_new(&self) -> bool {
        self.state
            .as_ref()
            .is_none_or(|state| state.existing.is_none())
    }

    /// When the session was created, for an existing session.
    #[must_use]
    pub fn issued_at(&self) -> Option<SystemTime> {
        let state = self.state.as_ref()?;
        let meta = &state.existing.as_ref()?.meta;
        Some(UNIX_EPOCH + Duration::from_secs(meta.issued_at))
    }

    /// When the loaded session would expire without further activity.
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        let state = self.state.as_ref()?;
        let meta = &state.existing.as_ref()?.meta;
        Some(UNIX_EPOCH + Duration::from_secs(meta.expires_at))
    }

    /// Starts a new session identity with the same data: call it when the
    /// user logs in or changes privilege, against session fixation. For a
    /// cookie session the value is re-sealed with a new issue time (and the
    /// absolute timeout counts from now); for a server session the ID is
    /// replaced and the old record deleted.
    pub fn cycle_id(&mut self) {
        self.state().control.cycle = true;
    }

    /// Ends the session: the data is reset to its default, a server-side
    /// record is deleted, and the response expires the cookie (same name,
    /// path and domain). Values set after this call start a new session,
    /// with a new ID.
    pub fn terminate(&mut self) {
        drop(self.restart());
    }

    /// Ends the session as [`terminate`](Self::terminate) does and returns
    /// its data: what the handler sets next starts a fresh session, with a
    /// new ID and issue time. This is the login call when the user may
    /// change: nothing of the previous user's session survives unless the
    /// handler copies it over, as an anonymous cart may be.
    ///
    /// ```
    /// # use session_runtime::{Session, BoundedVec};
    /// #[derive(Session, Default)]
    /// struct Shop {
    ///     #[session(user)]
    ///     user: Option<u64>,
    ///     cart: BoundedVec<u32, 8>,
    ///     admin: bool,
    /// }
    ///
    /// fn log_in(session: &mut Session<Shop>, user: u64) {
    ///     let before = session.restart();
    ///     session.set_user(Some(user));
    ///     if before.user.is_none() {
    ///         // an anonymous cart carries over; another user's never does
    ///         session.set_cart(before.cart);
    ///     }
    /// }
    /// ```
    ///
    /// Setting the `#[session(user)]` field alone also gives the session a
    /// new identity (as [`cycle_id`](Self::cycle_id)), but keeps every other
    /// field.
    pub fn restart(&mut self) -> S {
        let before = self
            .access
            .replace(S::Access::from_data(S::default_session()))
            .map(|access| access.into_parts().0);
        self.state().end();
        before.unwrap_or_else(S::default_session)
    }

    /// Gives this session its own lifetime (idle timeout) from now on,
    /// instead of the layer's, and a cookie that lives that long: after
    /// [`browser_session`](Self::browser_session) (or on a layer with
    /// `with_browser_session(true)`), this is the "remember me" upgrade
    /// that brings `Max-Age` back.
    ///
    /// The lifetime is kept between 1 second and
    /// [`MAX_LIFETIME`](crate::MAX_LIFETIME) (400 days): a longer "remember
    /// me" would outlive the browser's cookie and the revocations kept
    /// against it.
    pub fn set_lifetime(&mut self, lifetime: Duration) {
        let control = &mut self.state().control;
        control.lifetime = Some(lifetime.clamp(Duration::from_secs(1), crate::MAX_LIFETIME));
        control.browser_session = Some(false);
    }

    /// Sends the cookie without `Max-Age`, so the browser drops it when it
    /// closes. The sealed expiry still applies. The later of this and
    /// [`set_lifetime`](Self::set_lifetime) in a request wins.
    pub fn browser_session(&mut self) {
        self.state().control.browser_session = Some(true);
    }
}

/// Log out everywhere (see [`crate::user`]): the sessions of this session's
/// user, the one marked `#[session(user)]`. The futures borrow nothing from
/// the session, so a handler can await them while holding it.
impl<S: SessionData + Send> Session<S> {
    /// The current user's sessions of this session type (this layer's
    /// cookie name; another type sharing the store keeps its own), most
    /// recently changed first, for a "your devices" page: log tags and
    /// times, never IDs. Empty while no user is logged in.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported) for a
    /// cookie layer or a store without a user index; a store failure.
    pub fn user_sessions(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::Device>, crate::StoreError>> + Send + 'static {
        let user = (**self).user_key();
        let current = self.current_key();
        let slot = Arc::clone(&self.slot);
        async move {
            let Some(user) = user else {
                return Ok(Vec::new());
            };
            let sessions = slot.core.user_sessions(&user).await?;
            let keys = slot.core.sealer.keys();
            Ok(sessions
                .into_iter()
                .map(|session| crate::Device {
                    tag: session.key.log_tag(keys),
                    created_at: session.created_at,
                    updated_at: session.updated_at,
                    expires_at: session.expires_at,
                    current: Some(session.key) == current,
                })
                .collect())
        }
    }

    /// Logs the current user out everywhere. Server-side sessions of the
    /// user of this session type (another type sharing the store keeps
    /// its own) are deleted in batches of
    /// [`REVOKE_BATCH`](crate::user::REVOKE_BATCH); with
    /// [`with_user_revocation`](crate::SessionLayer::with_user_revocation)
    /// the user's revocation time is also raised to now, so their sessions
    /// issued up to this second, in cookies too, are refused from their
    /// next request. With `keep_this_one` (a password change) this session
    /// survives: it gets a new identity ([`cycle_id`](Self::cycle_id)) and
    /// is issued after the revocation — unless another revocation of the
    /// user (another device's log out everywhere, `sessionkit revoke`)
    /// already covered it or comes before the response: then it ends too,
    /// so a stolen session cannot keep itself alive by calling this;
    /// otherwise it is terminated too (the response expires its cookie).
    /// Returns how many other server-side sessions were deleted (cookie
    /// sessions are not counted: they are refused when they come back).
    /// Nothing happens while no user is logged in.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported), with
    /// nothing revoked and this session left as it is, for a layer whose
    /// sessions may live in a cookie (a cookie layer, or an `Adaptive`
    /// type's) without
    /// [`with_user_revocation`](crate::SessionLayer::with_user_revocation),
    /// or a store without a user index and no revocation store; a store
    /// failure.
    pub fn revoke_user_sessions(
        &mut self,
        keep_this_one: bool,
    ) -> impl Future<Output = Result<usize, crate::StoreError>> + Send + 'static {
        let user = (**self).user_key();
        let current = self.current_key();
        let revocation = self.slot.core.revocation.clone();
        // sessions that live in a cookie end only through revocation times:
        // without them, success would be reported for sessions that still
        // open, so nothing is done and the error says how to configure it
        let in_cookies = self
            .slot
            .core
            .server
            .as_ref()
            .is_none_or(|tier| tier.storage == crate::Storage::Adaptive);
        let refused = (in_cookies && revocation.is_none()).then_some(crate::StoreError::Unsupported {
            store: "cookie",
            what: "revoking sessions held in cookies without revocation times: build the layer with `SessionLayer::with_user_revocation(store)`",
        });
        let now = crate::config::unix_secs(&*self.slot.core.settings.clock);
        let issued_at = self.state.as_ref().and_then(|state| {
            state
                .existing
                .as_ref()
                .map(|existing| existing.meta.issued_at)
        });
        if user.is_some() && refused.is_none() {
            if keep_this_one {
                // a new identity: a copy of this session's cookie (or ID) is
                // one of the "other devices" too; with revocation times it
                // is also re-issued after the revocation below
                self.cycle_id();
            } else {
                self.terminate();
            }
        }
        // a Server type without per-request checks still raises the time in
        // its own store first: a session being issued anew meanwhile reads
        // it after its write and ends (the index scan below may miss it)
        let fence = match &revocation {
            Some(_) => None,
            None => self.slot.core.revocation_times(),
        };
        let slot = Arc::clone(&self.slot);
        async move {
            let Some(user) = user else {
                return Ok(0);
            };
            if let Some(refused) = refused {
                return Err(refused);
            }
            if let Some(revocation) = &revocation {
                let revoked = revocation.revoke(&user, now).await?;
                if keep_this_one {
                    slot.keep_after(revoked, issued_at);
                }
            }
            if let Some(fence) = &fence {
                match fence.revoke(&slot.core.revocation_key(&user), now).await {
                    Ok(revoked) if keep_this_one => slot.keep_after(revoked, issued_at),
                    Ok(_) | Err(crate::StoreError::Unsupported { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            let mut revoked = 0;
            loop {
                let batch = match slot
                    .core
                    .revoke_user(&user, current.as_ref(), crate::user::REVOKE_BATCH)
                    .await
                {
                    Ok(batch) => batch,
                    // the revocation time covers what an index cannot
                    Err(crate::StoreError::Unsupported { .. }) if revocation.is_some() => 0,
                    Err(err) => return Err(err),
                };
                revoked += batch;
                if batch < crate::user::REVOKE_BATCH {
                    break;
                }
            }
            Ok(revoked)
        }
    }

    /// Ends one of the current user's sessions, named by the tag
    /// [`user_sessions`](Self::user_sessions) listed ("log out that
    /// device"); `false` when no session of the user has that tag. Ending
    /// this request's own session this way deletes it from the store; call
    /// [`terminate`](Self::terminate) to also expire this response's
    /// cookie.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions).
    pub fn revoke_device(
        &self,
        tag: &str,
    ) -> impl Future<Output = Result<bool, crate::StoreError>> + Send + 'static {
        let user = (**self).user_key();
        let tag = tag.to_owned();
        let slot = Arc::clone(&self.slot);
        async move {
            let Some(user) = user else {
                return Ok(false);
            };
            let sessions = slot.core.user_sessions(&user).await?;
            let keys = slot.core.sealer.keys();
            let Some(session) = sessions.iter().find(|s| s.key.log_tag(keys) == tag) else {
                return Ok(false);
            };
            slot.core.delete_session(&session.key).await
        }
    }

    /// The store key of the session this request loaded, if server-side.
    fn current_key(&self) -> Option<crate::id::StoreKey> {
        let state = self.state.as_ref()?;
        let server = state.existing.as_ref()?.server.as_ref()?;
        Some(server.id.store_key())
    }
}

impl<S: SessionData> Deref for Session<S> {
    type Target = S::Access;
    fn deref(&self) -> &S::Access {
        match &self.access {
            Some(access) => access,
            None => unreachable!("the accessor is only taken in Drop"),
        }
    }
}

impl<S: SessionData> DerefMut for Session<S> {
    fn deref_mut(&mut self) -> &mut S::Access {
        match &mut self.access {
            Some(access) => access,
            None => unreachable!("the accessor is only taken in Drop"),
        }
    }
}

impl<S: SessionData> Drop for Session<S> {
    fn drop(&mut self) {
        let (Some(access), Some(mut state)) = (self.access.take(), self.state.take()) else {
            return;
        };
        let (data, changed_now) = access.into_parts();
        state.changed.union_with(&changed_now);
        self.slot.put(Loaded { data, state });
    }
}

impl<S: SessionData> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("type", &std::any::type_name::<S>())
            .field("new", &self.is_new())
            .finish_non_exhaustive()
    }
}
