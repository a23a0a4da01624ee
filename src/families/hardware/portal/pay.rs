//! Paying from the portal, and where the processor sends a customer back. "Pay" opens a new
//! checkout session for the invoice's balance and sends the browser to the processor's
//! hosted page. No saga waits for it: the processor's signed event (through the payments
//! webhook) or, when the customer comes back first, the processor's own answer records the
//! payment against the invoice, once. The landing page serves order checkouts too: it shows
//! the payment state of whatever the session paid for, and nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::links::CsrfForm;
use super::pages::{money, own_invoice, refused};
use super::{PortalSession, session_of};
use crate::api::ui::view::render;
use crate::api::{ApiError, AppState};
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::store::PortalCheckout;
use crate::providers::Error as ProviderError;
use crate::providers::Providers;
use crate::providers::payments::{CheckoutSession, LineItem, NewCheckoutSession};
use crate::store;

/// Opens a checkout for the invoice's balance and sends the browser to it.
pub(crate) async fn pay(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(providers): Extension<Arc<Providers>>,
    session: PortalSession,
    Path(raw): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(&f.csrf) {
        return refused(
            StatusCode::FORBIDDEN,
            "That form has expired",
            "Reload the page and try again.",
        );
    }
    let row = match own_invoice(&s, &session, &raw).await {
        Ok(row) => row,
        Err(res) => return res,
    };
    let balance = row.total_minor - row.allocated_minor;
    if !matches!(row.status.as_str(), "issued" | "partially_paid") || balance <= 0 {
        return refused(
            StatusCode::CONFLICT,
            "Nothing to pay",
            "This invoice has nothing left to pay.",
        );
    }
    let number = row.number.clone().unwrap_or_else(|| row.id.to_string());
    let request = NewCheckoutSession {
        success_url: settings.success_url.clone(),
        cancel_url: settings.cancel_url.clone(),
        line_items: vec![LineItem::Inline {
            name: format!("Invoice {number}"),
            currency: row.currency.clone(),
            unit_amount: balance,
            quantity: 1,
        }],
        client_reference_id: Some(row.id.to_string()),
        customer_email: None,
        expires_at: None,
        metadata: BTreeMap::from([
            ("invoice_id".to_string(), row.id.to_string()),
            ("invoice_number".to_string(), number),
            ("company_id".to_string(), row.company_id.clone()),
            ("source".to_string(), "billing_portal".to_string()),
        ]),
    };
    // Each press is a new checkout: a fresh key, so an earlier, abandoned one is not reused.
    let key = format!("portal-pay:{}:{}", row.id, uuid::Uuid::now_v7());
    let created = providers
        .payments
        .create_checkout_session(&request, &key)
        .await
        .result;
    let checkout = match created {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(invoice = %row.id, error = %e, "portal checkout not opened");
            return refused(
                StatusCode::BAD_GATEWAY,
                "The payment service did not answer",
                "Nothing was charged. Try again in a moment.",
            );
        }
    };
    let Some(url) = checkout.url.clone() else {
        return refused(
            StatusCode::BAD_GATEWAY,
            "The payment service did not answer",
            "Nothing was charged. Try again in a moment.",
        );
    };
    let open = PortalCheckout {
        session_id: checkout.id.clone(),
        invoice_id: row.id,
        number: row.number.clone(),
        company_id: row.company_id.clone(),
        amount_minor: balance,
        currency: row.currency.clone(),
        status: "open".into(),
    };
    if let Err(e) =
        s.rt.store
            .open_portal_checkout(&open, s.rt.clock.now())
            .await
    {
        return ApiError::from(e).into_response();
    }
    // A page that moves on by itself rather than a redirect: the portal's CSP keeps form
    // posts on this site (`form-action 'self'`), and browsers hold a form's redirects to it.
    render(&ContinuePage {
        url,
        number: open.number.unwrap_or_default(),
        amount: money(balance, &row.currency),
    })
}

