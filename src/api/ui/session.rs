//! Console login and logout: the token is checked, then held in a `Secure; HttpOnly;
//! SameSite=Strict` cookie that scripts cannot read.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view::{LoginPage, render};
use crate::api::AppState;
use crate::api::auth::{Role, SESSION_COOKIE, Tokens};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    pub token: String,
}

/// The login form.
#[utoipa::path(get, path = "/ui/login", tag = "console", security(()), responses((status = 200, description = "HTML")))]
pub(crate) async fn login_form() -> Response {
    render(&LoginPage { error: None })
}

/// Checks the token and sets the session cookie.
#[utoipa::path(post, path = "/ui/login", tag = "console", security(()), responses((status = 303, description = "to the overview"), (status = 401, description = "HTML: bad token")))]
pub async fn login(State(s): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let tokens = Tokens::from_settings(&s.settings.auth);
    match tokens.resolve(f.token.trim()) {
        Some(p) if p.role != Role::Service => {
            let secure = if s.settings.auth.cookie_secure {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=43200{secure}",
                hex::encode(f.token.trim())
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

/// Clears the session cookie. A cross-site logout does no harm, but SameSite=Strict already
/// keeps the cookie off cross-site posts.
#[utoipa::path(post, path = "/ui/logout", tag = "console", responses((status = 303, description = "to the login form")))]
pub(crate) async fn logout() -> Response {
    let mut res = Redirect::to("/ui/login").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
