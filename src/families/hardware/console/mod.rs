//! The hardware family's console pages under `/ui`: orders (with their lines, payments,
//! invoice, shipments, automation steps and timeline), companies, invoices with their PDF,
//! and an operator's retry or fallback of an automation step. The console serves them behind
//! its session: viewers read, operators act (CSRF-checked, audited like the API's routes).

mod actions;
mod companies;
mod invoices;
mod orders;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::HardwareSettings;
use crate::api::AppState;
use crate::domain::money::Minor;

/// The console pages' part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    orders::list,
    orders::show,
    orders::shipment,
    orders::fulfillment,
    orders::automation_step,
    actions::retry,
    actions::fallback,
    companies::list,
    companies::show,
    invoices::list,
    invoices::show,
    invoices::pdf,
))]
pub(crate) struct Doc;

/// The pages and the two actions; `settings` and `providers` are what the fallback's legacy
/// operation needs, as on the API's route.
pub(crate) fn routes(
    settings: Arc<HardwareSettings>,
    providers: Arc<crate::providers::Providers>,
) -> Router<AppState> {
    Router::new()
        .route("/ui/orders", get(orders::list))
        .route("/ui/orders/{id}", get(orders::show))
        .route("/ui/shipments/{id}", get(orders::shipment))
        .route("/ui/fulfillments/{id}", get(orders::fulfillment))
        .route("/ui/automation-steps/{id}", get(orders::automation_step))
        .route("/ui/automation-steps/{id}/retry", post(actions::retry))
        .route(
            "/ui/automation-steps/{id}/fallback",
            post(actions::fallback),
        )
        .route("/ui/companies", get(companies::list))
        .route("/ui/companies/{id}", get(companies::show))
        .route("/ui/invoices", get(invoices::list))
        .route("/ui/invoices/{id}", get(invoices::show))
        .route("/ui/invoices/{id}/pdf", get(invoices::pdf))
        .layer(axum::Extension(settings))
        .layer(axum::Extension(providers))
}

/// An amount as people read it: `1,234.50 USD`.
pub(crate) fn money(minor: i64, currency: &str) -> String {
    let major = Minor(minor).to_major_string();
    let (sign, digits) = match major.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", major.as_str()),
    };
    let (whole, cents) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{cents} {}", currency.to_uppercase())
}

/// A stored status as a label: `checkout_sent` reads `checkout sent`.
pub(crate) fn label(status: &str) -> String {
    status.replace('_', " ")
}

/// An optional form or query text: `None` when absent or blank.
pub(crate) fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_names_the_currency() {
        assert_eq!(money(123_450, "usd"), "1,234.50 USD");
        assert_eq!(money(5, "cad"), "0.05 CAD");
        assert_eq!(money(-250_000, "usd"), "-2,500.00 USD");
        assert_eq!(money(100_000_000, "eur"), "1,000,000.00 EUR");
    }

    #[test]
    fn blank_filters_are_no_filter() {
        assert_eq!(given(&Some("  ".into())), None);
        assert_eq!(given(&Some(" ACME ".into())), Some("ACME".into()));
        assert_eq!(label("checkout_sent"), "checkout sent");
    }
}
