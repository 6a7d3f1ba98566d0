//! Metrics through the [`metrics`] facade (no exporter forced on
//! applications: install any recorder, e.g. `metrics-exporter-prometheus`).
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `sessionkit_sessions_loaded_total` | counter | `session` | an existing session opened (cookie or store) |
//! | `sessionkit_sessions_created_total` | counter | `session` | a new server-side session stored |
//! | `sessionkit_sessions_saved_total` | counter | `session`, `tier` (`cookie`, `store`, `quick`) | a session written |
//! | `sessionkit_sessions_unchanged_total` | counter | `session` | an existing session read and not written (a write avoided) |
//! | `sessionkit_save_conflicts_total` | counter | `session` | a compare-and-set save met a concurrent write |
//! | `sessionkit_save_merges_total` | counter | `session` | this request's changes re-applied on the fresh record |
//! | `sessionkit_save_replays_total` | counter | `session` | `atomically` closures replayed |
//! | `sessionkit_store_outages_total` | counter | `session`, `store`, `operation` | a store call failed or timed out |
//! | `sessionkit_refused_total` | counter | `session`, `reason` (`tampered`, `expired`, `wrong_key`, `old_shape`, `other_codec`, `malformed`, `undecodable`, `unknown_id`) | a token that opened nothing |
//! | `sessionkit_store_seconds` | histogram | `store`, `operation` | store call latency |
//!
//! `session` is the cookie name, never an ID.

use crate::id::IdError;
use crate::seal::OpenError;
use metrics::{SharedString, counter, histogram};
use std::time::Duration;

pub(crate) fn loaded(session: &SharedString) {
    counter!("sessionkit_sessions_loaded_total", "session" => session.clone()).increment(1);
}

pub(crate) fn created(session: &SharedString) {
    counter!("sessionkit_sessions_created_total", "session" => session.clone()).increment(1);
}

pub(crate) fn saved(session: &SharedString, tier: &'static str) {
    counter!("sessionkit_sessions_saved_total", "session" => session.clone(), "tier" => tier)
        .increment(1);
}

pub(crate) fn unchanged(session: &SharedString) {
    counter!("sessionkit_sessions_unchanged_total", "session" => session.clone()).increment(1);
}

pub(crate) fn conflict(session: &SharedString) {
    counter!("sessionkit_save_conflicts_total", "session" => session.clone()).increment(1);
}

pub(crate) fn merged(session: &SharedString, replayed: usize) {
    counter!("sessionkit_save_merges_total", "session" => session.clone()).increment(1);
    if replayed > 0 {
        counter!("sessionkit_save_replays_total", "session" => session.clone())
            .increment(replayed as u64);
    }
}

pub(crate) fn outage(session: &SharedString, store: &'static str, operation: &'static str) {
    counter!(
        "sessionkit_store_outages_total",
        "session" => session.clone(),
        "store" => store,
        "operation" => operation
    )
    .increment(1);
}

pub(crate) fn store_call(store: &'static str, operation: &'static str, took: Duration) {
    histogram!("sessionkit_store_seconds", "store" => store, "operation" => operation)
        .record(took.as_secs_f64());
}

pub(crate) fn refused(session: &SharedString, reason: &'static str) {
    counter!("sessionkit_refused_total", "session" => session.clone(), "reason" => reason)
        .increment(1);
}

/// The `reason` label of a sealed value that did not open.
pub(crate) fn open_reason(err: &OpenError) -> &'static str {
    match err {
        OpenError::Forged => "tampered",
        OpenError::Expired(_) => "expired",
        OpenError::UnknownKey(_) => "wrong_key",
        OpenError::SchemaChanged { .. } => "old_shape",
        OpenError::Codec { .. } => "other_codec",
        OpenError::Decode(_) => "undecodable",
        _ => "malformed",
    }
}

/// The `reason` label of a signed ID that did not verify.
pub(crate) fn id_reason(err: &IdError) -> &'static str {
    match err {
        IdError::UnknownKey(_) => "wrong_key",
        IdError::Forged => "tampered",
        _ => "malformed",
    }
}
