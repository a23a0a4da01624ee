//! Data-bundle orders: `POST /v1/orders/data-bundles` creates the order and starts its saga in
//! one transaction; `GET /v1/orders/{id}` reads it through [`BundleOrders`]. Also the package list and wallets (top-up and balance), which the shop
//! front end and the demo need.

use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api::auth::{self, Principal, Tokens};
use crate::api::sagas::IdempotencyKey;
use crate::api::{ApiError, ApiJson, AppState, guard};
use crate::api::{Shown, tenancy};
use crate::domain::money::Minor;
use crate::domain::order_code::new_order_code;
use crate::domain::phone::{Network, PhoneNumber};
use crate::engine::runtime::StartSaga;
use crate::families::data_bundle::package_id;
use crate::families::data_bundle::status::{FulfillmentStatus, OrderStatus};
use crate::families::data_bundle::store::{BundleOrder, NewBundleOrder, Package, insert_order};
use crate::store::{StartWrite, Started};

use super::WORKFLOW;

/// The data-bundle routes' part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, packages, wallet, top_up),
    tags((name = "orders", description = "Data-bundle orders, packages and wallets")),
)]
pub(crate) struct Doc;

/// The data-bundle routes, each behind its role: shops (service tokens) place orders and top
/// up wallets; operators may also top up; everyone with a token may read.
pub fn routes(tokens: &Tokens) -> Router<AppState> {
    let place =
        guard(tokens, auth::START)(Router::new().route("/v1/orders/data-bundles", post(create)));
    let fund = guard(tokens, auth::SIGNAL)(
        Router::new().route("/v1/wallets/{user_id}/top-ups", post(top_up)),
    );
    let read = guard(tokens, auth::READ_OR_SERVICE)(
        Router::new()
            .route("/v1/packages", get(packages))
            .route("/v1/wallets/{user_id}", get(wallet)),
    );
    place.merge(fund).merge(read)
}

/// A size as `5`, `"5"` or `"5GB"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Size {
    Gb(u32),
    Text(String),
}

