//! Invoices in the console: a list by status, company and overdue (overdue ones marked in
//! words and a sign, not only colour), one invoice with its lines, adjustments and credit
//! notes, payments and balance, and its PDF behind the console's session (the same renderer
//! as `GET /v1/invoices/{id}.pdf`).

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{given, label, money};
use crate::api::auth::Principal;
use crate::api::ui::pages::chrome;
use crate::api::ui::view::{Chrome, opt_when, render, when};
use crate::api::{ApiError, AppState, parse_id};
use crate::domain::hardware::billing::is_overdue;
use crate::domain::hardware::invoice::InvoiceStatus;
use crate::families::hardware::store::{InvoiceFilter, InvoiceRow};

/// Invoices one list page shows.
const LIST_LIMIT: i64 = 200;

const STATUSES: &[&str] = &["draft", "issued", "partially_paid", "paid", "void"];

pub struct InvoiceLine {
    pub id: String,
    pub number: String,
    pub company_id: String,
    pub kind: String,
    pub status: String,
    pub total: String,
    pub balance: String,
    pub due: String,
    pub overdue: bool,
}

fn overdue(r: &InvoiceRow, now: DateTime<Utc>) -> bool {
    r.status
        .parse::<InvoiceStatus>()
        .is_ok_and(|st| is_overdue(st, r.due_at, now))
}

pub(crate) fn invoice_lines(rows: &[InvoiceRow], now: DateTime<Utc>) -> Vec<InvoiceLine> {
    rows.iter()
        .map(|r| InvoiceLine {
            id: r.id.to_string(),
            number: r.number.clone().unwrap_or_else(|| "draft".into()),
            company_id: r.company_id.clone(),
            kind: r.kind.clone(),
            status: label(&r.status),
            total: money(r.total_minor, &r.currency),
            balance: money(r.total_minor - r.allocated_minor, &r.currency),
            due: opt_when(&r.due_at),
            overdue: overdue(r, now),
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub company: Option<String>,
    /// `yes`, `no` or blank.
    pub overdue: Option<String>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "hardware_invoices.html")]
pub struct InvoicesPage {
    pub chrome: Chrome,
    pub statuses: Vec<Choice>,
    pub company: String,
    pub overdue: String,
    pub rows: Vec<InvoiceLine>,
    pub error: Option<String>,
}

/// Invoices, newest first.
#[utoipa::path(get, path = "/ui/invoices", tag = "console", responses((status = 200, description = "HTML"), (status = 400, description = "HTML: a filter that does not fit")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = given(&q.status);
    let overdue_text = given(&q.overdue).unwrap_or_default();
    let mut error = None;
    let parsed = match status.as_deref() {
        None => None,
        Some(st) => match st.parse::<InvoiceStatus>() {
            Ok(v) if STATUSES.contains(&st) => Some(v),
            _ => {
                error = Some(format!(
                    "There is no invoice status {st:?}; choose one from the list."
                ));
                None
            }
        },
    };
    let overdue = match overdue_text.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        other => {
            error = Some(format!("Overdue is yes, no or blank, not {other:?}."));
            None
        }
    };
    let now = s.rt.clock.now();
    let filter = InvoiceFilter {
        company: given(&q.company),
        status: parsed,
        overdue,
        tenant: None,
        limit: LIST_LIMIT,
    };
    let rows = match error {
        Some(_) => Vec::new(),
        None => invoice_lines(&s.rt.store.list_invoices(&filter, now).await?, now),
    };
    let failed = error.is_some();
    let mut res = render(&InvoicesPage {
        chrome: chrome(&who, "hardware"),
        statuses: STATUSES
            .iter()
            .map(|v| Choice {
                value: v,
                label: label(v),
                selected: status.as_deref() == Some(*v),
            })
            .collect(),
        company: filter.company.unwrap_or_default(),
        overdue: overdue_text,
        rows,
        error,
    });
    if failed {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(res)
}

pub struct LineRow {
    pub kind: String,
    pub description: String,
    pub quantity: i32,
    pub unit: String,
    pub amount: String,
    pub added: String,
}

pub struct AllocationLine {
    pub kind: String,
    pub reference: String,
    pub payment: String,
    pub allocated: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "hardware_invoice.html")]
pub struct InvoicePage {
    pub chrome: Chrome,
    pub id: String,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub company_id: String,
    pub order_id: String,
    pub total: String,
    pub allocated: String,
    pub balance: String,
    pub issued: String,
    pub due: String,
    pub overdue: bool,
    pub paid: String,
    pub notes: String,
    pub void_reason: String,
    pub items: Vec<LineRow>,
    pub adjustments: Vec<LineRow>,
    pub allocations: Vec<AllocationLine>,
}

/// One invoice.
#[utoipa::path(get, path = "/ui/invoices/{id}", tag = "console", params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "HTML"), (status = 400, description = "not a UUID"), (status = 404, description = "no such invoice")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "invoice")?;
    let store = &s.rt.store;
    let row = store
        .invoice(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such invoice"))?;
    let now = s.rt.clock.now();
    let cur = row.currency.clone();
    let (items, adjustments): (Vec<_>, Vec<_>) = store
        .invoice_lines(id)
        .await?
        .into_iter()
        .partition(|l| l.kind == "item");
    let line = |l: crate::families::hardware::store::InvoiceLineRow| LineRow {
        kind: match l.kind.as_str() {
            "credit" => "credit note".into(),
            other => label(other),
        },
        description: l.description,
        quantity: l.quantity,
        unit: money(l.unit_amount_minor, &cur),
        amount: money(l.amount_minor, &cur),
        added: match (&l.created_at, &l.created_by) {
            (Some(at), Some(by)) => format!("{} by {by}", when(at)),
            (Some(at), None) => when(at),
            _ => String::new(),
        },
    };
    let allocations = store
        .invoice_allocations(id)
        .await?
        .into_iter()
        .map(|a| AllocationLine {
            kind: a.kind,
            reference: a.provider_ref,
            payment: money(a.payment_minor, &a.currency),
            allocated: money(a.allocated_minor, &a.currency),
            at: when(&a.allocated_at),
        })
        .collect();
    Ok(render(&InvoicePage {
        chrome: chrome(&who, "hardware"),
        id: row.id.to_string(),
        number: row.number.clone().unwrap_or_else(|| "draft".into()),
        kind: row.kind.clone(),
        status: label(&row.status),
        company_id: row.company_id.clone(),
        order_id: row.order_id.map(|o| o.to_string()).unwrap_or_default(),
        total: money(row.total_minor, &cur),
        allocated: money(row.allocated_minor, &cur),
        balance: money(row.total_minor - row.allocated_minor, &cur),
        issued: opt_when(&row.issued_at),
        due: opt_when(&row.due_at),
        overdue: overdue(&row, now),
        paid: opt_when(&row.paid_at),
        notes: row.notes.clone().unwrap_or_default(),
        void_reason: row.void_reason.clone().unwrap_or_default(),
        items: items.into_iter().map(line).collect(),
        adjustments: adjustments.into_iter().map(line).collect(),
        allocations,
    }))
}

/// The invoice's PDF for a console session: the API's renderer and answer.
#[utoipa::path(get, path = "/ui/invoices/{id}/pdf", tag = "console", params(("id" = String, Path, description = "invoice id")),
    responses((status = 200, description = "application/pdf"), (status = 404, description = "no such invoice")))]
pub async fn pdf(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    crate::families::hardware::api::billing::pdf(s, who, &id).await
}
