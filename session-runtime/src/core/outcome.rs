//! What a tier hands back: an [`Outcome`] (a `Set-Cookie` line, a token
//! header value, or a response to replace the handler's), framework
//! neutral; [`Answer`] writes the token in the channel the request used.
//! [`response`](super::response) turns an outcome into headers.

use crate::config::Settings;
use crate::seal::{Meta, Sealer};
use std::future::Future;
use std::pin::Pin;

/// A response the handler's must be replaced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    /// 500 or 503.
    pub(crate) status: u16,
    /// What the client is told: short and generic, never a field, a size
    /// or a store's message.
    pub(crate) body: &'static str,
    /// What went wrong, for the log.
    pub(crate) detail: String,
    /// Send `Retry-After: 1` (outages, contention).
    pub(crate) retry_after: bool,
}

/// What the response carries, framework neutral.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// A `Set-Cookie` line.
    pub(crate) set_cookie: Option<String>,
    /// The token response header's value (empty: the client drops it).
    pub(crate) token: Option<String>,
    /// The handler's response is replaced (rare: boxed, to keep the
    /// common outcome small).
    pub(crate) replace: Option<Box<Replacement>>,
}

/// What the client is told when a store fails or times out.
pub(crate) const STORE_UNAVAILABLE: &str =
    "the session store is unavailable; nothing was changed, please retry";

impl Outcome {
    pub(crate) fn nothing() -> Self {
        Self::default()
    }

    fn replace(status: u16, body: &'static str, detail: String, retry_after: bool) -> Self {
        Self {
            replace: Some(Box::new(Replacement {
                status,
                body,
                detail,
                retry_after,
            })),
            ..Self::default()
        }
    }

    /// The session could not be saved (500); `detail` goes to the log only.
    pub(crate) fn failed(detail: String) -> Self {
        Self::replace(500, "the session could not be saved", detail, false)
    }

    /// The store is unreachable, or too many concurrent writers (503 with
    /// `Retry-After`): `body` says what the client should know.
    pub(crate) fn unavailable(body: &'static str) -> Self {
        Self::replace(503, body, body.to_owned(), true)
    }

    /// Whether the response sets or clears the session token.
    pub(crate) fn sets_token(&self) -> bool {
        self.set_cookie.is_some() || self.token.is_some()
    }
}

/// What the lifecycle decision asks a tier to do (made by
/// [`Slot`](super::Slot), carried out by the cookie or the server tier).
#[derive(Debug)]
pub(crate) enum Plan {
    /// Store the session encoded as `body` with these times.
    Write { body: Vec<u8>, meta: Meta },
    /// Nothing to store: the response carries this (nothing, the token's
    /// removal, or a failure).
    Done(Outcome),
}

/// The outcome now, or after the store answers.
pub(crate) enum Finish {
    Ready(Outcome),
    Pending(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

impl Finish {
    /// The outcome, waiting for the store when it must.
    pub(crate) async fn outcome(self) -> Outcome {
        match self {
            Self::Ready(outcome) => outcome,
            Self::Pending(saving) => saving.await,
        }
    }
}

/// How one request's response carries a token: the layer's cookie (name
/// and attributes) or its token header, whichever the request's token
/// came in. Never both: a token in a response header is readable by
/// scripts and logged by proxies, which a cookie client's `HttpOnly`
/// rules out.
#[derive(Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) name: &'a str,
    attributes: &'a str,
    settings: &'a Settings,
    /// Answer in the token header (the token came in it, or a header
    /// client without one sent it empty to ask).
    header: bool,
}

impl<'a> Answer<'a> {
    pub(crate) fn new(
        settings: &'a Settings,
        name: &'a str,
        attributes: &'a str,
        from_header: bool,
    ) -> Self {
        Self {
            name,
            attributes,
            settings,
            header: from_header && settings.token_header.is_some(),
        }
    }

    /// A sealed session as the token, base64-encoded where it goes;
    /// `None` when the cookie would be over the browsers' 4096 bytes.
    pub(crate) fn sealed(
        &self,
        sealer: &Sealer,
        sealed: &[u8],
        meta: &Meta,
        now: u64,
    ) -> Option<Outcome> {
        let value_len = crate::seal::envelope::base64_len(sealed.len());
        if self.name.len() + 1 + value_len > crate::seal::envelope::COOKIE_LIMIT {
            return None;
        }
        Some(self.token_with(value_len, meta, now, |out| {
            sealer.encode_into(sealed, out);
        }))
    }

    /// The token `value` (a signed ID), living as long as `meta` says.
    pub(crate) fn token(&self, value: &str, meta: &Meta, now: u64) -> Outcome {
        self.token_with(value.len(), meta, now, |out| out.push_str(value))
    }

    /// A token of `value_len` characters that `write_value` appends.
    fn token_with(
        &self,
        value_len: usize,
        meta: &Meta,
        now: u64,
        write_value: impl Fn(&mut String),
    ) -> Outcome {
        let max_age = (!meta.browser_session).then(|| meta.expires_at.saturating_sub(now));
        if self.header {
            let mut value = String::with_capacity(value_len);
            write_value(&mut value);
            return Outcome {
                token: Some(value),
                ..Outcome::default()
            };
        }
        Outcome {
            set_cookie: Some(super::token::set_cookie_with(
                self.name,
                value_len,
                self.attributes,
                max_age,
                &write_value,
            )),
            ..Outcome::default()
        }
    }

    /// Ends the client's token: the cookie expired with the same name,
    /// path and domain, or the token header sent empty.
    pub(crate) fn removal(&self) -> Outcome {
        if self.header {
            return Outcome {
                token: Some(String::new()),
                ..Outcome::default()
            };
        }
        Outcome {
            set_cookie: Some(super::token::removal(self.settings, self.name)),
            ..Outcome::default()
        }
    }

    /// A token that came but could not be opened is cleared, unless the
    /// response sets a new one: left in the browser, it would be sent (and
    /// refused) on every request.
    pub(crate) fn clear_refused(&self, refused: bool, outcome: Outcome) -> Outcome {
        if refused && !outcome.sets_token() && outcome.replace.is_none() {
            return self.removal();
        }
        outcome
    }
}
