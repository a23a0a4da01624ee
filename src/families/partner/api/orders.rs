//! A partner's orders: `POST /v1/partner/fulfilment` validates one and starts the
//! `partner_subscription` saga with its order row, `GET /v1/partner/orders/{order_id}` reads
//! it back.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api::AppState;
use crate::domain::tenure::Tenure;
use crate::engine::runtime::{StartError, StartSaga};
use crate::families::partner::WORKFLOW;
use crate::families::partner::store::{
    Duplicate, NewPartnerOrder, PartnerPlaced, insert_partner_order,
};
use crate::store::{Error, Started};

use super::request::{idempotency_key, json_body, required};
use super::{PartnerApi, PartnerError};

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
    let account = api.admit(&s, &headers).await?;
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
        workflow: WORKFLOW.into(),
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
    let account = api.admit(&s, &headers).await?;
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
