//! Console sign-in and sign-out. The token is checked once, at sign-in; the browser then
//! holds only a random session id in a `Secure; HttpOnly; SameSite=Strict` cookie, and the
//! server keeps its hash (`console_sessions`) with an idle and an absolute expiry. Sign-out
//! deletes it, so a copied cookie is worthless afterwards, and the API token is never in it.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::view::{LoginPage, render};
use crate::api::auth::{Role, SESSION_COOKIE, Tokens, session_cookie};
use crate::api::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    pub token: String,
}

/// What the server keeps of a session id: its SHA-256.
pub(crate) fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(format!("sagaflow-session:{id}")))
}

/// The login form.
#[utoipa::path(get, path = "/ui/login", tag = "console", security(()), responses((status = 200, description = "HTML")))]
pub(crate) async fn login_form() -> Response {
    render(&LoginPage { error: None })
}

/// Checks the token and starts a session.
#[utoipa::path(post, path = "/ui/login", tag = "console", security(()), responses((status = 303, description = "to the overview"), (status = 401, description = "HTML: bad token")))]
pub async fn login(State(s): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let tokens = Tokens::from_settings(&s.settings.auth);
    match tokens.resolve(f.token.trim()) {
        Some(p) if p.role != Role::Service => {
            // 256 random bits: guessing a live session is out of reach.
            let id = hex::encode(rand::random::<[u8; 32]>());
            let auth = &s.settings.auth;
            if let Err(e) =
                s.rt.store
                    .create_session(
                        &id_hash(&id),
                        &p.token_hash,
                        auth.session_limits(),
                        s.rt.clock.now(),
                    )
                    .await
            {
                return ApiError::from(e).into_response();
            }
            let secure = if auth.cookie_secure { "; Secure" } else { "" };
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                auth.session_absolute.as_secs()
            );
            let mut res = Redirect::to("/ui").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        _ => {
            let mut res = render(&LoginPage {
                error: Some("That token is not valid for the console.".into()),
            });
            *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            res
        }
    }
}

/// Ends the session on the server and clears the cookie. A cross-site logout does no harm,
/// but SameSite=Strict already keeps the cookie off cross-site posts.
#[utoipa::path(post, path = "/ui/logout", tag = "console", responses((status = 303, description = "to the login form")))]
pub(crate) async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers)
        && let Err(e) = s.rt.store.end_session(&id_hash(&id)).await
    {
        return ApiError::from(e).into_response();
    }
    let mut res = Redirect::to("/ui/login").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
