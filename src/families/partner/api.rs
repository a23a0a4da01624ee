//! The partner API under `/v1/partner`, in the partner's own conventions: Bearer keys (compared
//! as SHA-256 hashes), `Idempotency-Key`, errors as `{success: false, errorCode, message}`,
//! a per-key rate limit with `Retry-After`, and a product list cached with a TTL.
//!
//! The limiter and the cache live in the router, so they are per node: with N API nodes a key
//! may make up to N times the configured rate.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api::AppState;
use crate::domain::money::Minor;
use crate::domain::tenure::Tenure;
use crate::engine::runtime::{StartError, StartSaga};
use crate::families::partner::store::{
    Duplicate, NewPartnerOrder, PartnerPlaced, Product, insert_partner_order,
};
use crate::families::partner::{PartnerAccount, PartnerSettings};
use crate::store::{Error, Started};

/// Per-router partner state: accounts, the rate limiter and the product cache.
pub struct PartnerApi {
    accounts: Vec<PartnerAccount>,
    limiter: DefaultKeyedRateLimiter<String>,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Arc<Vec<Product>>)>>,
}

/// The partner API's part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(products, fulfilment, order_status, renewal),
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
/// partner's own key.
pub fn routes(cfg: &PartnerSettings) -> Router<AppState> {
    let per_minute = NonZeroU32::new(cfg.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
    let api = Arc::new(PartnerApi {
        accounts: cfg.accounts.clone(),
        limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        ttl: cfg.products_cache_ttl,
        cache: Mutex::new(None),
    });
    Router::new()
        .route("/v1/partner/products", get(products))
        .route("/v1/partner/fulfilment", post(fulfilment))
        .route("/v1/partner/orders/{order_id}", get(order_status))
        .route(
            "/v1/partner/subscriptions/{activation_reference}/renewals",
            post(renewal),
        )
        .layer(Extension(api))
}

/// An error in the partner's format.
#[derive(Debug)]
pub struct PartnerError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl PartnerError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error; try again later",
        )
    }
}

impl IntoResponse for PartnerError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "errorCode": self.code, "message": self.message });
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<crate::store::Error> for PartnerError {
    fn from(e: crate::store::Error) -> Self {
        tracing::error!(error = %e, "partner request failed");
        PartnerError::internal()
    }
}

impl From<StartError> for PartnerError {
    fn from(e: StartError) -> Self {
        tracing::error!(error = %e, "partner request failed");
        PartnerError::internal()
    }
}

/// Constant-time equality, so a key's hash cannot be found byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl PartnerApi {
    /// The account whose key the Bearer header carries, then its rate limit.
    fn admit(&self, headers: &HeaderMap) -> Result<&PartnerAccount, PartnerError> {
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
        if let Err(not_until) = self.limiter.check_key(&account.id) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut e = PartnerError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "too many requests; retry after the time in Retry-After",
            );
            e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
            return Err(e);
        }
        Ok(account)
    }

    async fn products(&self, s: &AppState) -> Result<Arc<Vec<Product>>, PartnerError> {
        if let Some((at, items)) = &*self.cache.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < self.ttl {
                return Ok(items.clone());
            }
        }
        let fresh = Arc::new(s.rt.store.partner_products().await?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

fn product_json(p: &Product) -> Value {
    json!({
        "productId": p.id,
        "name": p.name,
        "description": p.description,
        "currency": p.currency,
        "prices": {
            "1_MONTH": Minor(p.price_1_month_minor).to_major_string(),
            "12_MONTHS": Minor(p.price_12_months_minor).to_major_string(),
        },
        "tenures": ["1_MONTH", "12_MONTHS"],
    })
}

#[utoipa::path(get, path = "/v1/partner/products", tag = "partner", security(("partner_key" = [])),
    responses((status = 200, description = "the partner's catalogue"), (status = 401, description = "bad key"), (status = 429, description = "rate limited")))]
pub(crate) async fn products(
    State(s): State<AppState>,
    Extension(api): Extension<Arc<PartnerApi>>,
    headers: HeaderMap,
) -> Result<Json<Value>, PartnerError> {
    let account = api.admit(&headers)?;
    let items = api.products(&s).await?;
    Ok(Json(json!({
        "partnerId": account.id,
        "products": items.iter().map(product_json).collect::<Vec<_>>(),
    })))
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, PartnerError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .ok_or_else(|| {
            PartnerError::invalid(
                "MISSING_IDEMPOTENCY_KEY",
                "send an Idempotency-Key header of 1-255 visible ASCII characters",
            )
        })
}

