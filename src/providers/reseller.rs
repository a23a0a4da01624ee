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

    /// Verify-before-retry: finds the order an earlier attempt may have placed.
    ///
    /// Matches on `reference` when the reseller echoes it; otherwise on the same phone,
    /// network and size created at or after `since` (the first attempt's start, less a minute
    /// for clock skew). `Ok(None)` means the earlier attempt placed nothing.
    pub async fn find_order(
        &self,
        order: &NewOrder,
        since: DateTime<Utc>,
    ) -> Attempt<Option<ResellerOrder>> {
        // Filter by phone only: matching by reference happens here, so a reseller that
        // ignores an unknown filter cannot make another order look like ours.
        let query = HistoryQuery {
            reference: None,
            recipient_phone: Some(order.phone.as_national().to_string()),
            limit: Some(100),
        };
        let attempt = self.list_orders(&query).await;
        let cutoff = since - chrono::Duration::seconds(60);
        attempt.map(|orders| {
            if let Some(reference) = &order.reference {
                if let Some(found) = orders
                    .iter()
                    .find(|o| o.reference.as_deref() == Some(reference.as_str()))
                {
                    return Some(found.clone());
                }
                // A reseller that keeps references and has none matching placed nothing.
                if orders.iter().any(|o| o.reference.is_some()) {
                    return None;
                }
            }
            let size_mb = u64::from(order.size_gb) * 1024;
            orders
                .into_iter()
                .filter(|o| {
                    PhoneNumber::parse(&o.recipient_phone).ok().as_ref() == Some(&order.phone)
                        && o.network.parse::<Network>().ok() == Some(order.network)
                        && o.size_mb.is_none_or(|mb| mb == size_mb)
                        && o.created_at_utc().is_some_and(|at| at >= cutoff)
                })
                .max_by_key(|o| o.id)
        })
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
