//! The MTN-style data reseller: place an order, read order history and the wallet balance.
//!
//! The reseller takes no idempotency key, so a retry after an unknown outcome must first look
//! the order up in the history ([`ResellerClient::find_order`]).

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::ResellerConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::transport::{JSON, Transport};
use crate::domain::phone::{Network, PhoneNumber};

/// A data bundle order for one phone.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub phone: PhoneNumber,
    pub network: Network,
    pub size_gb: u32,
    /// Our reference (the step's idempotency key), sent as `reference`. Resellers that keep it
    /// let history be searched by it; others ignore it.
    pub reference: Option<String>,
}

#[derive(Debug, Serialize)]
struct CreateOrderBody<'a> {
    recipient_phone: &'a str,
    network: &'a str,
    size_gb: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

/// The reseller accepted an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: i64,
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateOrderReply {
    success: bool,
    order_id: Option<i64>,
    message: Option<String>,
}

/// One order as the history and the webhook describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResellerOrder {
    pub id: i64,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub amount: Option<f64>,
    pub recipient_phone: String,
    #[serde(default)]
    pub plan_name: Option<String>,
    pub network: String,
    #[serde(default)]
    pub size_mb: Option<u64>,
    /// `reference` echoed back, when the reseller keeps it.
    #[serde(default)]
    pub reference: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl ResellerOrder {
    /// `created_at` as a time, accepting both formats resellers use.
    pub(crate) fn created_at_utc(&self) -> Option<DateTime<Utc>> {
        parse_reseller_time(self.created_at.as_deref()?)
    }
}

/// Parses `2024-01-15 10:25:00` (taken as UTC) or RFC 3339.
pub(crate) fn parse_reseller_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|naive| naive.and_utc())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HistoryReply {
    Wrapped {
        #[serde(alias = "data")]
        orders: Vec<ResellerOrder>,
    },
    Bare(Vec<ResellerOrder>),
}

/// Filters for the order history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// 1 for the newest `limit` orders, 2 for the ones before them, and so on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

/// Orders one history page holds.
const HISTORY_PAGE: u32 = 100;
/// How far back a history search may page: 5 000 orders for one phone number.
const HISTORY_MAX_PAGES: u32 = 50;

/// A phone's orders, newest first, as far back as [`ResellerClient::history_since`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub orders: Vec<ResellerOrder>,
    /// The pages reached back past the time asked for, or to the phone's first order.
    pub complete: bool,
}

/// The wallet balance at the reseller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub balance: f64,
    #[serde(default)]
    pub currency: Option<String>,
}

/// Client of the MTN-style reseller API.
#[derive(Debug, Clone)]
pub struct ResellerClient {
    transport: Transport,
    api_key: String,
}

impl ResellerClient {
    pub fn new(cfg: &ResellerConfig) -> Result<Self, Error> {
        let transport = Transport::new(
            "reseller",
            &cfg.base_url,
            cfg.timeout,
            [cfg.api_key.expose(), cfg.webhook_secret.expose()],
        )?;
        Ok(ResellerClient {
            transport,
            api_key: cfg.api_key.expose().to_string(),
        })
    }

    /// `POST /api/orders`. A 2xx with `"success": false` is a permanent `Rejected`.
    #[tracing::instrument(skip_all, fields(phone = %order.phone.masked(), network = %order.network, size_gb = order.size_gb))]
    pub async fn create_order(&self, order: &NewOrder) -> Attempt<OrderCreated> {
        let provider = self.transport.provider;
        if let Err(err) = order.phone.check_network(order.network) {
            return Attempt::local(provider, "create_order", err.into());
        }
        let body = CreateOrderBody {
            recipient_phone: order.phone.as_national(),
            network: order.network.as_str(),
            size_gb: order.size_gb,
            reference: order.reference.as_deref(),
        };
        let text = match serde_json::to_string(&body) {
            Ok(text) => text,
            Err(e) => {
                return Attempt::local(provider, "create_order", Error::Config(e.to_string()));
            }
        };
        self.transport
            .call::<CreateOrderReply>(
                "create_order",
                Method::POST,
                "/api/orders",
                Some((text, JSON)),
                None,
                |b| b.header("X-API-KEY", &self.api_key),
            )
            .await
            .and_then(|reply| match (reply.success, reply.order_id) {
                (true, Some(order_id)) => Ok(OrderCreated {
                    order_id,
                    message: reply.message,
                }),
                (true, None) => Err(Error::UnknownOutcome {
                    provider,
                    message: "success without an order_id".into(),
                }),
                (false, _) => Err(Error::Rejected {
                    provider,
                    message: reply.message.unwrap_or_else(|| "no message".into()),
                }),
            })
    }

    /// `GET /api/orders`: the order history, filtered where the reseller supports it.
    pub async fn list_orders(&self, query: &HistoryQuery) -> Attempt<Vec<ResellerOrder>> {
        let qs = serde_urlencoded::to_string(query).unwrap_or_default();
        let path = if qs.is_empty() {
            "/api/orders".to_string()
        } else {
            format!("/api/orders?{qs}")
        };
        self.transport
            .call::<HistoryReply>("list_orders", Method::GET, &path, None, None, |b| {
                b.header("X-API-KEY", &self.api_key)
            })
            .await
            .map(|reply| match reply {
                HistoryReply::Wrapped { orders } | HistoryReply::Bare(orders) => orders,
            })
    }

    /// A phone's order history back to `since`, page by page (newest first), for the lookup
    /// that runs before an order is placed again. `complete` says whether the pages reached
    /// back past `since` (less a minute for clock skew) or to the phone's first order: only
    /// then does an order missing from `orders` not exist at the reseller.
    pub async fn history_since(
        &self,
        phone: &PhoneNumber,
        since: DateTime<Utc>,
    ) -> Attempt<History> {
        let cutoff = since - chrono::Duration::seconds(60);
        let mut orders: Vec<ResellerOrder> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut last = None;
        let mut complete = false;
        for page in 1..=HISTORY_MAX_PAGES {
            let query = HistoryQuery {
                reference: None,
                recipient_phone: Some(phone.as_national().to_string()),
                limit: Some(HISTORY_PAGE),
                page: Some(page),
            };
            let attempt = self.list_orders(&query).await;
            let batch = match attempt.result {
                Ok(batch) => batch,
                Err(e) => return Attempt::new(attempt.exchange, Err(e)),
            };
            last = Some(attempt.exchange);
            let short = batch.len() < HISTORY_PAGE as usize;
            let (mut repeated, mut passed) = (false, false);
            for order in batch {
                // A reseller that ignores `page` answers the first page again: what it holds
                // further back cannot be read, so the history stays incomplete.
                repeated |= !seen.insert(order.id);
                passed |= order.created_at_utc().is_some_and(|at| at < cutoff);
                orders.push(order);
            }
            if repeated {
                break;
            }
            if short || passed {
                complete = true;
                break;
            }
        }
        let history = History { orders, complete };
        match last {
            Some(exchange) => Attempt::new(exchange, Ok(history)),
            None => Attempt::local(
                self.transport.provider,
                "list_orders",
                Error::Config("the history search read no page".into()),
            ),
        }
    }

    /// `GET /api/balance`.
    pub async fn get_balance(&self) -> Attempt<Balance> {
        self.transport
            .call(
                "get_balance",
                Method::GET,
                "/api/balance",
                None,
                None,
                |b| b.header("X-API-KEY", &self.api_key),
            )
            .await
    }
}

impl ResellerClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
