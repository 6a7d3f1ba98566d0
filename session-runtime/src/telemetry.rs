//! Metrics through the [`metrics`] facade (no exporter forced on
//! applications: install any recorder, e.g. `metrics-exporter-prometheus`).
//!
//! The metrics and their labels are listed once, in the crate docs
//! ("Metrics and tracing"); a test here keeps that table in step with the
//! reasons the code reports.
//!
//! `session` is the cookie name, never an ID.

use crate::id::IdError;
use crate::seal::OpenError;
use metrics::{Key, Label, Level, Metadata, SharedString, counter, histogram};
use std::time::Duration;

/// What the `counter!` macro would pass for a metric of this module.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One layer's metric keys, built when the layer is configured: a counter
/// on the request path is one recorder lookup and one increment, with no
/// key (and label list) allocated per call. The recorder is looked up at
/// each call, so one installed after the layer was built still counts.
#[derive(Clone, Debug)]
pub(crate) struct SessionMetrics {
    /// The `session` label (the cookie name), for the rarer metrics
    /// whose other labels vary per call.
    label: SharedString,
    loaded: Key,
    created: Key,
    saved_cookie: Key,
    saved_store: Key,
    saved_quick: Key,
    unchanged: Key,
    conflicts: Key,
    merges: Key,
    replays: Key,
}

impl SessionMetrics {
    pub(crate) fn new(session: &str) -> Self {
        let label = SharedString::from_shared(std::sync::Arc::from(session));
        let key =
            |name: &'static str| Key::from_parts(name, vec![Label::new("session", label.clone())]);
        let saved = |tier: &'static str| {
            Key::from_parts(
                "sessionkit_sessions_saved_total",
                vec![
                    Label::new("session", label.clone()),
                    Label::new("tier", tier),
                ],
            )
        };
        Self {
            loaded: key("sessionkit_sessions_loaded_total"),
            created: key("sessionkit_sessions_created_total"),
            saved_cookie: saved("cookie"),
            saved_store: saved("store"),
            saved_quick: saved("quick"),
            unchanged: key("sessionkit_sessions_unchanged_total"),
            conflicts: key("sessionkit_save_conflicts_total"),
            merges: key("sessionkit_save_merges_total"),
            replays: key("sessionkit_save_replays_total"),
            label,
        }
    }

    fn increment(key: &Key, by: u64) {
        metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA)).increment(by);
    }

    pub(crate) fn loaded(&self) {
        Self::increment(&self.loaded, 1);
    }

    pub(crate) fn created(&self) {
        Self::increment(&self.created, 1);
    }

    pub(crate) fn saved(&self, tier: Tier) {
        let key = match tier {
            Tier::Cookie => &self.saved_cookie,
            Tier::Store => &self.saved_store,
            Tier::Quick => &self.saved_quick,
        };
        Self::increment(key, 1);
    }

    pub(crate) fn unchanged(&self) {
        Self::increment(&self.unchanged, 1);
    }

    pub(crate) fn conflict(&self) {
        Self::increment(&self.conflicts, 1);
    }

    pub(crate) fn merged(&self, replayed: usize) {
        Self::increment(&self.merges, 1);
        if replayed > 0 {
            Self::increment(&self.replays, replayed as u64);
        }
    }

    pub(crate) fn outage(&self, store: &'static str, operation: &'static str) {
        counter!(
            "sessionkit_store_outages_total",
            "session" => self.label.clone(),
            "store" => store,
            "operation" => operation
        )
        .increment(1);
    }

    pub(crate) fn refused(&self, reason: &'static str) {
        debug_assert!(
            REFUSED_REASONS.contains(&reason),
            "`{reason}` is not in REFUSED_REASONS (nor in the crate docs' metrics table)"
        );
        counter!("sessionkit_refused_total", "session" => self.label.clone(), "reason" => reason)
            .increment(1);
    }
}

/// Every `reason` label of `sessionkit_refused_total`.
pub(crate) const REFUSED_REASONS: [&str; 9] = [
    "tampered",
    "expired",
    "wrong_key",
    "old_shape",
    "other_codec",
    "malformed",
    "undecodable",
    "unknown_id",
    "revoked",
];

/// The `tier` label of `sessionkit_sessions_saved_total`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tier {
    /// A sealed cookie.
    Cookie,
    /// The server-side record.
    Store,
    /// Only the quick fields, in the cache.
    Quick,
}

pub(crate) fn store_call(store: &'static str, operation: &'static str, took: Duration) {
    histogram!("sessionkit_store_seconds", "store" => store, "operation" => operation)
        .record(took.as_secs_f64());
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

#[cfg(test)]
/// For tests of this crate that read spans or logs: installs, once per
/// test process, a global subscriber that records
/// nothing but keeps every callsite's interest open ("sometimes") and the
/// global level at TRACE: without it a callsite that another test thread
/// reached first, with no subscriber, stays disabled for the thread-local
/// subscriber a test installs, and the test sees nothing.
pub(crate) fn keep_tracing_callsites_open() {
    struct Open;
    impl tracing::Subscriber for Open {
        fn register_callsite(
            &self,
            _: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            tracing::subscriber::Interest::sometimes()
        }
        fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
            Some(tracing::level_filters::LevelFilter::TRACE)
        }
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| drop(tracing::subscriber::set_global_default(Open)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate docs' metrics table names every refusal reason the code
    /// reports, and the reasons of tokens that do not open are among them.
    #[test]
    fn the_documented_reasons_are_the_reported_ones() {
        let docs = include_str!("lib.rs");
        let row = docs
            .lines()
            .find(|line| line.contains("`sessionkit_refused_total`"))
            .expect("the crate docs list sessionkit_refused_total");
        for reason in REFUSED_REASONS {
            assert!(
                row.contains(&format!("`{reason}`")),
                "`{reason}` undocumented"
            );
        }
        let documented = row.matches("`, `").count() + 1;
        assert!(documented >= REFUSED_REASONS.len());
        let open = [
            OpenError::Forged,
            OpenError::UnknownKey(1),
            OpenError::NotBase64,
            OpenError::Truncated,
            OpenError::Expired(0),
        ];
        for reason in open.iter().map(open_reason) {
            assert!(REFUSED_REASONS.contains(&reason), "{reason}");
        }
        for reason in [IdError::Forged, IdError::UnknownKey(1)]
            .iter()
            .map(id_reason)
        {
            assert!(REFUSED_REASONS.contains(&reason), "{reason}");
        }
    }
}
