//! Billing routes beside one invoice per order: the invoice list, manual invoices for a
//! company (drafted, edited, then issued), adjustment and credit-note lines, and an invoice
//! as a PDF. Operators write; any token reads what it reaches (a service only the invoices of
//! its own orders).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::companies::nullable;
use super::pricing::{check_count, check_currency};
use super::{actor, invalid, no_such, parse_id, required, store_error, text, text_up_to, to_json};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState, tenancy};
use crate::domain::hardware::billing::{LineKind, is_overdue};
use crate::domain::hardware::invoice::InvoiceStatus;
use crate::domain::money::Minor;
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::invoice_pdf::InvoiceDocument;
use crate::families::hardware::store::{InvoiceFilter, InvoiceRow, NewLine, OrderPart};
use crate::store;

/// Longest invoice note.
const MAX_NOTES: usize = 2000;
/// Most units on one manual line.
const MAX_QUANTITY: i64 = 10_000;
/// Most invoices one list answers.
const LIST_LIMIT: i64 = 200;

/// An invoice as the API shows it: the row, its lines, what is still owed and whether it is
/// overdue now.
pub(crate) async fn invoice_json(s: &AppState, row: &InvoiceRow) -> Result<Value, ApiError> {
    let lines = s.rt.store.invoice_lines(row.id).await?;
    let mut body = to_json(row)?;
    body["lines"] = to_json(&lines)?;
    body["balance_minor"] = json!(row.total_minor - row.allocated_minor);
    let status: InvoiceStatus = row.status.parse().map_err(|_| ApiError::internal())?;
    body["overdue"] = json!(is_overdue(status, row.due_at, s.rt.clock.now()));
    Ok(body)
}

/// The invoice `id` if `who` reaches it: a service only its own orders' invoices.
async fn reachable(s: &AppState, who: &Principal, id: Uuid) -> Result<InvoiceRow, ApiError> {
    let owner = s.rt.store.hardware_owner(OrderPart::Invoice, id).await?;
    tenancy::visible(who, owner.as_deref(), "invoice")?;
    s.rt.store
        .invoice(id)
        .await?
        .ok_or_else(|| no_such("invoice"))
}

/// An invoice with its lines, balance and whether it is overdue; `{id}.pdf` is the PDF.
#[utoipa::path(get, path = "/v1/invoices/{id}", operation_id = "show_invoice", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "the invoice"), (status = 400, description = "id is not a UUID"),
        (status = 404, description = "no such invoice")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(raw) = id.strip_suffix(".pdf") {
        return pdf(s, who, raw).await;
    }
    let id = parse_id(&id, "invoice")?;
    let row = reachable(&s, &who, id).await?;
    Ok(Json(invoice_json(&s, &row).await?).into_response())
}

/// The invoice as a PDF: number, company, dates, lines, total, paid and balance.
#[utoipa::path(get, path = "/v1/invoices/{id}.pdf", operation_id = "invoice_pdf", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "application/pdf", content_type = "application/pdf"),
        (status = 400, description = "id is not a UUID"), (status = 404, description = "no such invoice")))]
pub(crate) async fn pdf(s: AppState, who: Principal, raw: &str) -> Result<Response, ApiError> {
    let id = parse_id(raw, "invoice")?;
    let row = reachable(&s, &who, id).await?;
    let company =
        s.rt.store
            .company(&row.company_id)
            .await?
            .ok_or_else(ApiError::internal)?;
    let lines = s.rt.store.invoice_lines(id).await?;
    let bytes = InvoiceDocument {
        invoice: &row,
        company: &company,
        lines: &lines,
    }
    .render();
    let name = row.number.clone().unwrap_or_else(|| format!("draft-{id}"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One company's invoices.
    #[serde(default)]
    pub company: Option<String>,
    /// draft, issued, partially_paid, paid or void.
    #[serde(default)]
    pub status: Option<String>,
    /// true: unpaid and past due now; false: the others.
    #[serde(default)]
    pub overdue: Option<bool>,
}

/// Invoices, newest first (at most 200).
#[utoipa::path(get, path = "/v1/invoices", operation_id = "list_invoices", tag = "hardware", params(ListQuery),
    responses((status = 200, description = "{invoices: [...]}"), (status = 400, description = "an unknown parameter or status")))]
