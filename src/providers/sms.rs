//! The SMS gateway: send one message to one phone. The number is masked in every log line.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::SmsConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::transport::{JSON, Transport};
use crate::domain::phone::PhoneNumber;

/// The gateway accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsSent {
    pub message_id: String,
    /// `queued`, `sent` or `delivered`.
    pub status: String,
}

#[derive(Debug, Serialize)]
struct SendBody<'a> {
    to: String,
    from: &'a str,
    text: &'a str,
    reference: &'a str,
}

/// Client of the SMS gateway.
#[derive(Debug, Clone)]
pub struct SmsClient {
    transport: Transport,
    api_key: String,
    sender_id: String,
}

impl SmsClient {
    pub fn new(cfg: &SmsConfig) -> Result<Self, Error> {
        let transport = Transport::new("sms", &cfg.base_url, cfg.timeout, [cfg.api_key.expose()])?;
        Ok(SmsClient {
            transport,
            api_key: cfg.api_key.expose().to_string(),
            sender_id: cfg.sender_id.clone(),
        })
    }

    /// `POST /sms/v1/messages`; the idempotency key doubles as the message reference.
    #[tracing::instrument(skip_all, fields(to = %to.masked()))]
    pub async fn send(
        &self,
        to: &PhoneNumber,
        text: &str,
        idempotency_key: &str,
    ) -> Attempt<SmsSent> {
        let body = SendBody {
            to: format!("+{}", to.international()),
            from: &self.sender_id,
            text,
            reference: idempotency_key,
        };
        let body = match serde_json::to_string(&body) {
            Ok(body) => body,
            Err(e) => return Attempt::local("sms", "send", Error::Config(e.to_string())),
        };
        let attempt: Attempt<SmsSent> = self
            .transport
            .call(
                "send",
                Method::POST,
                "/sms/v1/messages",
                Some((body, JSON)),
                Some(idempotency_key),
                |b| {
                    b.bearer_auth(&self.api_key)
                        .header("Idempotency-Key", idempotency_key)
                },
            )
            .await;
        match &attempt.result {
            Ok(sent) => {
                tracing::info!(to = %to.masked(), message_id = %sent.message_id, "sms accepted")
            }
            Err(err) => tracing::warn!(to = %to.masked(), code = err.code(), "sms not sent"),
        }
        attempt
    }
}

impl SmsClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
