//! `providers::Error`: every way a provider call can fail, classified as retryable or permanent
//! with a stable short code for attempt logs and metrics.

use std::time::Duration;

use crate::domain::phone::PhoneError;

/// A failed provider call. `retryable()` tells the engine whether trying again can help;
/// `outcome_unknown()` tells it that the provider may have acted, so a provider without
/// idempotency keys must be asked (history lookup) before any retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No complete answer within the call's timeout; the request may have been acted on.
    #[error("{provider} did not answer within {after:?}")]
    Timeout {
        provider: &'static str,
        after: Duration,
    },
    /// The connection could not be opened: the request never reached the provider.
    #[error("could not connect to {provider}: {message}")]
    Connect {
        provider: &'static str,
        message: String,
    },
    /// The request was sent but the answer was lost (connection closed, body cut off, or an
    /// unreadable 2xx body).
    #[error("{provider} outcome unknown: {message}")]
    UnknownOutcome {
        provider: &'static str,
        message: String,
    },
    /// 5xx.
    #[error("{provider} server error {status}: {message}")]
    Server {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// 429, with the provider's `Retry-After` when it sent one.
    #[error("{provider} rate limited the call: {message}")]
    RateLimited {
        provider: &'static str,
        retry_after: Option<Duration>,
        message: String,
    },
    /// 409: a concurrent request holds the same idempotency key.
    #[error("{provider} reports a conflicting request in flight: {message}")]
    Conflict {
        provider: &'static str,
        message: String,
    },
    /// 400.
    #[error("{provider} refused the request as invalid: {message}")]
    InvalidRequest {
        provider: &'static str,
        message: String,
    },
    /// 401 or 403: the credentials are wrong.
    #[error("{provider} refused our credentials: {message}")]
    Unauthorized {
        provider: &'static str,
        message: String,
    },
    /// 402: not enough balance or the payment was declined.
    #[error("{provider} reports insufficient balance: {message}")]
    InsufficientBalance {
        provider: &'static str,
        message: String,
    },
    /// 404.
    #[error("{provider} does not know it: {message}")]
    NotFound {
        provider: &'static str,
        message: String,
    },
    /// 422.
    #[error("{provider} could not process the request: {message}")]
    Unprocessable {
        provider: &'static str,
        message: String,
    },
    /// Any other 4xx.
    #[error("{provider} answered {status}: {message}")]
    UnexpectedStatus {
        provider: &'static str,
        status: u16,
        message: String,
    },
    /// The provider refused because the object is in the wrong state for the call (a checkout
    /// session no longer open, a shipment already picked up). `reason` is the provider's own
    /// error code (`checkout_session_not_open`, `already_in_transit`). Retrying cannot help.
    #[error("{provider} refused in the current state ({reason}): {message}")]
    InvalidState {
        provider: &'static str,
        reason: String,
        message: String,
    },
    /// A 2xx whose body says the provider refused (`{"success": false}`).
    #[error("{provider} rejected the request: {message}")]
    Rejected {
        provider: &'static str,
        message: String,
    },
    /// Our own input is invalid (phone number, network mismatch); nothing was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A client is misconfigured (bad base URL, unknown courier); nothing was sent.
    #[error("provider configuration: {0}")]
    Config(String),
    /// Held by a provider gate (rate, concurrency, breaker, pause): never sent, so the
    /// provider cannot have acted. Look again after `retry_in`.
    #[error("held before sending ({}): {message}", reason.label())]
    Held {
        provider: &'static str,
        reason: super::gates::HeldReason,
        message: String,
        retry_in: Duration,
    },
}