pub(crate) async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let status = q
        .status
        .as_deref()
        .map(|raw| {
            raw.parse::<InvoiceStatus>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("status {raw:?}: use draft, issued, partially_paid, paid or void"),
                )
            })
        })
        .transpose()?;
    let filter = InvoiceFilter {
        company: text("company", &q.company)?,
        status,
        overdue: q.overdue,
        tenant: tenancy::tenant(&who).map(str::to_string),
        limit: LIST_LIMIT,
    };
    let rows = s.rt.store.list_invoices(&filter, s.rt.clock.now()).await?;
    let now = s.rt.clock.now();
    let invoices: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = to_json(r)?;
            let status: InvoiceStatus = r.status.parse().map_err(|_| ApiError::internal())?;
            v["balance_minor"] = json!(r.total_minor - r.allocated_minor);
            v["overdue"] = json!(is_overdue(status, r.due_at, now));
            Ok(v)
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(json!({ "invoices": invoices })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualLine {
    pub description: Option<String>,
    /// 1 to 10 000; 1 when absent.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// In minor units (cents), 0 to 10^15.
    pub unit_amount_minor: i64,
}

fn check_lines(lines: &[ManualLine]) -> Result<Vec<NewLine>, ApiError> {
    check_count(lines.len())?;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let n = i + 1;
            let quantity = l.quantity.unwrap_or(1);
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(invalid(
                    "invalid_quantity",
                    format!("line {n}: quantity must be 1 to {MAX_QUANTITY}"),
                ));
            }
            let fits = (0..=Minor::MAX).contains(&l.unit_amount_minor)
                && l.unit_amount_minor
                    .checked_mul(quantity)
                    .is_some_and(|t| t <= Minor::MAX);
            if !fits {
                return Err(invalid(
                    "amount_too_large",
                    format!("line {n}: the amount must be 0 to {} cents", Minor::MAX),
                ));
            }
            Ok(NewLine {
                description: required(&format!("line {n}: description"), &l.description)?,
                quantity: i32::try_from(quantity).unwrap_or(1),
                unit_amount_minor: l.unit_amount_minor,
            })
        })
        .collect()
}

