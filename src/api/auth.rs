//! Who is calling: bearer tokens (API) and the console's session cookie, resolved against the
//! hashed tokens in `[auth]`, and the role each route group demands (401 unknown, 403 wrong role).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::config::AuthSettings;

/// What a token may do. Operators can do everything viewers can; services are separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Service => "service",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "service" => Some(Role::Service),
            _ => None,
        }
    }
}

/// An authenticated caller, put in the request's extensions by the auth layer.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's configured name: the actor in history and audit rows.
    pub name: String,
    pub role: Role,
    /// The token's hash for a bearer; for the console, the hash of its session id. The
    /// console derives its CSRF token from it, so each session has its own.
    pub token_hash: String,
}

impl Principal {
    pub(crate) fn can_operate(&self) -> bool {
        self.role == Role::Operator
    }

    /// How sagas this caller started are marked in their first history event.
    pub(crate) fn start_actor(&self) -> String {
        format!("service:{}", self.name)
    }
}

/// The configured tokens by hash.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: Arc<HashMap<String, (String, Role)>>,
}

impl Tokens {
    /// Builds the table; an entry with an unknown role or a malformed hash is skipped with a
    /// warning rather than granting anything.
    pub fn from_settings(s: &AuthSettings) -> Self {
        let mut by_hash = HashMap::new();
        for t in &s.tokens {
            let hash = t.sha256.trim().to_ascii_lowercase();
            match Role::parse(&t.role) {
                Some(role) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    by_hash.insert(hash, (t.name.clone(), role));
                }
                _ => {
                    tracing::warn!(name = %t.name, "ignoring an auth token with a bad role or hash")
                }
            }
        }
        Self {
            by_hash: Arc::new(by_hash),
        }
    }

    /// The principal holding `token`, if it is configured.
    pub(crate) fn resolve(&self, token: &str) -> Option<Principal> {
        self.resolve_hash(&hash_token(token))
    }

    /// The principal whose token hashes to `hash`, if it is still configured.
    pub(crate) fn resolve_hash(&self, hash: &str) -> Option<Principal> {
        self.by_hash.get(hash).map(|(name, role)| Principal {
            name: name.clone(),
            role: *role,
            token_hash: hash.to_string(),
        })
    }
}

/// Lowercase hex SHA-256, the form tokens are configured in.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The console's session cookie name.
pub const SESSION_COOKIE: &str = "sagaflow_session";

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The console's session id from the cookie header, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The roles a route group accepts.
#[derive(Clone, Copy)]
pub struct Allow(pub &'static [Role]);

pub const READ: Allow = Allow(&[Role::Viewer, Role::Operator]);
pub const OPERATE: Allow = Allow(&[Role::Operator]);
pub const START: Allow = Allow(&[Role::Service]);
/// Saga detail and signals: operators, viewers (read) and the service that started the saga
/// (the handler checks ownership).
pub const READ_OR_SERVICE: Allow = Allow(&[Role::Viewer, Role::Operator, Role::Service]);
/// Any configured API token: the API document and the metrics (`[server] docs_access`).
pub const ANY_TOKEN: Allow = Allow(&[Role::Viewer, Role::Operator, Role::Service]);
pub const SIGNAL: Allow = Allow(&[Role::Operator, Role::Service]);
/// A billing portal link for a company: support (operators) or the shop's service. Viewers
/// may not hand out access to a company's billing.
pub const PORTAL_LINK: Allow = Allow(&[Role::Operator, Role::Service]);

/// Middleware for `/v1` groups: a bearer token of an allowed role, or 401/403.
pub(crate) async fn require_bearer(
    State((tokens, allow)): State<(Tokens, Allow)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(principal) = bearer(req.headers()).and_then(|t| tokens.resolve(t)) else {
        return unauthorized().into_response();
    };
    if !allow.0.contains(&principal.role) {
        return forbidden(&principal).into_response();
    }
    req.extensions_mut().insert(principal);
    mask_personal_data(next.run(req).await).await
}

/// Marks a response an operator asked to see unmasked (an audited reveal).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revealed;

/// Every JSON answer of a token-guarded route, with phone numbers and e-mail addresses
/// masked (`domain::pii`), for every role: saga input and data, outbox payloads, billing
/// contacts, errors, business keys. Only an operator's audited reveal passes them through.
async fn mask_personal_data(res: Response) -> Response {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json || res.extensions().get::<Revealed>().is_some() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal().into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    crate::domain::pii::mask_json(&mut value);
    let Ok(masked) = serde_json::to_vec(&value) else {
        return ApiError::internal().into_response();
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(masked))
}

pub fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send a valid token as `Authorization: Bearer <token>`",
    )
}

pub fn forbidden(p: &Principal) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("the {} role may not do this", p.role.as_str()),
    )
}
