//! Inbound provider webhooks, without a database: one [`Inbound`] contract per provider (its
//! name, how its webhooks are verified and parsed, the signal names they become, how it builds
//! a correlation key), and the one [`INBOUND`] list that the webhook route, its metric labels
//! and the workflow check read. Signatures are verified over the raw bytes before parsing.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::ProvidersConfig;
use super::signature::SignatureError;

pub mod courier;
pub mod ishare;
pub mod payments;
pub mod reseller;

pub use courier::{COURIER_CODE_HEADER, normalise_courier_status};

/// Every provider that posts webhooks to `POST /v1/webhooks/{provider}`. A provider added here
/// is routed, labelled in metrics and may be waited on by workflow files; nothing else lists
/// them.
pub static INBOUND: &[Inbound] = &[
    reseller::CONTRACT,
    ishare::CONTRACT,
    payments::CONTRACT,
    courier::CONTRACT,
];

/// One provider's inbound contract.
#[derive(Debug)]
pub struct Inbound {
    /// The provider's name: its webhook path segment, its metric label, the namespace of its
    /// correlation keys and of its events' deduplication keys.
    pub name: &'static str,
    /// Every signal name its events become: what a workflow file may wait on.
    pub signals: &'static [&'static str],
    /// Its correlation key for one of its ids (`reseller:123`): what the step that created the
    /// id registers, and what its webhooks name.
    pub reference: fn(&str) -> String,
    /// Other path segments that reach it (a courier's `courier-<code>`).
    also_at: fn(&str) -> bool,
    /// Checks the signature over the raw bytes, then parses the body.
    verify: fn(&Webhook<'_>) -> Result<InboundEvent, WebhookError>,
}

/// One webhook as it arrived, before anything trusts it.
pub struct Webhook<'a> {
    /// The path segment it was posted to.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub cfg: &'a ProvidersConfig,
    pub now: DateTime<Utc>,
}

impl Webhook<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Inbound {
    /// Whether a webhook posted to `/v1/webhooks/{path}` is this provider's.
    pub(crate) fn reaches(&self, path: &str) -> bool {
        path == self.name || (self.also_at)(path)
    }

    /// Verifies and parses one of this provider's webhooks.
    pub fn verify(&self, webhook: &Webhook<'_>) -> Result<InboundEvent, WebhookError> {
        (self.verify)(webhook)
    }
}

/// A path segment no other provider answers to.
fn nowhere(_: &str) -> bool {
    false
}

/// The provider a webhook path segment reaches, if any.
pub(crate) fn inbound(path: &str) -> Option<&'static Inbound> {
    INBOUND.iter().find(|p| p.reaches(path))
}

/// Every signal a provider's webhooks produce, with the provider's name.
pub fn signals() -> impl Iterator<Item = (&'static str, &'static str)> {
    INBOUND
        .iter()
        .flat_map(|p| p.signals.iter().map(move |s| (p.name, *s)))
}

/// Whether a provider's webhooks produce `signal`: such a signal comes through its verified
/// webhook only, never the signal route.
pub fn produces(signal: &str) -> bool {
    signals().any(|(_, s)| s == signal)
}

/// A verified provider event, ready to be stored as a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// The [`Inbound::name`] of the provider that sent it.
    pub provider: &'static str,
    /// Deduplication key: the provider's event id, or a stable hash of what the event says.
    pub event_id: String,
    /// Correlation key, built by the provider's [`Inbound::reference`]: `reseller:123`,
    /// `ishare:<ref>`, `payments:cs_…`, `courier:<carrier>:<tracking number>`.
    pub reference: String,
    /// Signal name: one of the provider's [`Inbound::signals`].
    pub signal: &'static str,
    /// The event body (couriers: normalised, with the original under `raw`).
    pub payload: Value,
}

/// Why an inbound webhook was refused. Map to 404/401/400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("unknown webhook provider {0:?}")]
    UnknownProvider(String),
    #[error("bad webhook signature: {0}")]
    BadSignature(SignatureError),
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

/// Verifies and parses one inbound webhook. `provider` is the path segment of
/// `POST /v1/webhooks/{provider}`: a name in [`INBOUND`], or another segment one of them
/// answers to (`courier-<code>`).
pub fn verify_inbound(
    provider: &str,
    headers: &HeaderMap,
    body: &[u8],
    cfg: &ProvidersConfig,
    now: DateTime<Utc>,
) -> Result<InboundEvent, WebhookError> {
    let contract =
        inbound(provider).ok_or_else(|| WebhookError::UnknownProvider(provider.to_string()))?;
    contract.verify(&Webhook {
        path: provider,
        headers,
        body,
        cfg,
        now,
    })
}

/// An empty secret would accept anything signed with an empty key: refuse instead.
fn non_empty(secret: &str) -> Result<&[u8], WebhookError> {
    if secret.is_empty() {
        Err(WebhookError::BadSignature(SignatureError::Mismatch))
    } else {
        Ok(secret.as_bytes())
    }
}

fn parse_json(body: &[u8]) -> Result<Value, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(WebhookError::Malformed("body is not a JSON object".into()))
    }
}

/// A string or integer field as text.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn required(value: &Value, pointer: &str) -> Result<String, WebhookError> {
    text_at(value, pointer).ok_or_else(|| WebhookError::Malformed(format!("missing {pointer}")))
}

fn stable_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(b"\x1f");
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Names, signals and references are namespaced by provider, so no two contracts can claim
    /// one webhook path, one signal or one correlation key.
    #[test]
    fn every_contract_is_namespaced_by_its_name() {
        let mut names = HashSet::new();
        let mut signals = HashSet::new();
        for p in INBOUND {
            assert!(names.insert(p.name), "{} listed twice", p.name);
            assert!(!p.signals.is_empty(), "{} declares no signal", p.name);
            for s in p.signals {
                assert!(
                    s.starts_with(&format!("{}.", p.name)),
                    "{s} outside {}",
                    p.name
                );
                assert!(!s.contains('|'), "{s} would split a wait's alternatives");
                assert!(signals.insert(*s), "{s} declared twice");
            }
            assert_eq!((p.reference)("42"), format!("{}:42", p.name));
            assert!(std::ptr::eq(inbound(p.name).expect("routed"), p));
        }
        assert_eq!(
            names,
            HashSet::from(["reseller", "ishare", "payments", "courier"])
        );
    }

    #[test]
    fn paths_reach_their_provider_only() {
        let reached = |path| inbound(path).map(|p| p.name);
        assert_eq!(reached("courier-dhl"), Some("courier"));
        assert_eq!(reached("courier.dhl"), Some("courier"));
        assert_eq!(reached("courier"), Some("courier"));
        assert_eq!(reached("reseller-x"), None);
        assert_eq!(reached("paypal"), None);
        assert_eq!(reached(""), None);
    }

    #[test]
    fn the_signal_list_is_every_contracts_signals() {
        let all: Vec<_> = signals().collect();
        assert!(all.contains(&("payments", payments::REFUND)));
        assert!(all.contains(&("courier", courier::TRACKING)));
        assert_eq!(
            all.len(),
            INBOUND.iter().map(|p| p.signals.len()).sum::<usize>()
        );
    }
}
