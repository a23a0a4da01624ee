//! The data-bundle orders screens of the console (the brief's admin dashboard): the list with
//! its filters, cards and fulfilment report (`pages`), and the retries of one order or of the
//! chosen ones, which place a refunded order again (`actions`). Served through
//! `Family::console_routes`, behind the console's session.

pub mod actions;
pub mod pages;

use axum::Router;
use axum::routing::{get, post};

use crate::api::AppState;

/// The console pages' part of the API document (HTML, session cookie).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    pages::list,
    pages::detail,
    pages::report,
    actions::retry,
    actions::bulk_retry
))]
pub(crate) struct Doc;

/// The family's console pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/bundles", get(pages::list))
        .route("/ui/bundles/report.csv", get(pages::report))
        .route("/ui/bundles/retry", post(actions::bulk_retry))
        .route("/ui/bundles/{id}", get(pages::detail))
        .route("/ui/bundles/{id}/retry", post(actions::retry))
}
