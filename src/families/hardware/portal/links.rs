//! Portal links: support or the shop's service asks for one for a company
//! (`POST /v1/companies/{id}/portal-sessions`) and sends it to the billing contact; opening it
//! once starts a portal session for that company. Only the hash of a link's token is kept,
//! with who asked for it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::pages::refused;
use super::{PortalSession, cookie, portal_hash};
use crate::api::auth::Principal;
use crate::api::tenancy;
use crate::api::{ApiError, AppState};
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::api::{actor, no_such};
use crate::store;

/// Creates a single-use link to the company's billing portal, valid for
/// `[hardware] portal_link_ttl`. The token is in the answer only; the server keeps its hash.
#[utoipa::path(post, path = "/v1/companies/{id}/portal-sessions", tag = "hardware",
    params(("id" = String, Path, description = "company id")),
    responses((status = 201, description = "the link (`url`), single use, and when it expires"),
        (status = 404, description = "no such company")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Path(company): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // A shop's service reaches a company only through an order it placed for it; operators
    // reach every company (`api::tenancy`). Anything else reads as no such company.
    if let Some(me) = tenancy::tenant(&who)
        && !s.rt.store.company_ordered_by(&company, me).await?
    {
        return Err(no_such("company"));
    }
    // 256 random bits: a link cannot be guessed in its few minutes of life.
    let token = hex::encode(rand::random::<[u8; 32]>());
    let now = s.rt.clock.now();
    let ttl = chrono::Duration::from_std(settings.portal_link_ttl)
        .unwrap_or(chrono::Duration::minutes(15));
    let expires_at = now + ttl;
    let created_by = actor(&who);
    s.rt.store
        .create_portal_link(
            &portal_hash("link", &token),
            &company,
            &created_by,
            expires_at,
            now,
        )
        .await
        .map_err(|e| match e {
            store::Error::NotFound => no_such("company"),
            other => ApiError::from(other),
        })?;
    tracing::info!(company = %company, created_by = %created_by, %expires_at, "billing portal link created");
    let path = format!("/portal/enter/{token}");
    let base = settings.portal_base_url.trim_end_matches('/');
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "company_id": company,
            "url": format!("{base}{path}"),
            "path": path,
            "expires_at": expires_at,
            "single_use": true,
            "created_by": created_by,
        })),
    ))
}

/// Opens a link: once, before it expires. The first open starts a portal session (its id
/// in a cookie for `/portal` only) and goes to the invoices; any later open, or a late one,
/// is refused with 410 and starts nothing.
pub(crate) async fn enter(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Path(token): Path<String>,
) -> Response {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let opened =
        s.rt.store
            .open_portal_link(
                &portal_hash("link", &token),
                &portal_hash("session", &id),
                s.rt.clock.now(),
            )
            .await;
    match opened {
        Ok(Some(_company)) => {
            let mut res = Redirect::to("/portal").into_response();
            let max_age = settings.portal_session_absolute.as_secs();
            if let Some(v) = cookie(Some(&id), max_age, s.settings.auth.cookie_secure) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Ok(None) => refused(
            StatusCode::GONE,
            "This link can no longer be used",
            "A billing portal link opens once, and only for a short while after it was sent. \
             This one has been used already or has expired. Ask your supplier's support for a \
             new link.",
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Ends the portal session on the server and clears its cookie.
pub(crate) async fn logout(
    State(s): State<AppState>,
    session: PortalSession,
    _headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(&f.csrf) {
        return refused(
            StatusCode::FORBIDDEN,
            "That form has expired",
            "Reload the page and try again.",
        );
    }
    if let Err(e) = s.rt.store.end_portal_session(&session.id_hash).await {
        return ApiError::from(e).into_response();
    }
    let mut res = refused(
        StatusCode::OK,
        "You have signed out",
        "Your billing portal session has ended. Use a new link to come back.",
    );
    if let Some(v) = cookie(None, 0, s.settings.auth.cookie_secure) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