/// Reads a JSON body, answering malformed or oversized bodies in the partner's format.
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, PartnerError> {
    let body = body.map_err(|_| {
        PartnerError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "request body is over the size limit",
        )
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| PartnerError::invalid("INVALID_JSON", format!("body is not valid JSON: {e}")))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct FulfilmentRequest {
    order_id: Option<String>,
    product_id: Option<String>,
    customer_id: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
    tenure: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, PartnerError> {
    value
        .as_deref()
        .map(str::trim)
        // Control characters are refused: Postgres would refuse a NUL with a 500.
        .filter(|v| !v.is_empty() && v.len() <= 200 && !v.contains(char::is_control))
        .ok_or_else(|| {
            PartnerError::invalid(
                "VALIDATION_ERROR",
                format!("{field} is required (at most 200 characters, no control characters)"),
            )
        })
}

fn valid_email(email: &str) -> bool {
    let mut parts = email.splitn(2, '@');
    matches!((parts.next(), parts.next()), (Some(user), Some(domain))
        if !user.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            && !email.contains(char::is_whitespace))
}

fn valid_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && phone
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == ' ' || c == '-' || (c == '+' && i == 0))
}

#[utoipa::path(post, path = "/v1/partner/fulfilment", tag = "partner", security(("partner_key" = [])),
    params(("Idempotency-Key" = String, Header)),
    request_body(content = String, content_type = "application/json",
        description = "{orderId, productId, customerId, customerName, customerEmail, customerPhone, tenure}"),
    responses((status = 202, description = "PROCESSING"), (status = 400, description = "validation"), (status = 401, description = "bad key"),
        (status = 409, description = "duplicate orderId"), (status = 429, description = "rate limited")))]
pub(crate) async fn fulfilment(
    State(s): State<AppState>,
    Extension(api): Extension<Arc<PartnerApi>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PartnerError> {
    let account = api.admit(&headers)?;
    let key = idempotency_key(&headers)?;
    let req: FulfilmentRequest = json_body(body)?;
    let order_id = required(&req.order_id, "orderId")?;
    let product_id = required(&req.product_id, "productId")?;
    let customer_id = required(&req.customer_id, "customerId")?;
    let customer_name = required(&req.customer_name, "customerName")?;
    let customer_email = required(&req.customer_email, "customerEmail")?;
    let customer_phone = required(&req.customer_phone, "customerPhone")?;
    let tenure: Tenure = required(&req.tenure, "tenure")?
        .parse()
        .map_err(|e: String| PartnerError::invalid("INVALID_TENURE", e))?;
    if !valid_email(customer_email) {
        return Err(PartnerError::invalid(
            "VALIDATION_ERROR",
            "customerEmail is not an email address",
        ));
    }
    if !valid_phone(customer_phone) {
        return Err(PartnerError::invalid(
            "VALIDATION_ERROR",
            "customerPhone must be 7 to 15 digits, optionally with a leading +",
        ));
    }
    if !api.products(&s).await?.iter().any(|p| p.id == product_id) {
        return Err(PartnerError::invalid(
            "INVALID_PRODUCT",
            format!("productId {product_id:?} is not in the catalogue"),
        ));
    }
    let canonical = serde_json::to_vec(&req).map_err(|_| PartnerError::internal())?;
    let request_hash = hex::encode(Sha256::digest(canonical));
    let order = NewPartnerOrder {
        id: Uuid::now_v7(),
        partner_id: account.id.clone(),
        order_id: order_id.to_string(),
        idempotency_key: key.clone(),
        request_hash: request_hash.clone(),
        product_id: product_id.to_string(),
        customer_id: customer_id.to_string(),
        customer_name: customer_name.to_string(),
        customer_email: customer_email.to_string(),
        customer_phone: customer_phone.to_string(),
        tenure: tenure.as_str().to_string(),
    };
    let start = StartSaga {
        workflow: super::WORKFLOW.into(),
        input: json!({
            "partner_order_id": order.id,
            "partner_id": order.partner_id,
            "order_id": order.order_id,
            "product_id": order.product_id,
            "tenure": order.tenure,
            "webhook": account.webhook,
        }),
        business_key: Some(format!("partner:{}:{}", account.id, order.order_id)),
        idempotency_key: Some(format!("partner:{}:{key}", account.id)),
        request_hash: Some(request_hash),
        actor: format!("partner:{}", account.id),
    };
    let accepted =
        |order_id: &str| json!({ "success": true, "orderId": order_id, "status": "PROCESSING" });
    match place(&s, order, start).await? {
        PartnerPlaced::Created(o) => {
            Ok((StatusCode::ACCEPTED, Json(accepted(&o.order_id))).into_response())
        }
        PartnerPlaced::Replayed(o) => {
            let mut res = (StatusCode::ACCEPTED, Json(accepted(&o.order_id))).into_response();
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
        PartnerPlaced::Duplicate(Duplicate::OrderId) => Err(PartnerError::new(
            StatusCode::CONFLICT,
            "DUPLICATE_ORDER",
            format!(
                "orderId {order_id:?} was already submitted with another Idempotency-Key or body"
            ),
        )),
        PartnerPlaced::Duplicate(Duplicate::IdempotencyKey) => Err(PartnerError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was already used for a different order",
        )),
    }
}

#[utoipa::path(get, path = "/v1/partner/orders/{order_id}", tag = "partner", security(("partner_key" = [])),
    params(("order_id" = String, Path)), responses((status = 200, description = "the order's status and licence")))]
