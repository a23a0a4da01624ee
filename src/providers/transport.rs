//! The one place that sends provider requests: timeout, error classification, redacted
//! exchange record, metrics and the log line, shared by every client.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::error::Error;
use super::exchange::{Attempt, Exchange, Redactor};
use super::metrics::{PROVIDER_REQUEST_DURATION_SECONDS, PROVIDER_REQUESTS_TOTAL};
use crate::domain::storable;

/// Content type of JSON bodies.
pub(crate) const JSON: &str = "application/json";
/// Content type of form bodies.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// How long opening a connection may take, within the call's overall timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of a provider's answer read: every answer sagaflow parses is a few kilobytes, and
/// a receiver that streams more must not fill a worker's memory.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A client for one provider: no redirects (a provider that answers 3xx is answering, and
/// following it would send credentials and bodies somewhere never configured), the given
/// timeouts and user agent.
pub(crate) fn client(
    timeout: Duration,
    connect: Duration,
    user_agent: &str,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A provider's HTTP client: base URL, timeout and the secrets to keep out of records.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) client: reqwest::Client,
    pub(crate) provider: &'static str,
    /// Set for couriers (`courier:usps`), so exchanges say which one.
    pub(crate) provider_label: String,
    pub(crate) base_url: String,
    pub(crate) timeout: Duration,
    pub(crate) redactor: Redactor,
    /// Provider error codes that mean "wrong state for this call": a 4xx naming one becomes a
    /// permanent [`Error::InvalidState`] instead of its status class.
    pub(crate) state_reasons: &'static [&'static str],
    /// The shared limits, breaker and pauses every call passes; `None` (CLI tools, client
    /// tests) sends ungated.
    pub(crate) gates: Option<std::sync::Arc<super::gates::Gates>>,
}

/// One request ready to go, with what the exchange record needs to know about it.
pub(crate) struct Call {
    pub endpoint: &'static str,
    pub builder: reqwest::RequestBuilder,
    pub method: &'static str,
    pub url: String,
    pub body: Option<String>,
    pub idempotency_key: Option<String>,
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: axum::body::Bytes,
}

