//! The partner API under `/v1/partner`, in the partner's own conventions: Bearer keys (compared
//! as SHA-256 hashes), `Idempotency-Key`, errors as `{success: false, errorCode, message}`,
//! a per-key rate limit with `Retry-After`, and a product list cached with a TTL.
//!
//! The rate limit is a token bucket per key in Postgres (`providers::gates`), shared by every
//! API node; the product cache lives in the router, per node.
//!
//! Every request passes `PartnerApi::admit` here first (key, then rate limit); the handlers
//! follow in `products.rs`, `orders.rs` (fulfilment and order status) and `renewals.rs`,
//! reading their headers and bodies with `request.rs` and answering errors with `errors.rs`.
//! `request_log.rs` records every request and its answer, masked.

mod errors;
mod orders;
mod products;
mod renewals;
mod request;
mod request_log;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Extension, Router};
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::families::partner::store::Product;
use crate::families::partner::{PartnerAccount, PartnerSettings};
use crate::store::Store;

pub use errors::PartnerError;

/// Per-router partner state: accounts, the rate limiter and the product cache.
pub struct PartnerApi {
    accounts: Vec<PartnerAccount>,
    /// Requests a key may make per minute, across every node.
    per_minute: u32,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<Vec<Product>>)>>,
    /// Where `request_log` writes.
    store: Store,
}

/// The partner API's part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(products::products, orders::fulfilment, orders::order_status, renewals::renewal,
        crate::families::partner::requests::list),
    modifiers(&PartnerKey),
    tags((name = "partner", description = "The partner API (partner keys, partner error format)")),
)]
pub(crate) struct Doc;

/// Partners send their own API key as a bearer token; it reaches only /v1/partner.
struct PartnerKey;

impl utoipa::Modify for PartnerKey {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "partner_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The partner routes. They sit outside the bearer-token guards: each handler checks the
/// partner's own key. Every request is logged (`request_log`).
pub fn routes(cfg: &PartnerSettings, store: Store) -> Router<AppState> {
    let api = Arc::new(PartnerApi {
        accounts: cfg.accounts.clone(),
        per_minute: cfg.rate_limit_per_minute.max(1),
        ttl: cfg.products_cache_ttl,
        cache: Mutex::new(None),
        store,
    });
    Router::new()
        .route("/v1/partner/products", get(products::products))
        .route("/v1/partner/fulfilment", post(orders::fulfilment))
        .route("/v1/partner/orders/{order_id}", get(orders::order_status))
        .route(
            "/v1/partner/subscriptions/{activation_reference}/renewals",
            post(renewals::renewal),
        )
        .layer(axum::middleware::from_fn(request_log::record))
        .layer(Extension(api))
}

/// Constant-time equality, so a key's hash cannot be found byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl PartnerApi {
    /// The account whose key the Bearer header carries, then its rate limit.
    async fn admit(
        &self,
        s: &AppState,
        headers: &HeaderMap,
    ) -> Result<&PartnerAccount, PartnerError> {
        let unauthorised = || {
            PartnerError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send Authorization: Bearer <partner api key>",
            )
        };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorised)?;
        let hash = hex::encode(Sha256::digest(token.as_bytes()));
        let account = self
            .accounts
            .iter()
            .find(|a| {
                same(
                    a.key_sha256.to_ascii_lowercase().as_bytes(),
                    hash.as_bytes(),
                )
            })
            .ok_or_else(unauthorised)?;
        let allowed = crate::providers::Gates::take_token(
            s.rt.store.pool(),
            "partner_api",
            &account.id,
            self.per_minute,
            Duration::from_secs(60),
        )
        .await
        .map_err(|e| PartnerError::from(crate::store::Error::from(e)))?;
        if !allowed {
            // One token comes back every 60/rate seconds.
            let wait = 60.0 / f64::from(self.per_minute);
            let mut e = PartnerError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many requests; retry after the time in Retry-After",
            );
            e.retry_after = Some(wait.ceil().max(1.0) as u64);
            return Err(e);
        }
        Ok(account)
    }

    async fn products(&self, s: &AppState) -> Result<Arc<Vec<Product>>, PartnerError> {
        if let Some((at, items)) = &*self.cache.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < self.ttl
        {
            return Ok(items.clone());
        }
        let fresh = Arc::new(s.rt.store.partner_products().await?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}
