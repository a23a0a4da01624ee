//! `[partner]`: partner accounts (API keys stored as SHA-256 hashes), the licence catalogue,
//! the rate limit, the product cache lifetime and how long the request log keeps requests.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PartnerSettings {
    /// Requests per minute per partner key.
    pub rate_limit_per_minute: u32,
    /// How long `GET /v1/partner/products` answers from memory before reading the catalogue.
    #[serde(with = "crate::config::duration")]
    pub products_cache_ttl: Duration,
    /// Days the partner API's request log keeps a request; 0 keeps them all.
    pub request_log_days: u32,
    /// When the request log drops requests older than `request_log_days` (a cron schedule,
    /// seconds first); unset or empty turns the pruning off.
    pub request_log_prune: Option<String>,
    pub accounts: Vec<PartnerAccount>,
    /// The licence catalogue partners order from. Upserted at start-up.
    pub products: Vec<ProductSeed>,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 100,
            products_cache_ttl: Duration::from_secs(60),
            request_log_days: 30,
            request_log_prune: Some("0 40 4 * * *".into()),
            accounts: Vec::new(),
            products: Vec::new(),
        }
    }
}

/// A partner allowed to call `/v1/partner`.
#[derive(Clone, Deserialize, Serialize)]
pub struct PartnerAccount {
    /// The id we answer with (`partnerId`) and store on its orders.
    pub id: String,
    /// Hex SHA-256 of the Bearer key; the key itself is never stored.
    pub key_sha256: String,
    /// The entry in `[providers.partner_webhooks.partners]` its webhooks go to.
    pub webhook: String,
}

impl std::fmt::Debug for PartnerAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerAccount")
            .field("id", &self.id)
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// One licence product.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProductSeed {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price_1_month: f64,
    pub price_12_months: f64,
    #[serde(default = "ghs")]
    pub currency: String,
}

fn ghs() -> String {
    "GHS".into()
}