impl Error {
    /// True where another attempt may succeed: timeouts, connection failures, lost answers,
    /// 5xx, 429 and 409.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. }
                | Error::Connect { .. }
                | Error::UnknownOutcome { .. }
                | Error::Server { .. }
                | Error::RateLimited { .. }
                | Error::Conflict { .. }
                | Error::Held { .. }
        )
    }

    /// True when the provider may have acted although we saw no success.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Error::Timeout { .. } | Error::UnknownOutcome { .. })
    }

    /// The provider's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::Held { retry_in, .. } => Some(*retry_in),
            _ => None,
        }
    }

    /// A stable short code for attempt logs, metrics and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Timeout { .. } => "timeout",
            Error::Connect { .. } => "connect",
            Error::UnknownOutcome { .. } => "unknown_outcome",
            Error::Server { .. } => "http_5xx",
            Error::RateLimited { .. } => "rate_limited",
            Error::Conflict { .. } => "conflict",
            Error::InvalidRequest { .. } => "invalid_request",
            Error::Unauthorized { .. } => "unauthorized",
            Error::InsufficientBalance { .. } => "insufficient_balance",
            Error::NotFound { .. } => "not_found",
            Error::Unprocessable { .. } => "unprocessable",
            Error::UnexpectedStatus { .. } => "http_4xx",
            Error::InvalidState { .. } => "invalid_state",
            Error::Rejected { .. } => "rejected",
            Error::InvalidInput(_) => "invalid_input",
            Error::Config(_) => "config",
            Error::Held { .. } => "held",
        }
    }

    /// For a held call, `"{provider}: {why}"`: the message a deferred saga shows, whose
    /// prefix lets a resume find the sagas waiting on that provider.
    pub fn held_message(&self) -> String {
        match self {
            Error::Held {
                provider,
                reason,
                message,
                ..
            } => format!("{provider}: held ({}): {message}", reason.label()),
            other => other.to_string(),
        }
    }

    /// The provider's own error code, for refusals that carry one ([`Error::InvalidState`]).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::InvalidState { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The metric label for this failure: `retryable` or `permanent`.
    pub(crate) fn outcome_class(&self) -> &'static str {
        if self.retryable() {
            "retryable"
        } else {
            "permanent"
        }
    }

    /// A 4xx refusal whose body names one of `reasons` as its error code becomes
    /// [`Error::InvalidState`]; anything else is returned unchanged. `body` is the answer's body.
    pub(crate) fn refine_state(self, body: &[u8], reasons: &[&str]) -> Error {
        if reasons.is_empty() {
            return self;
        }
        let (provider, message) = match &self {
            Error::InvalidRequest { provider, message }
            | Error::Conflict { provider, message }
            | Error::Unprocessable { provider, message } => (*provider, message.clone()),
            Error::UnexpectedStatus {
                provider, message, ..
            } => (*provider, message.clone()),
            _ => return self,
        };
        let reason = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| {
                json.pointer("/error/code")
                    .or_else(|| json.get("code"))
                    .and_then(|c| c.as_str())
                    .map(str::to_string)
            });
        match reason {
            Some(reason) if reasons.contains(&reason.as_str()) => Error::InvalidState {
                provider,
                reason,
                message,
            },
            _ => self,
        }
    }

    /// Classifies a non-2xx answer.
    pub(crate) fn from_status(
        provider: &'static str,
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    ) -> Error {
        match status {
            400 => Error::InvalidRequest { provider, message },
            401 | 403 => Error::Unauthorized { provider, message },
            402 => Error::InsufficientBalance { provider, message },
            404 => Error::NotFound { provider, message },
            409 => Error::Conflict { provider, message },
            422 => Error::Unprocessable { provider, message },
            429 => Error::RateLimited {
                provider,
                retry_after,
                message,
            },
            500..=599 => Error::Server {
                provider,
                status,
                message,
            },
            _ => Error::UnexpectedStatus {
                provider,
                status,
                message,
            },
        }
    }
}

impl From<PhoneError> for Error {
    fn from(err: PhoneError) -> Self {
        Error::InvalidInput(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let p = "test";
        let m = || String::from("m");
        for status in [400, 401, 402, 403, 404, 422, 418] {
            let err = Error::from_status(p, status, None, m());
            assert!(!err.retryable(), "{status} must be permanent");
        }
        for status in [409, 429, 500, 502, 503, 504] {
            let err = Error::from_status(p, status, None, m());
            assert!(err.retryable(), "{status} must be retryable");
        }
        let err = Error::from_status(p, 429, Some(Duration::from_secs(7)), m());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(err.code(), "rate_limited");
        assert_eq!(
            Error::from_status(p, 402, None, m()).code(),
            "insufficient_balance"
        );
        assert_eq!(Error::from_status(p, 503, None, m()).code(), "http_5xx");
    }

    #[test]
    fn named_refusals_become_permanent_state_errors() {
        let body = br#"{"error":{"code":"already_in_transit","message":"picked up"}}"#;
        let err = Error::from_status("courier", 409, None, "m".into())
            .refine_state(body, &["already_in_transit"]);
        assert_eq!(err.code(), "invalid_state");
        assert_eq!(err.reason(), Some("already_in_transit"));
        assert!(!err.retryable());
        // Another code, or an in-flight idempotency conflict, keeps its class.
        let other = br#"{"error":{"type":"idempotency_error","message":"in progress"}}"#;
        let err = Error::from_status("courier", 409, None, "m".into())
            .refine_state(other, &["already_in_transit"]);
        assert!(err.retryable());
        let err = Error::from_status("courier", 503, None, "m".into())
            .refine_state(body, &["already_in_transit"]);
        assert_eq!(err.code(), "http_5xx");
    }
}
