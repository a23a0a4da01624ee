//! The customers' billing portal under `/portal`: a company's billing contact, holding a
//! single-use link that support or the shop's service asked for, sees that one company's
//! invoices and payments, downloads invoice PDFs and pays an open balance through a new
//! checkout. Its principal is the company, never a token: portal sessions live in their own
//! table behind their own cookie, so a console session is worthless here and a portal
//! session is worthless in the console and the API.

pub(crate) mod links;
mod pages;
mod pay;

pub(crate) use pay::PortalCheckouts;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

use crate::api::auth::{self, Tokens};
use crate::api::{AppState, guard};
use crate::families::hardware::HardwareSettings;

/// The portal's cookie: apart from the console's `sagaflow_session`, and sent only to
/// `/portal`.
pub const PORTAL_COOKIE: &str = "sagaflow_portal";

/// Who is using the portal: the billing contact of one company, by the session they hold.
#[derive(Debug, Clone)]
pub(crate) struct PortalSession {
    pub company_id: String,
    /// The hash of the session id: what the CSRF token is derived from.
    pub id_hash: String,
}

impl PortalSession {
    /// The CSRF token of this session, which every portal form posts back.
    pub(crate) fn csrf(&self) -> String {
        hex::encode(Sha256::digest(format!(
            "sagaflow-portal-csrf:{}",
            self.id_hash
        )))
    }

    /// Whether a posted CSRF token is this session's (constant-time compare).
    pub(crate) fn csrf_ok(&self, posted: &str) -> bool {
        let want = self.csrf();
        want.len() == posted.len()
            && want
                .bytes()
                .zip(posted.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// What the server keeps of a portal session id or link token: its SHA-256, salted apart
/// from the console's session hashes so one can never be looked up as the other.
pub(crate) fn portal_hash(kind: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("sagaflow-portal-{kind}:{secret}")))
}

/// The link API (operators and the shop's service, by bearer token) and the portal's pages:
/// the link and the checkout landing page are open, the rest need a portal session.
pub(crate) fn routes(tokens: &Tokens) -> Router<AppState> {
    let api = guard(tokens, auth::PORTAL_LINK)(
        Router::new().route("/v1/companies/{id}/portal-sessions", post(links::create)),
    );
    let pages = Router::new()
        .route("/portal", get(pages::home))
        .route("/portal/invoices/{id}", get(pages::invoice))
        .route("/portal/invoices/{id}/pdf", get(pages::pdf))
        .route("/portal/invoices/{id}/pay", post(pay::pay))
        .route("/portal/logout", post(links::logout));
    let open = Router::new()
        .route("/portal/enter/{token}", get(links::enter))
        .route("/portal/checkout/{session}", get(pay::landing));
    api.merge(
        pages
            .merge(open)
            .layer(middleware::from_fn(crate::api::ui::security_headers)),
    )
}

/// The portal session id from its own cookie, if any.
fn portal_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == PORTAL_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The live portal session of a request, if it holds one.
pub(crate) async fn session_of(
    s: &AppState,
    settings: &HardwareSettings,
    headers: &HeaderMap,
) -> Result<Option<PortalSession>, crate::api::ApiError> {
    let Some(id) = portal_cookie(headers) else {
        return Ok(None);
    };
    let id_hash = portal_hash("session", &id);
    let limits = settings.portal_session_limits();
    let company =
        s.rt.store
            .use_portal_session(&id_hash, limits, s.rt.clock.now())
            .await?;
    Ok(company.map(|company_id| PortalSession {
        company_id,
        id_hash,
    }))
}

/// Portal pages take the session as an argument: the portal cookie resolved against the
/// portal's sessions. None (or a console cookie, or a bearer token, which this never reads)
/// gets the "open your link" page, 401.
impl axum::extract::FromRequestParts<AppState> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(settings) = parts
            .extensions
            .get::<std::sync::Arc<HardwareSettings>>()
            .cloned()
        else {
            return Err(crate::api::ApiError::internal().into_response());
        };
        match session_of(s, &settings, &parts.headers).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(pages::refused(
                StatusCode::UNAUTHORIZED,
                "Open your billing portal link",
                "This page needs a billing portal session. Ask your supplier's support for a \
                 new link: each link opens once, and only for a short while.",
            )),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The `Set-Cookie` of a new portal session (or, with `None`, of its removal).
fn cookie(id: Option<&str>, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    let value = id.unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{PORTAL_COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}