pub(crate) async fn order_status(
    State(s): State<AppState>,
    Extension(api): Extension<Arc<PartnerApi>>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<Value>, PartnerError> {
    let account = api.admit(&headers)?;
    let o =
        s.rt.store
            .partner_order_by_ref(&account.id, &order_id)
            .await?
            .ok_or_else(|| {
                PartnerError::new(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND", "no such orderId")
            })?;
    Ok(Json(json!({
        "success": true,
        "orderId": o.order_id,
        "status": o.status,
        "productId": o.product_id,
        "tenure": o.tenure,
        "activationReference": o.activation_reference,
    })))
}

#[derive(Debug, Deserialize, Serialize)]
struct RenewalRequest {
    tenure: Option<String>,
}

#[utoipa::path(post, path = "/v1/partner/subscriptions/{activation_reference}/renewals", tag = "partner", security(("partner_key" = [])),
    params(("activation_reference" = String, Path)),
    request_body(content = String, content_type = "application/json", description = "{tenure}"),
    responses((status = 202, description = "renewal started")))]
pub(crate) async fn renewal(
    State(s): State<AppState>,
    Extension(api): Extension<Arc<PartnerApi>>,
    headers: HeaderMap,
    Path(activation_reference): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PartnerError> {
    let account = api.admit(&headers)?;
    let key = idempotency_key(&headers)?;
    let req: RenewalRequest = json_body(body)?;
    let tenure: Tenure = required(&req.tenure, "tenure")?
        .parse()
        .map_err(|e: String| PartnerError::invalid("INVALID_TENURE", e))?;
    s.rt.store
        .licence_by_activation(&account.id, &activation_reference)
        .await?
        .ok_or_else(|| {
            PartnerError::new(
                StatusCode::NOT_FOUND,
                "LICENCE_NOT_FOUND",
                "no such activationReference",
            )
        })?;
    let canonical = json!({ "ref": activation_reference, "tenure": tenure });
    let start = StartSaga {
        workflow: super::RENEWAL.into(),
        input: json!({
            "partner_id": account.id,
            "activation_reference": activation_reference,
            "tenure": tenure,
            "webhook": account.webhook,
        }),
        business_key: Some(format!("partner:{}:{activation_reference}", account.id)),
        idempotency_key: Some(format!("partner-renewal:{}:{key}", account.id)),
        request_hash: Some(hex::encode(Sha256::digest(canonical.to_string()))),
        actor: format!("partner:{}", account.id),
    };
    match s.rt.start(start, None).await {
        Ok(_) => {}
        Err(StartError::Store(crate::store::Error::IdempotencyConflict { .. })) => {
            return Err(PartnerError::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was already used for a different request",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "activationReference": activation_reference, "status": "PROCESSING" })),
    )
        .into_response())
}

/// Places a partner order: an orderId or key seen before answers as a replay or a duplicate;
/// otherwise the order row and its saga start together. A race between two identical
/// requests is settled by the unique indexes, and the loser answers like a repeat.
async fn place(
    s: &AppState,
    order: NewPartnerOrder,
    start: StartSaga,
) -> Result<PartnerPlaced, PartnerError> {
    let store = &s.rt.store;
    if let Some(answer) = store.existing_partner_order(&order).await? {
        return Ok(answer);
    }
    let duplicate = match s
        .rt
        .start(start, Some(insert_partner_order(order.clone())))
        .await
    {
        Ok(Started::Created(_)) => {
            let created = store
                .partner_order(order.id)
                .await?
                .ok_or_else(PartnerError::internal)?;
            return Ok(PartnerPlaced::Created(created));
        }
        Ok(Started::Existing(_)) | Err(StartError::Store(Error::IdempotencyConflict { .. })) => {
            Duplicate::IdempotencyKey
        }
        Err(StartError::Store(Error::Db(sqlx::Error::Database(db))))
            if db.is_unique_violation() =>
        {
            Duplicate::OrderId
        }
        Err(e) => return Err(e.into()),
    };
    Ok(store
        .existing_partner_order(&order)
        .await?
        .unwrap_or(PartnerPlaced::Duplicate(duplicate)))
}
