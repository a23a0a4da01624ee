//! The Stripe-compatible payment processor: checkout sessions (create, read, expire), refunds
//! and prices (create, read), form-encoded with a Bearer secret key and an `Idempotency-Key`, exactly as Stripe's
//! own API takes them.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::PaymentsConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::ishare::encode_segment;
use super::transport::{FORM, Transport};

/// One line of a checkout session: a synced processor price, or an inline price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineItem {
    /// A price already synced to the processor (`price_…`).
    Price { price_id: String, quantity: u32 },
    /// An ad-hoc price in minor units.
    Inline {
        name: String,
        currency: String,
        unit_amount: i64,
        quantity: u32,
    },
}

/// What a checkout session is created with.
#[derive(Debug, Clone, Default)]
pub struct NewCheckoutSession {
    pub success_url: String,
    pub cancel_url: String,
    pub line_items: Vec<LineItem>,
    /// Our order reference; comes back on the session and in its events.
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    /// Unix time at which the processor expires the session if it is still unpaid.
    pub expires_at: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

impl NewCheckoutSession {
    fn form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            ("mode".to_string(), "payment".to_string()),
            ("success_url".to_string(), self.success_url.clone()),
            ("cancel_url".to_string(), self.cancel_url.clone()),
        ];
        if let Some(id) = &self.client_reference_id {
            form.push(("client_reference_id".into(), id.clone()));
        }
        if let Some(email) = &self.customer_email {
            form.push(("customer_email".into(), email.clone()));
        }
        if let Some(at) = self.expires_at {
            form.push(("expires_at".into(), at.to_string()));
        }
        for (i, item) in self.line_items.iter().enumerate() {
            let key = |rest: &str| format!("line_items[{i}]{rest}");
            match item {
                LineItem::Price { price_id, quantity } => {
                    form.push((key("[price]"), price_id.clone()));
                    form.push((key("[quantity]"), quantity.to_string()));
                }
                LineItem::Inline {
                    name,
                    currency,
                    unit_amount,
                    quantity,
                } => {
                    form.push((key("[price_data][currency]"), currency.clone()));
                    form.push((key("[price_data][unit_amount]"), unit_amount.to_string()));
                    form.push((key("[price_data][product_data][name]"), name.clone()));
                    form.push((key("[quantity]"), quantity.to_string()));
                }
            }
        }
        for (k, v) in &self.metadata {
            form.push((format!("metadata[{k}]"), v.clone()));
        }
        form
    }
}

/// A checkout session as the processor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// The hosted payment page.
    #[serde(default)]
    pub url: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// `unpaid`, `paid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// Set once paid; refunds name it.
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What a refund is created with.
#[derive(Debug, Clone, Default)]
pub struct NewRefund {
    pub payment_intent: String,
    /// Minor units; the whole payment when `None`.
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A refund as the processor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub amount: Option<i64>,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
}

/// What a processor price is created with: a unit amount in a currency for a product named
/// inline, and our lookup key (the agreement or price-book entry it is for). With
/// `transfer_lookup_key` the key moves to the new price, as Stripe does on a price change.
#[derive(Debug, Clone, Default)]
pub struct NewPrice {
    pub currency: String,
    pub unit_amount: i64,
    pub product_name: String,
    pub lookup_key: Option<String>,
    pub transfer_lookup_key: bool,
    pub metadata: BTreeMap<String, String>,
}

/// A price as the processor reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub id: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    #[serde(default)]
    pub lookup_key: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The error code of expiring a session that is no longer open (paid, failed or expired): a
/// permanent [`Error::InvalidState`] with this reason.
pub const SESSION_NOT_OPEN: &str = "checkout_session_not_open";

/// Client of the Stripe-compatible API.
#[derive(Debug, Clone)]
pub struct PaymentsClient {
    transport: Transport,
    secret_key: String,
    api_version: Option<String>,
}

impl PaymentsClient {
    pub fn new(cfg: &PaymentsConfig) -> Result<Self, Error> {
        let mut transport = Transport::new(
            "payments",
            &cfg.base_url,
            cfg.timeout,
            [cfg.secret_key.expose(), cfg.webhook_secret.expose()],
        )?;
        transport.state_reasons = &[SESSION_NOT_OPEN];
        Ok(PaymentsClient {
            transport,
            secret_key: cfg.secret_key.expose().to_string(),
            api_version: cfg.api_version.clone(),
        })
    }