#[derive(Template)]
#[template(path = "portal_continue.html")]
struct ContinuePage {
    url: String,
    number: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LandingQuery {
    /// `cancelled` when the processor sent the customer back without paying.
    #[serde(default)]
    outcome: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_checkout.html")]
struct LandingPage {
    /// `paid`, `pending`, `cancelled` or `refunded`.
    state: &'static str,
    /// What was paid for: `Invoice INV-000001` or `Order HW-…`.
    subject: String,
    amount: String,
    /// The invoice page, for a contact whose portal session is this company's.
    back: Option<String>,
}

/// Where the processor sends the customer back (`success_url` and `cancel_url`): the
/// payment state of the invoice or order the session was for. It needs no session (the
/// processor's redirect may arrive without the SameSite cookie) and shows only what the
/// session id's holder already knows: what was paid for, how much, and whether it went
/// through.
pub(crate) async fn landing(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(providers): Extension<Arc<Providers>>,
    Path(id): Path<String>,
    Query(q): Query<LandingQuery>,
    headers: HeaderMap,
) -> Response {
    let cancelled = q.outcome.as_deref() == Some("cancelled");
    match portal_landing(&s, &settings, &providers, &id, cancelled, &headers).await {
        Ok(Some(page)) => return render(&page),
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    match s.rt.store.order_checkout_state(&id).await {
        Ok(Some((code, total, currency, status))) => render(&LandingPage {
            state: match status.as_str() {
                "paid" => "paid",
                "refunded" => "refunded",
                "payment_failed" | "checkout_expired" | "cancelled" => "cancelled",
                _ => "pending",
            },
            subject: format!("Order {code}"),
            amount: money(total, &currency),
            back: None,
        }),
        Ok(None) => refused(
            StatusCode::NOT_FOUND,
            "Payment not found",
            "There is no payment with that reference.",
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The landing page of a portal checkout, after asking the processor about an open one;
/// `None` when the session is not a portal checkout.
async fn portal_landing(
    s: &AppState,
    settings: &HardwareSettings,
    providers: &Providers,
    id: &str,
    cancelled: bool,
    headers: &HeaderMap,
) -> Result<Option<LandingPage>, ApiError> {
    let store = &s.rt.store;
    let Some(mut checkout) = store.portal_checkout(id).await? else {
        return Ok(None);
    };
    if checkout.status == "open" {
        refresh(s, providers, &checkout, cancelled).await;
        checkout = store.portal_checkout(id).await?.unwrap_or(checkout);
    }
    let session = session_of(s, settings, headers).await?;
    let back = session
        .filter(|p| p.company_id == checkout.company_id)
        .map(|_| format!("/portal/invoices/{}", checkout.invoice_id));
    Ok(Some(LandingPage {
        state: match checkout.status.as_str() {
            "paid" => "paid",
            "open" => "pending",
            _ => "cancelled",
        },
        subject: format!(
            "Invoice {}",
            checkout.number.as_deref().unwrap_or("(unnumbered)")
        ),
        amount: money(checkout.amount_minor, &checkout.currency),
        back,
    }))
}

/// Asks the processor about an open portal checkout and records what it says: paid, or
/// expired; one the customer came back from unpaid is expired there first, so it cannot be
/// paid later behind the portal's back. A processor that does not answer leaves it open
/// (the webhook still settles it).
async fn refresh(s: &AppState, providers: &Providers, checkout: &PortalCheckout, cancelled: bool) {
    let payments = &providers.payments;
    let id = &checkout.session_id;
    let mut seen = payments.get_checkout_session(id).await.result;
    if cancelled && matches!(&seen, Ok(c) if c.status.as_deref() == Some("open")) {
        seen = match payments
            .expire_checkout_session(id, &format!("portal-cancel:{id}"))
            .await
            .result
        {
            Ok(c) => Ok(c),
            // Paid in the meantime: read it again.
            Err(ProviderError::InvalidState { .. }) => {
                payments.get_checkout_session(id).await.result
            }
            Err(e) => Err(e),
        };
    }
    match seen {
        Ok(session) => {
            if let Err(e) = record(s, &session, cancelled, s.rt.clock.now()).await {
                tracing::warn!(session = %id, error = %e, "portal checkout not recorded");
            }
        }
        Err(e) => tracing::warn!(session = %id, error = %e, "the processor did not answer"),
    }
}

/// Records what the processor says of a portal checkout.
async fn record(
    s: &AppState,
    session: &CheckoutSession,
    cancelled: bool,
    now: DateTime<Utc>,
) -> Result<(), store::Error> {
    let store = &s.rt.store;
    match (session.status.as_deref(), session.payment_status.as_deref()) {
        (_, Some("paid")) => {
            let reference = session
                .payment_intent
                .clone()
                .unwrap_or_else(|| format!("session:{}", session.id));
            store
                .settle_portal_checkout(
                    &session.id,
                    &reference,
                    session.amount_total.unwrap_or_default(),
                    session.currency.as_deref().unwrap_or_default(),
                    now,
                )
                .await
        }
        (Some("expired"), _) => {
            let status = if cancelled { "cancelled" } else { "expired" };
            store.close_portal_checkout(&session.id, status, now).await
        }
        (Some("complete"), _) => {
            // A delayed payment method failed.
            store
                .close_portal_checkout(&session.id, "cancelled", now)
                .await
        }
        _ => Ok(()),
    }
}

/// The hardware family's listener for the processor's checkout events: those about a checkout
/// opened from the portal, which no saga waits for.
pub(crate) struct PortalCheckouts;

#[async_trait::async_trait]
impl crate::api::SignalListener for PortalCheckouts {
    async fn heard(
        &self,
        state: &AppState,
        signal: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if signal != crate::providers::webhooks::payments::CHECKOUT {
            return Ok(());
        }
        on_checkout_event(state, payload, now).await
    }
}

/// The payments webhook's hook for portal checkouts: a verified `checkout.session.*` event
/// about one is recorded against its invoice (no saga waits for it). Events about any
/// other session change nothing here.
pub(crate) async fn on_checkout_event(
    s: &AppState,
    event: &Value,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let object = &event["data"]["object"];
    let Some(id) = object["id"].as_str() else {
        return Ok(());
    };
    if s.rt.store.portal_checkout(id).await?.is_none() {
        return Ok(());
    }
    let Ok(session) = serde_json::from_value::<CheckoutSession>(object.clone()) else {
        return Ok(());
    };
    match record(s, &session, false, now).await {
        // Paid, but not what the checkout asked: kept out of the books, for Support.
        Err(store::Error::Conflict(why)) => {
            tracing::error!(session = %id, %why, "a portal payment does not match its checkout");
            Ok(())
        }
        other => other.map_err(ApiError::from),
    }
}