/// An invoice error from the store: 409 for a state that forbids it, 422 for bad input.
fn billing_error(e: store::Error) -> ApiError {
    match e {
        store::Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "illegal_transition", m),
        store::Error::Invalid(m) => invalid("invalid_invoice", m),
        other => store_error("invoice")(other),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewManualInvoice {
    pub company_id: Option<String>,
    /// Defaults to `[hardware] default_currency`.
    #[serde(default)]
    pub currency: Option<String>,
    pub lines: Vec<ManualLine>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Drafts a manual invoice for a company of the directory.
#[utoipa::path(post, path = "/v1/invoices", operation_id = "create_manual_invoice", tag = "hardware", request_body = NewManualInvoice,
    responses((status = 201, description = "the draft invoice"),
        (status = 422, description = "an unknown company, no lines, or a line that does not fit")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<NewManualInvoice>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let company = required("company_id", &req.company_id)?;
    let lines = check_lines(&req.lines)?;
    let currency = check_currency(
        req.currency
            .as_deref()
            .unwrap_or(&settings.default_currency),
    )?;
    let notes = text_up_to("notes", &req.notes, MAX_NOTES)?;
    if s.rt.store.company(&company).await?.is_none() {
        return Err(invalid(
            "unknown_company",
            format!("company {company} is not in the directory"),
        ));
    }
    let row =
        s.rt.store
            .create_manual_invoice(
                &company,
                &currency,
                &lines,
                notes.as_deref(),
                &actor(&who),
                s.rt.clock.now(),
            )
            .await
            .map_err(billing_error)?;
    Ok((StatusCode::CREATED, Json(invoice_json(&s, &row).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualInvoiceChange {
    /// Replaces every line.
    #[serde(default)]
    pub lines: Option<Vec<ManualLine>>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// Edits a manual draft: its lines, currency or notes.
#[utoipa::path(patch, path = "/v1/invoices/{id}", operation_id = "edit_manual_invoice", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    request_body = ManualInvoiceChange,
    responses((status = 200, description = "the draft"), (status = 404, description = "no such invoice"),
        (status = 409, description = "issued already, or an order's invoice"), (status = 422, description = "nothing to change or a bad line")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ManualInvoiceChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "invoice")?;
    let lines = req.lines.as_deref().map(check_lines).transpose()?;
    let currency = req.currency.as_deref().map(check_currency).transpose()?;
    let notes = req
        .notes
        .as_ref()
        .map(|n| text_up_to("notes", n, MAX_NOTES))
        .transpose()?;
    if lines.is_none() && currency.is_none() && notes.is_none() {
        return Err(invalid("nothing_to_change", "the body changes nothing"));
    }
    let row =
        s.rt.store
            .edit_manual_invoice(
                id,
                lines.as_deref(),
                currency.as_deref(),
                notes.as_ref().map(|n| n.as_deref()),
                &actor(&who),
                s.rt.clock.now(),
            )
            .await
            .map_err(billing_error)?;
    Ok(Json(invoice_json(&s, &row).await?))
}

/// Issues a manual draft: numbered, and due by the company's payment terms.
#[utoipa::path(post, path = "/v1/invoices/{id}/issue", operation_id = "issue_manual_invoice", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "the issued invoice"), (status = 404, description = "no such invoice"),
        (status = 409, description = "not a manual draft"), (status = 422, description = "no lines")))]
pub(crate) async fn issue(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "invoice")?;
    let row =
        s.rt.store
            .issue_manual_invoice(id, s.rt.clock.now())
            .await
            .map_err(billing_error)?;
    Ok(Json(invoice_json(&s, &row).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoiceLine {
    /// `adjustment` (either sign) or `credit` (a credit note, negative).
    pub kind: String,
    pub description: Option<String>,
    /// In minor units (cents).
    pub amount_minor: i64,
}

/// Adds an adjustment or credit note to an open invoice; the total and balance follow.
#[utoipa::path(post, path = "/v1/invoices/{id}/lines", operation_id = "add_invoice_line", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    request_body = NewInvoiceLine,
    responses((status = 200, description = "the invoice with the line"), (status = 404, description = "no such invoice"),
        (status = 409, description = "paid or void, or the line would take the total below what was paid"),
        (status = 422, description = "an unknown kind or an amount of the wrong sign")))]
pub(crate) async fn add_line(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewInvoiceLine>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "invoice")?;
    let kind = match req.kind.trim() {
        "adjustment" => LineKind::Adjustment,
        "credit" => LineKind::Credit,
        other => {
            return Err(invalid(
                "invalid_kind",
                format!("kind {other:?}: use adjustment or credit"),
            ));
        }
    };
    let description = required("description", &req.description)?;
    let sign_ok = match kind {
        LineKind::Credit => req.amount_minor < 0,
        _ => req.amount_minor != 0,
    };
    if !sign_ok || req.amount_minor.unsigned_abs() > Minor::MAX.unsigned_abs() {
        return Err(invalid(
            "invalid_amount",
            format!(
                "amount_minor: a credit note is below 0, an adjustment not 0, and neither past {} cents",
                Minor::MAX
            ),
        ));
    }
    let row =
        s.rt.store
            .add_invoice_line(
                id,
                kind,
                &description,
                req.amount_minor,
                &actor(&who),
                s.rt.clock.now(),
            )
            .await
            .map_err(billing_error)?;
    Ok(Json(invoice_json(&s, &row).await?))
}
