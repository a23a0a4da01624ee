//! `POST /v1/partner/subscriptions/{activation_reference}/renewals`: after a fulfilled order,
//! the partner renews its licence, which starts the `partner_renewal` saga.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::domain::tenure::Tenure;
use crate::engine::runtime::{StartError, StartSaga};
use crate::families::partner::RENEWAL;

use super::request::{idempotency_key, json_body, required};
use super::{PartnerApi, PartnerError};

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
    let account = api.admit(&s, &headers).await?;
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
        workflow: RENEWAL.into(),
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
