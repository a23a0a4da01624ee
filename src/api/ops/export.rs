//! `GET /v1/sagas/export.csv`: the search's every row as CSV, streamed from one database
//! cursor straight into the response body.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::api::auth::{Principal, Role};
use crate::api::sagas::parse_list_query;
use crate::api::{ApiError, AppState};
use crate::store::ExportRow;

const HEADER: &str =
    "id,workflow,status,business_key,current_step,attempt,error_code,created_at,finished_at\n";

#[utoipa::path(get, path = "/v1/sagas/export.csv", tag = "sagas", params(super::search::SearchParams),
    responses((status = 200, description = "text/csv, one saga a line", content_type = "text/csv")))]
pub async fn export(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = parse_list_query(query)?;
    let mut search = q.search.to_search()?;
    if who.role == Role::Service {
        search.started_by = Some(who.start_actor());
    }
    let rows = s.rt.store.export_sagas(search);
    let lines = futures::stream::once(async { Ok::<_, std::io::Error>(HEADER.to_string()) }).chain(
        rows.map(|r| match r {
            Ok(row) => Ok(line(&row)),
            Err(e) => {
                // The status line is gone already; cut the body short so the client sees it.
                tracing::error!(error = %e, "export failed mid-stream");
                Err(std::io::Error::other("export failed"))
            }
        }),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sagas.csv\"",
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

fn line(r: &ExportRow) -> String {
    let fields = [
        r.id.to_string(),
        r.workflow.clone(),
        r.status.clone(),
        r.business_key.clone().unwrap_or_default(),
        r.current_step.clone().unwrap_or_default(),
        r.attempt.to_string(),
        r.error_code.clone().unwrap_or_default(),
        r.created_at.to_rfc3339(),
        r.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
    ];
    // Masked like every JSON answer (`domain::pii`): a business key may be a phone number.
    let mut out = fields
        .iter()
        .map(|f| csv_field(&crate::domain::pii::mask_text(f)))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    out
}

/// Quotes a field holding a comma, quote or line break; a leading `=+-@` is prefixed with `'`
/// so a spreadsheet does not run it as a formula.
pub(crate) fn csv_field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@']) {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}