impl Transport {
    pub(crate) fn new<'a>(
        provider: &'static str,
        base_url: &str,
        timeout: Duration,
        secrets: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, Error> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "{provider}: base URL must start with http:// or https://"
            )));
        }
        let client = client(
            timeout,
            CONNECT_TIMEOUT.min(timeout),
            concat!("sagaflow/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| Error::Config(format!("{provider}: {e}")))?;
        Ok(Transport {
            client,
            provider,
            provider_label: provider.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
            redactor: Redactor::new(secrets),
            state_reasons: &[],
            gates: None,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends the call and classifies the answer. Never panics, never logs a secret.
    pub(crate) async fn execute(&self, call: Call) -> (Exchange, Result<Reply, Error>) {
        let pass = match &self.gates {
            Some(gates) => match gates
                .admit(self.provider, call.endpoint, self.timeout)
                .await
            {
                Ok(pass) => Some(pass),
                Err(held) => return self.held(call, held),
            },
            None => None,
        };
        let started = Instant::now();
        let outcome = self.send(call.builder).await;
        let latency = started.elapsed();
        let mut exchange = Exchange {
            provider: self.provider_label.clone(),
            endpoint: call.endpoint.to_string(),
            method: call.method.to_string(),
            url: self.redactor.redact(&call.url),
            idempotency_key: call.idempotency_key,
            request_body: call.body.as_deref().map(|b| self.redactor.redact(b)),
            status: None,
            response_body: None,
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            error_code: None,
        };
        let result = match outcome {
            Ok((status, headers, body)) => {
                exchange.status = Some(status);
                exchange.response_body = Some(self.redactor.redact(&storable::bytes(&body)));
                if (200..300).contains(&status) {
                    Ok(Reply { status, body })
                } else {
                    let message = self.message_of(&body);
                    Err(
                        Error::from_status(self.provider, status, retry_after(&headers), message)
                            .refine_state(&body, self.state_reasons),
                    )
                }
            }
            Err(err) => Err(err),
        };
        if let Err(err) = &result {
            exchange.error_code = Some(err.code().to_string());
        }
        if let (Some(gates), Some(pass)) = (&self.gates, pass) {
            gates
                .finish(self.provider, pass, result.as_ref().map(|_| ()))
                .await;
        }
        let outcome_class = match &result {
            Ok(_) => "ok",
            Err(err) => err.outcome_class(),
        };
        metrics::counter!(
            PROVIDER_REQUESTS_TOTAL,
            "provider" => self.provider,
            "endpoint" => call.endpoint,
            "outcome" => outcome_class,
        )
        .increment(1);
        metrics::histogram!(
            PROVIDER_REQUEST_DURATION_SECONDS,
            "provider" => self.provider,
            "endpoint" => call.endpoint,
            "outcome" => outcome_class,
        )
        .record(latency.as_secs_f64());
        match &result {
            Ok(_) => tracing::info!(
                provider = %exchange.provider,
                endpoint = call.endpoint,
                method = call.method,
                url = %exchange.url,
                status = exchange.status,
                latency_ms = exchange.latency_ms,
                "provider call succeeded"
            ),
            Err(err) => tracing::warn!(
                provider = %exchange.provider,
                endpoint = call.endpoint,
                method = call.method,
                url = %exchange.url,
                status = exchange.status,
                latency_ms = exchange.latency_ms,
                code = err.code(),
                retryable = err.retryable(),
                "provider call failed"
            ),
        }
        tracing::debug!(
            provider = %exchange.provider,
            endpoint = call.endpoint,
            request_body = exchange.request_body.as_deref().unwrap_or(""),
            response_body = exchange.response_body.as_deref().unwrap_or(""),
            "provider exchange"
        );
        (exchange, result)
    }

    /// A call a gate held: recorded as an exchange that never left (no status, no answer),
    /// so attempt logs can tell it from a call the provider saw.
    fn held(&self, call: Call, held: super::gates::Held) -> (Exchange, Result<Reply, Error>) {
        tracing::info!(
            provider = %self.provider_label,
            endpoint = call.endpoint,
            reason = held.reason.label(),
            retry_in_ms = u64::try_from(held.retry_in.as_millis()).unwrap_or(u64::MAX),
            "provider call held"
        );
        let exchange = Exchange {
            provider: self.provider_label.clone(),
            endpoint: call.endpoint.to_string(),
            method: call.method.to_string(),
            url: self.redactor.redact(&call.url),
            idempotency_key: call.idempotency_key,
            request_body: call.body.as_deref().map(|b| self.redactor.redact(b)),
            status: None,
            response_body: None,
            latency_ms: 0,
            error_code: Some("held".to_string()),
        };
        let err = Error::Held {
            provider: self.provider,
            reason: held.reason,
            message: held.message,
            retry_in: held.retry_in,
        };
        (exchange, Err(err))
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<(u16, HeaderMap, axum::body::Bytes), Error> {
        let mut response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Read in chunks up to the cap, whatever Content-Length claims.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::UnknownOutcome {
                    provider: self.provider,
                    message: format!(
                        "the answer is over {MAX_RESPONSE_BYTES} bytes; stopped reading it"
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = axum::body::Bytes::from(body);
        // Cleaned before anything reads it, so neither the exchange record, nor an error
        // message, nor a decoded field can carry a NUL or invalid UTF-8 into the database.
        let body = match storable::body(&body) {
            Cow::Borrowed(_) => body,
            Cow::Owned(clean) => axum::body::Bytes::from(clean),
        };
        Ok((status, headers, body))
    }

    fn transport_error(&self, err: &reqwest::Error) -> Error {
        let provider = self.provider;
        if err.is_timeout() {
            Error::Timeout {
                provider,
                after: self.timeout,
            }
        } else if err.is_connect() {
            Error::Connect {
                provider,
                message: self.redactor.redact(&error_chain(err)),
            }
        } else if err.is_builder() {
            Error::Config(format!(
                "{provider}: {}",
                self.redactor.redact(&error_chain(err))
            ))
        } else {
            Error::UnknownOutcome {
                provider,
                message: self.redactor.redact(&error_chain(err)),
            }
        }
    }

    /// The provider's own explanation from an error body, redacted and short.
    fn message_of(&self, body: &[u8]) -> String {
        let text = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => {
                let message = json
                    .get("message")
                    .and_then(|v| v.as_str())
                    .or_else(|| json.pointer("/error/message").and_then(|v| v.as_str()))
                    .or_else(|| json.get("error").and_then(|v| v.as_str()))
                    .unwrap_or("");
                let code = json
                    .get("errorCode")
                    .and_then(|v| v.as_str())
                    .or_else(|| json.pointer("/error/code").and_then(|v| v.as_str()));
                match code {
                    Some(code) if !message.is_empty() => format!("{code}: {message}"),
                    Some(code) => code.to_string(),
                    None => message.to_string(),
                }
            }
            Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
        };
        let text = if text.is_empty() {
            "no message".to_string()
        } else {
            text
        };
        let mut text = self.redactor.redact(&text);
        if text.len() > 300 {
            let mut cut = 300;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }

    /// Builds, sends and decodes one call. `body` is the encoded body and its content type;
    /// `decorate` adds the provider's auth and idempotency headers.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, &'static str)>,
        idempotency_key: Option<&str>,
        decorate: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Attempt<T> {
        let url = self.url(path);
        let mut builder = self.client.request(method.clone(), &url);
        let mut logged_body = None;
        if let Some((text, content_type)) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(text.clone());
            logged_body = Some(text);
        }
        let builder = decorate(builder);
        let (exchange, result) = self
            .execute(Call {
                endpoint,
                builder,
                method: method_name(&method),
                url,
                body: logged_body,
                idempotency_key: idempotency_key.map(str::to_string),
            })
            .await;
        let result = result.and_then(|reply| self.decode::<T>(&reply));
        Attempt::new(exchange, result)
    }

    /// Decodes a 2xx JSON body; an unreadable one leaves the outcome unknown.
    pub(crate) fn decode<T: DeserializeOwned>(&self, reply: &Reply) -> Result<T, Error> {
        serde_json::from_slice(&reply.body).map_err(|e| Error::UnknownOutcome {
            provider: self.provider,
            message: format!("unreadable {} answer: {e}", reply.status),
        })
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::PATCH => "PATCH",
        reqwest::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// The answer's `Retry-After`, clamped to a day. Wall-clock time: an HTTP date is the
/// provider's clock, which the engine's clock may not be.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    super::retry_after::parse(value, chrono::Utc::now())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
