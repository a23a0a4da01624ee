//! The portal's pages: the company's invoices (status, due date, balance, PDF, a Pay button
//! on what is still open), one invoice with its lines, and its payments with their
//! allocations. Each read names the session's company in SQL: another company's invoice is
//! "not found" (404), exactly like one that does not exist.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PortalSession;
use crate::api::ui::view::render;
use crate::api::{ApiError, AppState};
use crate::domain::hardware::billing::is_overdue;
use crate::domain::hardware::invoice::InvoiceStatus;
use crate::families::hardware::invoice_pdf::InvoiceDocument;
use crate::families::hardware::store::InvoiceRow;

/// `12.50 USD`, `-3.00 USD`.
pub(crate) fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        abs / 100,
        abs % 100,
        currency.to_ascii_uppercase()
    )
}

fn day(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "—".into())
}

/// An invoice as a billing contact reads it.
pub(crate) struct InvoiceView {
    pub id: Uuid,
    pub number: String,
    pub status: &'static str,
    /// The CSS tag of the status, always shown beside its word.
    pub tone: &'static str,
    pub overdue: bool,
    pub issued: String,
    pub due: String,
    pub total: String,
    pub balance: String,
    /// Issued or partly paid with something still to pay: it can be paid here.
    pub payable: bool,
}

impl InvoiceView {
    pub(crate) fn of(row: &InvoiceRow, now: DateTime<Utc>) -> Self {
        let status: InvoiceStatus = row.status.parse().unwrap_or(InvoiceStatus::Issued);
        let balance = row.total_minor - row.allocated_minor;
        let overdue = is_overdue(status, row.due_at, now);
        let (label, tone) = match status {
            InvoiceStatus::Paid => ("Paid", "completed"),
            InvoiceStatus::PartiallyPaid => ("Partly paid", "pending"),
            InvoiceStatus::Void => ("Void", "cancelled"),
            InvoiceStatus::Draft | InvoiceStatus::Issued => ("Open", "pending"),
        };
        InvoiceView {
            id: row.id,
            number: row.number.clone().unwrap_or_else(|| "—".into()),
            status: label,
            tone: if overdue { "failed" } else { tone },
            overdue,
            issued: day(row.issued_at),
            due: day(row.due_at),
            total: money(row.total_minor, &row.currency),
            balance: money(balance, &row.currency),
            payable: matches!(status, InvoiceStatus::Issued | InvoiceStatus::PartiallyPaid)
                && balance > 0,
        }
    }
}

/// A payment or refund, with the invoices it went to.
pub(crate) struct PaymentView {
    pub date: String,
    pub kind: &'static str,
    pub amount: String,
    /// `INV-000001: 120.00 USD` for each allocation.
    pub allocations: Vec<String>,
}

/// The header of every portal page.
pub(crate) struct PortalChrome {
    pub company: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    chrome: PortalChrome,
    invoices: Vec<InvoiceView>,
    payments: Vec<PaymentView>,
}

#[derive(Template)]
#[template(path = "portal_invoice.html")]
struct InvoicePage {
    chrome: PortalChrome,
    invoice: InvoiceView,
    lines: Vec<(String, i32, String)>,
}

#[derive(Template)]
#[template(path = "portal_message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page that only says something (a refused link, no session, signed out), with `status`.
pub(crate) fn refused(status: StatusCode, title: &str, message: &str) -> Response {
    let mut res = render(&MessagePage { title, message });
    *res.status_mut() = status;
    res
}

/// 404 in the portal's words: the same for another company's invoice as for none at all.
pub(crate) fn not_found() -> Response {
    refused(
        StatusCode::NOT_FOUND,
        "Invoice not found",
        "There is no such invoice in your billing portal.",
    )
}

pub(crate) async fn chrome(
    s: &AppState,
    session: &PortalSession,
) -> Result<PortalChrome, ApiError> {
    let company =
        s.rt.store
            .company(&session.company_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_else(|| session.company_id.clone());
    Ok(PortalChrome {
        company,
        csrf: session.csrf(),
    })
}

/// The company's invoices and payments.
pub(crate) async fn home(State(s): State<AppState>, session: PortalSession) -> Response {
    match home_page(&s, &session).await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

async fn home_page(s: &AppState, session: &PortalSession) -> Result<HomePage, ApiError> {
    let now = s.rt.clock.now();
    let store = &s.rt.store;
    let invoices = store.portal_invoices(&session.company_id).await?;
    let (payments, allocations) = store.portal_payments(&session.company_id).await?;
    let payments = payments
        .iter()
        .map(|p| PaymentView {
            date: p.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            kind: match p.kind.as_str() {
                "refund" => "Refund",
                "manual" => "Bank transfer",
                _ => "Card payment",
            },
            amount: money(p.amount_minor, &p.currency),
            allocations: allocations
                .iter()
                .filter(|a| a.payment_record_id == p.id)
                .map(|a| {
                    let number = a.number.as_deref().unwrap_or("—");
                    format!("{number}: {}", money(a.amount_minor, &p.currency))
                })
                .collect(),
        })
        .collect();
    Ok(HomePage {
        chrome: chrome(s, session).await?,
        invoices: invoices.iter().map(|i| InvoiceView::of(i, now)).collect(),
        payments,
    })
}

/// The company's invoice `id`, or the 404 page (a malformed id too: nothing to tell apart).
pub(crate) async fn own_invoice(
    s: &AppState,
    session: &PortalSession,
    raw: &str,
) -> Result<InvoiceRow, Response> {
    let Ok(id) = raw.parse::<Uuid>() else {
        return Err(not_found());
    };
    match s.rt.store.portal_invoice(&session.company_id, id).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(not_found()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// One invoice: its facts, lines, PDF and Pay button.
pub(crate) async fn invoice(
    State(s): State<AppState>,
    session: PortalSession,
    Path(raw): Path<String>,
) -> Response {
    let row = match own_invoice(&s, &session, &raw).await {
        Ok(row) => row,
        Err(res) => return res,
    };
    let page = async {
        let lines = s.rt.store.invoice_lines(row.id).await?;
        Ok::<_, ApiError>(InvoicePage {
            chrome: chrome(&s, &session).await?,
            invoice: InvoiceView::of(&row, s.rt.clock.now()),
            lines: lines
                .iter()
                .map(|l| {
                    (
                        l.description.clone(),
                        l.quantity,
                        money(l.amount_minor, &row.currency),
                    )
                })
                .collect(),
        })
    };
    match page.await {
        Ok(page) => render(&page),
        Err(e) => e.into_response(),
    }
}

/// The invoice as a PDF, as the API renders it.
pub(crate) async fn pdf(
    State(s): State<AppState>,
    session: PortalSession,
    Path(raw): Path<String>,
) -> Response {
    let row = match own_invoice(&s, &session, &raw).await {
        Ok(row) => row,
        Err(res) => return res,
    };
    let parts = async {
        let company =
            s.rt.store
                .company(&row.company_id)
                .await?
                .ok_or_else(ApiError::internal)?;
        let lines = s.rt.store.invoice_lines(row.id).await?;
        Ok::<_, ApiError>((company, lines))
    };
    let (company, lines) = match parts.await {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    let bytes = InvoiceDocument {
        invoice: &row,
        company: &company,
        lines: &lines,
    }
    .render();
    let name = row.number.clone().unwrap_or_else(|| row.id.to_string());
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response()
}