impl Size {
    fn gb(&self) -> Option<u32> {
        match self {
            Size::Gb(n) => Some(*n),
            Size::Text(t) => t
                .trim()
                .trim_end_matches(['B', 'b'])
                .trim_end_matches(['G', 'g'])
                .trim()
                .parse()
                .ok(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub user_id: Uuid,
    pub package_id: Option<String>,
    pub network: Option<String>,
    pub size: Option<Size>,
    pub phone_number: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Finds the package the request names, by id or by network and size.
async fn resolve_package(s: &AppState, req: &CreateOrder) -> Result<Package, ApiError> {
    let network = match &req.network {
        Some(n) => Some(n.parse::<Network>().map_err(|_| {
            invalid(
                "unknown_network",
                format!("network {n:?} is not MTN, TELECEL or AIRTELTIGO"),
            )
        })?),
        None => None,
    };
    let id = match (&req.package_id, network, &req.size) {
        (Some(id), _, _) => id.clone(),
        (None, Some(network), Some(size)) => {
            let gb = size
                .gb()
                .ok_or_else(|| invalid("invalid_size", "size must be like 5 or \"5GB\""))?;
            package_id(network, gb)
        }
        _ => {
            return Err(invalid(
                "package_required",
                "send package_id, or network and size",
            ));
        }
    };
    let package =
        s.rt.store
            .package(&id)
            .await?
            .ok_or_else(|| invalid("unknown_package", format!("no package {id:?} is on sale")))?;
    if let Some(network) = network
        && network.as_str() != package.network
    {
        return Err(invalid(
            "network_mismatch",
            format!(
                "package {} is for {}, not {network}",
                package.id, package.network
            ),
        ));
    }
    Ok(package)
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: Uuid,
    pub order_code: String,
    pub saga_id: Uuid,
    pub status: OrderStatus,
    pub fulfillment_status: FulfillmentStatus,
    pub package_id: String,
    pub network: String,
    pub size_gb: i32,
    pub price: String,
    pub currency: &'static str,
    pub phone_number: String,
    pub saga_status: String,
}

impl From<&BundleOrder> for OrderView {
    fn from(o: &BundleOrder) -> Self {
        let phone = PhoneNumber::parse(&o.phone_number)
            .map(|p| p.masked())
            .unwrap_or_default();
        OrderView {
            order_id: o.id,
            order_code: o.order_code.clone(),
            saga_id: o.saga_id,
            status: o.status,
            fulfillment_status: o.fulfillment_status,
            package_id: o.package_id.clone(),
            network: o.network.clone(),
            size_gb: o.size_gb,
            price: Minor(o.price_minor).to_major_string(),
            currency: "GHS",
            phone_number: phone,
            saga_status: o.saga_status.clone(),
        }
    }
}

/// 202 when placed, 200 when the key already placed this same request, 409 when it placed a
/// different one. Bad input is a 4xx and writes nothing.
#[utoipa::path(post, path = "/v1/orders/data-bundles", tag = "orders",
    params(("Idempotency-Key" = String, Header, description = "the shop's key for this purchase")),
    responses((status = 202, description = "order placed, saga started"), (status = 200, description = "the same request again"),
        (status = 409, description = "key reused with another body"), (status = 422, description = "bad phone, network mismatch or unknown package")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateOrder>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let key = IdempotencyKey::from_headers(&headers)?;
    wallet_reachable(&s, &who, req.user_id).await?;
    let phone = PhoneNumber::parse(&req.phone_number)
        .map_err(|e| invalid("invalid_phone", e.to_string()))?;
    let package = resolve_package(&s, &req).await?;
    let network: Network = package.network.parse().map_err(|_| ApiError::internal())?;
    phone
        .check_network(network)
        .map_err(|e| invalid("network_mismatch", e.to_string()))?;
    let canonical = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
    let order = NewBundleOrder {
        id: Uuid::now_v7(),
        user_id: req.user_id,
        package_id: package.id.clone(),
        network: package.network.clone(),
        size_gb: package.size_gb,
        price_minor: package.price_minor,
        phone_number: phone.as_national().to_string(),
        order_code: new_order_code("DB"),
    };
    // A replayed key answers with the order it placed; a new one is accepted.
    let (started, placed) = place(
        &s,
        Placement {
            order,
            network,
            // Scoped by caller and user: two shops, or two customers, may send the same key.
            idempotency_key: format!("{WORKFLOW}:{}:{}:{}", who.name, req.user_id, key.0),
            request_hash: hex::encode(Sha256::digest(canonical)),
            // The shop that placed it owns the saga (it may read it back); the customer is in
            // the input.
            actor: who.start_actor(),
            also: None,
        },
    )
    .await?;
    let status = match started {
        Started::Created(_) => StatusCode::ACCEPTED,
        Started::Existing(_) => StatusCode::OK,
    };
    Ok((status, Json(OrderView::from(&placed))))
}

/// An order about to be placed, and on whose behalf.
pub(crate) struct Placement {
    pub order: NewBundleOrder,
    pub network: Network,
    pub idempotency_key: String,
    /// The same key with another hash is refused (409).
    pub request_hash: String,
    /// The saga's starter, which owns it (`service:<shop>`).
    pub actor: String,
    /// More rows to write in the start transaction, after the order's (an operator's placing
    /// again links the orders and audits it there).
    pub also: Option<StartWrite>,
}

/// Writes the order row and starts its saga in one transaction: the one way a data-bundle
/// order is placed, by a shop's request or by an operator placing a refunded order again.
/// A key seen before answers with the order it placed (`Started::Existing`), writing nothing.
pub(crate) async fn place(s: &AppState, p: Placement) -> Result<(Started, BundleOrder), ApiError> {
    let order = p.order;
    let start = StartSaga {
        workflow: WORKFLOW.into(),
        input: json!({
            "order_id": order.id,
            "user_id": order.user_id,
            "package_id": order.package_id,
            "network": p.network,
            "size_gb": order.size_gb,
            "phone_number": order.phone_number,
            "order_code": order.order_code,
        }),
        business_key: Some(order.order_code.clone()),
        idempotency_key: Some(p.idempotency_key),
        request_hash: Some(p.request_hash),
        actor: p.actor,
    };
    let write = insert_order(order);
    let write: StartWrite = match p.also {
        None => write,
        Some(also) => Box::new(move |conn, saga_id, now| {
            Box::pin(async move {
                write(&mut *conn, saga_id, now).await?;
                also(conn, saga_id, now).await
            })
        }),
    };
    let started = s.rt.start(start, Some(write)).await?;
    let placed =
        s.rt.store
            .bundle_order_of_saga(started.id())
            .await?
            .ok_or_else(ApiError::internal)?;
    Ok((started, placed))
}

/// `GET /v1/orders/{id}` for data-bundle orders.
pub(crate) struct BundleOrders;

#[async_trait::async_trait]
impl crate::api::OrderView for BundleOrders {
    async fn show(&self, s: &AppState, id: Uuid) -> Result<Option<Shown>, ApiError> {
        let Some(body) = bundle_view(s, id).await? else {
            return Ok(None);
        };
        let saga = body["saga_id"].as_str().and_then(|s| s.parse().ok());
        let actor = match saga {
            Some(saga) => s.rt.store.started_by(saga).await?,
            None => None,
        };
        let owner = tenancy::saga_owner(actor.as_deref()).map(str::to_string);
        Ok(Some(Shown { body, owner }))
    }
}

/// A data-bundle order as `GET /v1/orders/{id}` shows it (masked phone, attempts, error
/// code); `None` when `id` is not a data-bundle order.
async fn bundle_view(s: &AppState, id: Uuid) -> Result<Option<Value>, ApiError> {
    let Some(order) = s.rt.store.bundle_order(id).await? else {
        return Ok(None);
    };
    let attempts = s.rt.store.fulfillment_attempts(id).await?;
    let mut view =
        serde_json::to_value(OrderView::from(&order)).map_err(|_| ApiError::internal())?;
    view["attempts"] = serde_json::to_value(attempts).map_err(|_| ApiError::internal())?;
    // The failure, by code only: internal messages stay in the saga for operators.
    view["error_code"] = order
        .last_error
        .as_ref()
        .and_then(|e| e.get("code").cloned())
        .unwrap_or(Value::Null);
    Ok(Some(view))
}

#[utoipa::path(get, path = "/v1/packages", tag = "orders", responses((status = 200, description = "the data-bundle catalogue")))]
pub(crate) async fn packages(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> =
        s.rt.store
            .packages()
            .await?
            .into_iter()
            .map(|p| {
                json!({ "package_id": p.id, "network": p.network, "size_gb": p.size_gb,
                    "price": Minor(p.price_minor).to_major_string(), "currency": "GHS" })
            })
            .collect();
    Ok(Json(json!({ "packages": items })))
}

/// 404 when the user's wallet is another service's: a shop spends and credits only its own
/// customers' wallets. A user without a wallet yet is anyone's to open.
async fn wallet_reachable(s: &AppState, who: &Principal, user: Uuid) -> Result<(), ApiError> {
    match s.rt.store.wallet_owner(user).await? {
        Some(owner) => tenancy::visible(who, owner.as_deref(), "wallet for this user"),
        None => Ok(()),
    }
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("invalid_id", "user id must be a UUID"))
}

#[utoipa::path(get, path = "/v1/wallets/{user_id}", tag = "orders", params(("user_id" = String, Path)),
    responses((status = 200, description = "the wallet's balance in GHS"), (status = 404, description = "no wallet for this user")))]
pub(crate) async fn wallet(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = user_id(&user)?;
    wallet_reachable(&s, &who, user).await?;
    let balance =
        s.rt.store
            .wallet_balance(user)
            .await?
            .ok_or_else(|| ApiError::not_found("no wallet for this user"))?;
    Ok(Json(
        json!({ "user_id": user, "balance": Minor(balance).to_major_string(), "currency": "GHS" }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopUp {
    /// GHS.
    amount: f64,
}

/// Largest single top-up, in GHS.
const MAX_TOP_UP: f64 = 100_000.0;

#[utoipa::path(post, path = "/v1/wallets/{user_id}/top-ups", tag = "orders", params(("user_id" = String, Path)),
    responses((status = 200, description = "wallet credited (idempotent by key)"),
        (status = 409, description = "the key already made a different top-up"),
        (status = 422, description = "an amount that is not above 0 and at most 100000 GHS (`invalid_amount`), or a balance that would pass its limit (`wallet_limit`)")))]
pub(crate) async fn top_up(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(user): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TopUp>,
) -> Result<Json<Value>, ApiError> {
    let user = user_id(&user)?;
    wallet_reachable(&s, &who, user).await?;
    let key = IdempotencyKey::from_headers(&headers)?;
    let amount = Minor::from_major(req.amount)
        .filter(|a| a.0 > 0 && req.amount <= MAX_TOP_UP)
        .ok_or_else(|| {
            invalid(
                "invalid_amount",
                format!("amount must be above 0 and at most {MAX_TOP_UP}"),
            )
        })?;
    let balance =
        s.rt.store
            .top_up_wallet(
                user,
                amount.0,
                // Scoped by caller: another caller's key is another top-up.
                &format!("top-up:{}:{user}:{}", who.name, key.0),
                (
                    &format!("{}:{}", who.role.as_str(), who.name),
                    tenancy::tenant(&who),
                ),
                s.rt.clock.now(),
            )
            .await
            .map_err(|e| match e {
                crate::store::Error::Invalid(message) => invalid("wallet_limit", message),
                crate::store::Error::Conflict(message) => {
                    ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", message)
                }
                e => e.into(),
            })?;
    Ok(Json(
        json!({ "user_id": user, "balance": Minor(balance).to_major_string(), "currency": "GHS" }),
    ))
}