    fn auth(
        &self,
        builder: reqwest::RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut builder = builder.bearer_auth(&self.secret_key);
        if let Some(version) = &self.api_version {
            builder = builder.header("Stripe-Version", version);
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        builder
    }

    fn encode(form: &[(String, String)]) -> Result<String, Error> {
        serde_urlencoded::to_string(form).map_err(|e| Error::Config(e.to_string()))
    }

    /// `POST /v1/checkout/sessions`.
    pub async fn create_checkout_session(
        &self,
        session: &NewCheckoutSession,
        idempotency_key: &str,
    ) -> Attempt<CheckoutSession> {
        let body = match Self::encode(&session.form()) {
            Ok(body) => body,
            Err(e) => return Attempt::local("payments", "create_checkout_session", e),
        };
        self.transport
            .call(
                "create_checkout_session",
                Method::POST,
                "/v1/checkout/sessions",
                Some((body, FORM)),
                Some(idempotency_key),
                |b| self.auth(b, Some(idempotency_key)),
            )
            .await
    }

    /// `GET /v1/checkout/sessions/{id}`.
    pub async fn get_checkout_session(&self, id: &str) -> Attempt<CheckoutSession> {
        let path = format!("/v1/checkout/sessions/{}", encode_segment(id));
        self.transport
            .call(
                "get_checkout_session",
                Method::GET,
                &path,
                None,
                None,
                |b| self.auth(b, None),
            )
            .await
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: an open session can no longer be paid. A
    /// session that is not open (already paid, failed or expired) fails with
    /// [`Error::InvalidState`] and reason [`SESSION_NOT_OPEN`]; read the session to learn why.
    pub async fn expire_checkout_session(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Attempt<CheckoutSession> {
        let path = format!("/v1/checkout/sessions/{}/expire", encode_segment(id));
        self.transport
            .call(
                "expire_checkout_session",
                Method::POST,
                &path,
                None,
                Some(idempotency_key),
                |b| self.auth(b, Some(idempotency_key)),
            )
            .await
    }

    /// `POST /v1/refunds`.
    pub async fn create_refund(
        &self,
        refund: &NewRefund,
        idempotency_key: &str,
    ) -> Attempt<Refund> {
        let mut form = vec![("payment_intent".to_string(), refund.payment_intent.clone())];
        if let Some(amount) = refund.amount {
            form.push(("amount".into(), amount.to_string()));
        }
        if let Some(reason) = &refund.reason {
            form.push(("reason".into(), reason.clone()));
        }
        for (k, v) in &refund.metadata {
            form.push((format!("metadata[{k}]"), v.clone()));
        }
        let body = match Self::encode(&form) {
            Ok(body) => body,
            Err(e) => return Attempt::local("payments", "create_refund", e),
        };
        self.transport
            .call(
                "create_refund",
                Method::POST,
                "/v1/refunds",
                Some((body, FORM)),
                Some(idempotency_key),
                |b| self.auth(b, Some(idempotency_key)),
            )
            .await
    }

    /// `POST /v1/prices`.
    pub async fn create_price(&self, price: &NewPrice, idempotency_key: &str) -> Attempt<Price> {
        let mut form = vec![
            ("currency".to_string(), price.currency.clone()),
            ("unit_amount".to_string(), price.unit_amount.to_string()),
            ("product_data[name]".to_string(), price.product_name.clone()),
        ];
        if let Some(key) = &price.lookup_key {
            form.push(("lookup_key".into(), key.clone()));
        }
        if price.transfer_lookup_key {
            form.push(("transfer_lookup_key".into(), "true".into()));
        }
        for (k, v) in &price.metadata {
            form.push((format!("metadata[{k}]"), v.clone()));
        }
        let body = match Self::encode(&form) {
            Ok(body) => body,
            Err(e) => return Attempt::local("payments", "create_price", e),
        };
        self.transport
            .call(
                "create_price",
                Method::POST,
                "/v1/prices",
                Some((body, FORM)),
                Some(idempotency_key),
                |b| self.auth(b, Some(idempotency_key)),
            )
            .await
    }

    /// `GET /v1/prices/{id}`.
    pub async fn get_price(&self, id: &str) -> Attempt<Price> {
        let path = format!("/v1/prices/{}", encode_segment(id));
        self.transport
            .call("get_price", Method::GET, &path, None, None, |b| {
                self.auth(b, None)
            })
            .await
    }
}

impl PaymentsClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
