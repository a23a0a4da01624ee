//! The web console under `/ui`: server-rendered askama pages behind a token login and a
//! server-side session (the cookie holds only a random id), with a CSRF token on every form
//! that changes anything.

pub mod actions;
pub mod job_runs;
pub mod pages;
pub mod pictures;
pub mod search;
pub mod session;
pub(crate) mod view;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::{Principal, Role, Tokens, session_cookie};

/// The console's routes; every page but the login form needs a viewer or operator session.
/// `families` are the workflow families' console pages, behind the same session.
pub fn router(state: AppState, tokens: Tokens, families: Router<AppState>) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui", get(pages::overview))
        .route("/ui/sagas", get(pages::list))
        .route("/ui/search", get(search::search))
        .route("/ui/sagas/export.csv", get(pages::export))
        .route("/ui/sagas/{id}", get(pages::detail))
        .route("/ui/sagas/{id}/{action}", post(actions::operate))
        // The saga picture's fragment, which a live saga's page polls.
        .route("/ui/sagas/{id}/picture", get(pictures::saga::picture))
        .route("/ui/attention", get(pages::attention))
        .route("/ui/attention/retry", post(actions::bulk_retry))
        .route("/ui/queues", get(pages::queues))
        .route("/ui/jobs/{id}", get(pages::job))
        // Job runs: one step of a queued workflow, with its progress and what it works on.
        .route("/ui/job-runs/{saga}/{step}", get(job_runs::show))
        .route("/ui/logout", post(session::logout))
        .merge(families)
        .route_layer(middleware::from_fn_with_state(
            (state.clone(), tokens),
            require_session,
        ));
    Router::new()
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/static/console.css", get(css))
        .route("/ui/static/console.js", get(js))
        .merge(pages)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Resolves the session cookie against the server's sessions; no live session sends the
/// browser to the login form.
async fn require_session(
    State((s, tokens)): State<(AppState, Tokens)>,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match session_cookie(req.headers()) {
        Some(id) => {
            let id_hash = session::id_hash(&id);
            let limits = s.settings.auth.session_limits();
            match s
                .rt
                .store
                .use_session(&id_hash, limits, s.rt.clock.now())
                .await
            {
                Ok(token) => token
                    .and_then(|t| tokens.resolve_hash(&t))
                    .map(|p| Principal {
                        token_hash: id_hash,
                        ..p
                    }),
                Err(e) => return super::ApiError::from(e).into_response(),
            }
        }
        None => None,
    };
    match principal {
        Some(p) if p.role == Role::Service => (
            StatusCode::FORBIDDEN,
            Html("The console is for viewers and operators; a service token cannot use it."),
        )
            .into_response(),
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => Redirect::to("/ui/login").into_response(),
    }
}

/// Pages are never framed, sniffed or cached, and run only the console's own script.
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The CSRF token of a session: derived from the token's hash, which a cross-site page can
/// neither read nor guess; every console form posts it back.
pub(crate) fn csrf_token(p: &Principal) -> String {
    hex::encode(Sha256::digest(format!("sagaflow-csrf:{}", p.token_hash)))
}

/// Whether a posted CSRF token is this session's (constant-time compare).
pub fn csrf_ok(p: &Principal, posted: &str) -> bool {
    let want = csrf_token(p);
    want.len() == posted.len()
        && want
            .bytes()
            .zip(posted.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../../static/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../../static/console.js"),
    )
}
