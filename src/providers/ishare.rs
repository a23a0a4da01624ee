//! AT-iShare, the AirtelTigo data reseller: `fulfillOrder` and `verifyFulfillment` over a
//! signed HTTP contract (see `docs/providers.md`). Idempotent by our reference.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::IshareConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::signature::ishare_request_signature;
use super::transport::{JSON, Transport};
use crate::domain::phone::{Network, PhoneNumber};

/// What AT-iShare says about one fulfilment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub success: bool,
    pub reference: String,
    /// `pending`, `completed` or `failed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
}

#[derive(Debug, Serialize)]
struct FulfillBody<'a> {
    phone: &'a str,
    size_gb: u32,
    reference: &'a str,
}

/// Client of the AT-iShare API.
#[derive(Debug, Clone)]
pub struct IshareClient {
    transport: Transport,
    api_key: String,
    api_secret: String,
}

impl IshareClient {
    pub fn new(cfg: &IshareConfig) -> Result<Self, Error> {
        let transport = Transport::new(
            "ishare",
            &cfg.base_url,
            cfg.timeout,
            [
                cfg.api_key.expose(),
                cfg.api_secret.expose(),
                cfg.webhook_secret.expose(),
            ],
        )?;
        Ok(IshareClient {
            transport,
            api_key: cfg.api_key.expose().to_string(),
            api_secret: cfg.api_secret.expose().to_string(),
        })
    }

    fn sign(
        &self,
        builder: reqwest::RequestBuilder,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let t = chrono::Utc::now().timestamp();
        let signature = ishare_request_signature(self.api_secret.as_bytes(), t, method, path, body);
        builder
            .header("X-ISHARE-KEY", &self.api_key)
            .header("X-ISHARE-TIMESTAMP", t.to_string())
            .header("X-ISHARE-SIGNATURE", signature)
    }

    /// `fulfillOrder`: `POST /v1/fulfillments`. The reference is the idempotency key: the
    /// same reference never delivers twice and answers with the existing fulfilment.
    #[tracing::instrument(skip_all, fields(phone = %phone.masked(), size_gb, reference))]
    pub async fn fulfill_order(
        &self,
        phone: &PhoneNumber,
        size_gb: u32,
        reference: &str,
    ) -> Attempt<Fulfillment> {
        let provider = self.transport.provider;
        if let Err(err) = phone.check_network(Network::AirtelTigo) {
            return Attempt::local(provider, "fulfill_order", err.into());
        }
        let body = FulfillBody {
            phone: phone.as_national(),
            size_gb,
            reference,
        };
        let text = match serde_json::to_string(&body) {
            Ok(text) => text,
            Err(e) => {
                return Attempt::local(provider, "fulfill_order", Error::Config(e.to_string()));
            }
        };
        let path = "/v1/fulfillments";
        let signed_body = text.clone();
        self.transport
            .call::<Fulfillment>(
                "fulfill_order",
                Method::POST,
                path,
                Some((text, JSON)),
                Some(reference),
                |b| {
                    self.sign(b, "POST", path, signed_body.as_bytes())
                        .header("Idempotency-Key", reference)
                },
            )
            .await
            .and_then(|reply| {
                if reply.success {
                    Ok(reply)
                } else {
                    Err(Error::Rejected {
                        provider,
                        message: format!(
                            "{}: {}",
                            reply.error_code.as_deref().unwrap_or("UNKNOWN"),
                            reply.message.as_deref().unwrap_or("no message")
                        ),
                    })
                }
            })
    }

    /// `verifyFulfillment`: `GET /v1/fulfillments/{reference}`. `Ok(None)` when AT-iShare has
    /// never seen the reference, which makes a retry safe.
    pub async fn verify_fulfillment(&self, reference: &str) -> Attempt<Option<Fulfillment>> {
        let path = format!("/v1/fulfillments/{}", encode_segment(reference));
        let attempt = self
            .transport
            .call::<Fulfillment>("verify_fulfillment", Method::GET, &path, None, None, |b| {
                self.sign(b, "GET", &path, b"")
            })
            .await;
        match attempt.result {
            Ok(found) => Attempt::new(attempt.exchange, Ok(Some(found))),
            Err(Error::NotFound { .. }) => {
                let mut exchange = attempt.exchange;
                exchange.error_code = None;
                Attempt::new(exchange, Ok(None))
            }
            Err(err) => Attempt::new(attempt.exchange, Err(err)),
        }
    }
}

/// Percent-encodes one path segment.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl IshareClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
