//! Companies in the console: a searchable list, and one company's page with its contacts and
//! their roles (the primary of each marked), its address book (the defaults marked), and its
//! orders and invoices.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::invoices::{InvoiceLine, invoice_lines};
use super::orders::{OrderLine, order_lines};
use super::{given, label};
use crate::api::auth::Principal;
use crate::api::ui::pages::{chrome, masked};
use crate::api::ui::view::{Chrome, opt_when, render};
use crate::api::{ApiError, AppState};
use crate::families::hardware::store::{InvoiceFilter, OrderListFilter};

/// Companies one list page shows.
const LIST_LIMIT: i64 = 200;
/// Orders and invoices a company's page shows.
const RECENT: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
}

pub struct CompanyLine {
    pub id: String,
    pub name: String,
    pub mirror: String,
    pub terms: String,
}

fn terms(days: i32) -> String {
    match days {
        0 => "prepaid".into(),
        n => format!("net {n} days"),
    }
}

#[derive(Template)]
#[template(path = "hardware_companies.html")]
pub struct CompaniesPage {
    pub chrome: Chrome,
    pub q: String,
    pub rows: Vec<CompanyLine>,
}

/// Companies whose name, id or legacy id contains the search text.
#[utoipa::path(get, path = "/ui/companies", tag = "console", responses((status = 200, description = "HTML")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let search = given(&q.q);
    let rows =
        s.rt.store
            .search_companies(search.as_deref(), LIST_LIMIT)
            .await?;
    Ok(render(&CompaniesPage {
        chrome: chrome(&who, "hardware"),
        q: search.unwrap_or_default(),
        rows: rows
            .into_iter()
            .map(|c| CompanyLine {
                terms: terms(c.payment_terms_days),
                id: c.id,
                name: c.name,
                mirror: c.company_mirror_id,
            })
            .collect(),
    }))
}

pub struct ContactLine {
    pub name: String,
    pub email: String,
    pub phone: String,
    /// Each role, with "(primary)" where the contact is its primary.
    pub roles: Vec<(String, bool)>,
}

pub struct AddressLine {
    pub label: String,
    pub address: String,
    pub validation: String,
    pub last_used: String,
    pub default_shipping: bool,
    pub default_billing: bool,
}

#[derive(Template)]
#[template(path = "hardware_company.html")]
pub struct CompanyPage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub mirror: String,
    pub terms: String,
    pub contacts: Vec<ContactLine>,
    pub addresses: Vec<AddressLine>,
    pub orders: Vec<OrderLine>,
    pub invoices: Vec<InvoiceLine>,
}

/// One company.
#[utoipa::path(get, path = "/ui/companies/{id}", tag = "console", params(("id" = String, Path, description = "company id")),
    responses((status = 200, description = "HTML"), (status = 404, description = "no such company")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = &s.rt.store;
    let company = store
        .company(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such company"))?;
    let contacts = store
        .contacts_of(&company.id, false)
        .await?
        .into_iter()
        .map(|c| ContactLine {
            name: format!("{} {}", c.contact.first_name, c.contact.last_name),
            email: c.contact.email.clone(),
            phone: masked(c.contact.phone.as_deref().unwrap_or("—")),
            roles: c
                .roles
                .iter()
                .map(|r| (label(&r.role), r.is_primary))
                .collect(),
        })
        .collect();
    let addresses = store
        .addresses_of(&company.id, false)
        .await?
        .into_iter()
        .map(|a| {
            let f = a.fields();
            AddressLine {
                label: a.label.clone().unwrap_or_else(|| "—".into()),
                address: [
                    Some(f.line1),
                    f.line2,
                    Some(f.city),
                    f.region,
                    Some(f.postal_code),
                    Some(f.country),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
                validation: label(&a.validation_status),
                last_used: opt_when(&a.last_used_at),
                default_shipping: company.default_shipping_address_id == Some(a.id),
                default_billing: company.default_billing_address_id == Some(a.id),
            }
        })
        .collect();
    let orders = store
        .console_orders(&OrderListFilter {
            company: Some(company.id.clone()),
            limit: RECENT,
            ..Default::default()
        })
        .await?;
    let now = s.rt.clock.now();
    let invoices = store
        .list_invoices(
            &InvoiceFilter {
                company: Some(company.id.clone()),
                limit: RECENT,
                ..Default::default()
            },
            now,
        )
        .await?;
    Ok(render(&CompanyPage {
        chrome: chrome(&who, "hardware"),
        terms: terms(company.payment_terms_days),
        id: company.id,
        name: company.name,
        mirror: company.company_mirror_id,
        contacts,
        addresses,
        orders: order_lines(&orders),
        invoices: invoice_lines(&invoices, now),
    }))
}
