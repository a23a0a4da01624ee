//! What one provider call looked like on the wire, redacted, so a step can log every attempt,
//! successful or not.

use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::domain::phone::mask_phones_in;
use crate::domain::storable;

/// Bodies longer than this are cut in the exchange record.
const MAX_BODY_CHARS: usize = 8 * 1024;

/// JSON keys whose values are always replaced by `<redacted>`.
const SENSITIVE_KEYS: &[&str] = &[
    "api_key",
    "apikey",
    "api_secret",
    "secret",
    "password",
    "token",
    "access_token",
    "authorization",
    "client_secret",
];

/// The raw request and response of one call, with secrets removed and phone numbers masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// `reseller`, `ishare`, `payments`, `crm`, `courier:<code>`, `sms`, `partner_webhooks`
    /// or `bridge`.
    pub provider: String,
    /// The client operation (`create_order`), a bounded metric label.
    pub endpoint: String,
    pub method: String,
    pub url: String,
    /// The idempotency key sent with the call, when the provider takes one.
    pub idempotency_key: Option<String>,
    pub request_body: Option<String>,
    /// `None` when no answer arrived (timeout, connection failure).
    pub status: Option<u16>,
    pub response_body: Option<String>,
    pub latency_ms: u64,
    /// The error code (`timeout`, `http_5xx`…) when the call failed.
    pub error_code: Option<String>,
}

/// One call's exchange and its typed result. Log `exchange`, then use `result`.
#[derive(Debug, Clone)]
pub struct Attempt<T> {
    pub exchange: Exchange,
    pub result: Result<T, Error>,
}

impl<T> Attempt<T> {
    /// Pairs an exchange with its result, recording the error code in the exchange.
    pub fn new(mut exchange: Exchange, result: Result<T, Error>) -> Self {
        if let Err(err) = &result {
            exchange.error_code = Some(err.code().to_string());
        }
        Attempt { exchange, result }
    }

    /// An attempt refused before anything was sent (invalid input, bad configuration).
    pub fn local(provider: &str, endpoint: &str, err: Error) -> Self {
        let exchange = Exchange {
            provider: provider.to_string(),
            endpoint: endpoint.to_string(),
            method: String::new(),
            url: String::new(),
            idempotency_key: None,
            request_body: None,
            status: None,
            response_body: None,
            latency_ms: 0,
            error_code: None,
        };
        Attempt::new(exchange, Err(err))
    }

    pub fn into_result(self) -> Result<T, Error> {
        self.result
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Attempt<U> {
        Attempt {
            exchange: self.exchange,
            result: self.result.map(f),
        }
    }

    /// Replaces a success with the outcome of `f` (a body that says the call failed).
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Result<U, Error>) -> Attempt<U> {
        Attempt::new(self.exchange, self.result.and_then(f))
    }
}

/// Removes known secrets, sensitive JSON fields and full phone numbers from text.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Every non-empty secret given here is replaced wherever it appears.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// Also makes the text storable (no NUL, in the text or behind a JSON escape): every
    /// exchange record passes through here on its way to a `jsonb` column.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut value) if value.is_object() || value.is_array() => {
                redact_keys(&mut value);
                storable::json(&mut value);
                value.to_string()
            }
            _ => storable::text(text).into_owned(),
        };
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "<redacted>");
            }
        }
        let mut out = mask_phones_in(&out);
        if out.len() > MAX_BODY_CHARS {
            let mut cut = MAX_BODY_CHARS;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("…<truncated>");
        }
        out
    }
}

fn redact_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if SENSITIVE_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
                    *item = serde_json::Value::String("<redacted>".into());
                } else {
                    redact_keys(item);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_keys_and_phones() {
        let r = Redactor::new(["topsecret123"]);
        let out = r.redact(
            r#"{"api_key":"abc","note":"key topsecret123","recipient_phone":"0241234567","size_gb":5}"#,
        );
        assert!(!out.contains("abc"));
        assert!(!out.contains("topsecret123"));
        assert!(!out.contains("0241234567"));
        assert!(out.contains("024****567"));
        assert!(out.contains("\"size_gb\":5"));
        let form = r.redact("to=%2B233241234567&text=hi+topsecret123");
        assert!(!form.contains("topsecret123"), "{form}");
    }

    #[test]
    fn records_carry_no_nul_either_way() {
        let r = Redactor::new([]);
        let json = r.redact(r#"{"note":"a\u0000b"}"#);
        assert!(!json.contains("\\u0000") && !json.contains('\0'), "{json}");
        assert!(json.contains('\u{FFFD}'), "{json}");
        let text = r.redact("plain\0text");
        assert_eq!(text, "plain\u{FFFD}text");
    }
}
