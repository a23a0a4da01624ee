//! The data-bundle orders screens (the brief's fulfilment dashboard): the order list with its
//! filters (network, state, dates, phone in any form), stats cards and auto-refresh; one
//! order's page with every fulfilment attempt and the provider's exchange; and the fulfilment
//! report as CSV, with the list's filters. Retries are in `actions`.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::auth::Principal;
use crate::api::ops::export::csv_field;
use crate::api::ops::search::Cursor;
use crate::api::sagas::SagaId;
use crate::api::ui::pages::{chrome, masked};
use crate::api::ui::view::{Choice, Chrome, opt_when, pretty, render, short_id, when};
use crate::api::{ApiError, AppState};
use crate::domain::money::Minor;
use crate::domain::phone::{Network, PhoneNumber};
use crate::families::data_bundle::store::{BundleFilter, BundleLine, REPORT_LIMIT, STATES};

/// Orders on one page of the list.
const PAGE: i64 = 50;

/// The list's query: its filters as typed, a page cursor and a notice from an action.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct BundleQuery {
    pub network: Option<String>,
    pub status: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// A phone number in any usual form: `024…`, `+233 24 …`, `23324…`.
    pub phone: Option<String>,
    pub cursor: Option<String>,
    pub notice: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn day(raw: &str, what: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("{what} {raw:?} is not a date like 2026-03-01"))
}

impl BundleQuery {
    /// The filters, checked: a message saying what is wrong otherwise.
    pub fn filter(&self) -> Result<BundleFilter, String> {
        let network = given(&self.network)
            .map(|n| {
                n.parse::<Network>()
                    .map(|n| n.as_str().to_string())
                    .map_err(|_| format!("network {n:?} is not MTN, TELECEL or AIRTELTIGO"))
            })
            .transpose()?;
        let state = given(&self.status)
            .map(|s| {
                STATES
                    .iter()
                    .find(|k| **k == s)
                    .map(|k| k.to_string())
                    .ok_or_else(|| format!("status {s:?} is not success, failed or pending"))
            })
            .transpose()?;
        let phone = given(&self.phone)
            .map(|p| {
                PhoneNumber::parse(p)
                    .map(|p| p.as_national().to_string())
                    .map_err(|e| format!("phone {:?}: {e}", masked(p)))
            })
            .transpose()?;
        let from = given(&self.created_from)
            .map(|d| day(d, "from"))
            .transpose()?;
        let to = given(&self.created_to).map(|d| day(d, "to")).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(format!("the date range ends ({t}) before it starts ({f})"));
        }
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Ok(BundleFilter {
            network,
            state,
            phone,
            created_from: from.map(midnight),
            // `to` is inclusive: the whole of that day.
            created_before: to.and_then(|t| t.succ_opt()).map(midnight),
        })
    }

    /// The filters as a query string (no cursor or notice), for links that keep them.
    pub fn filters_query(&self, status: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in [
            ("network", &self.network),
            ("created_from", &self.created_from),
            ("created_to", &self.created_to),
            ("phone", &self.phone),
        ] {
            if let Some(v) = given(v) {
                pairs.push((k, v));
            }
        }
        if let Some(s) = status {
            pairs.push(("status", s));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    fn status(&self) -> Option<&str> {
        given(&self.status)
    }
}

pub struct StatCard {
    pub label: &'static str,
    pub value: String,
    /// Narrows the list to this card's state; none for derived numbers.
    pub href: Option<String>,
}

/// One order in the list.
pub struct BundleRow {
    pub id: String,
    pub order_code: String,
    pub phone: String,
    pub network: String,
    pub size: String,
    pub price: String,
    pub state: String,
    pub saga_id: String,
    pub saga_short: String,
    pub saga_status: String,
    pub attempts: i64,
    pub provider: String,
    pub error_code: String,
    pub created: String,
    /// `Retry`, or `Place again` for a refunded order; empty when there is nothing to retry
    /// or the reader may not act.
    pub retry: &'static str,
}

#[derive(Template)]
#[template(path = "bundles_list.html")]
pub struct BundlesPage {
    pub chrome: Chrome,
    pub networks: Vec<Choice>,
    pub states: Vec<Choice>,
    pub created_from: String,
    pub created_to: String,
    pub phone: String,
    pub cards: Vec<StatCard>,
    pub rows: Vec<BundleRow>,
    pub next_href: Option<String>,
    pub report_href: String,
    /// The filters as a query string, for the actions to come back to.
    pub back: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub any_retry: bool,
}

pub(super) fn ghs(minor: i64) -> String {
    format!("GHS {}", Minor(minor))
}

/// What retrying an order in this state and saga status does, as its button says.
pub(super) fn retry_label(state: &str, saga_status: &str) -> &'static str {
    match (state, saga_status) {
        ("failed", "compensated") => "Place again",
        ("failed", _) => "Retry",
        _ => "",
    }
}

fn row(l: &BundleLine, can_operate: bool) -> BundleRow {
    BundleRow {
        id: l.id.to_string(),
        order_code: l.order_code.clone(),
        phone: phone_masked(&l.phone_number),
        network: l.network.clone(),
        size: format!("{} GB", l.size_gb),
        price: ghs(l.price_minor),
        state: l.state.clone(),
        saga_id: l.saga_id.to_string(),
        saga_short: short_id(&l.saga_id),
        saga_status: l.saga_status.clone(),
        attempts: l.attempts,
        provider: l.provider.clone().unwrap_or_default(),
        error_code: l.error_code.clone().unwrap_or_default(),
        created: when(&l.created_at),
        retry: if can_operate {
            retry_label(&l.state, &l.saga_status)
        } else {
            ""
        },
    }
}

/// A stored national number as the console shows it: masked.
pub(super) fn phone_masked(national: &str) -> String {
    PhoneNumber::parse(national)
        .map(|p| p.masked())
        .unwrap_or_else(|_| masked(national))
}

fn pct(part: i64, whole: i64) -> String {
    if whole > 0 {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    } else {
        "—".into()
    }
}

/// The data-bundle orders, newest first, with their filters and cards.
#[utoipa::path(get, path = "/ui/bundles", tag = "console",
    params(("network" = Option<String>, Query), ("status" = Option<String>, Query, description = "success, failed or pending"),
        ("created_from" = Option<String>, Query, description = "YYYY-MM-DD"), ("created_to" = Option<String>, Query, description = "YYYY-MM-DD, inclusive"),
        ("phone" = Option<String>, Query, description = "any usual form")),
    responses((status = 200, description = "HTML"), (status = 400, description = "HTML: a filter that cannot be used")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<BundleQuery>,
) -> Result<Response, ApiError> {
    let status = q.status().unwrap_or_default().to_string();
    let network = given(&q.network).unwrap_or_default().to_uppercase();
    let mut page = BundlesPage {
        chrome: chrome(&who, "bundles"),
        networks: Network::ALL
            .iter()
            .map(|n| Choice {
                value: n.as_str().into(),
                label: n.as_str().into(),
                selected: network == n.as_str(),
            })
            .collect(),
        states: STATES
            .iter()
            .map(|st| Choice {
                value: (*st).into(),
                label: (*st).into(),
                selected: status == *st,
            })
            .collect(),
        created_from: given(&q.created_from).unwrap_or_default().into(),
        created_to: given(&q.created_to).unwrap_or_default().into(),
        phone: given(&q.phone).map(masked).unwrap_or_default(),
        cards: Vec::new(),
        rows: Vec::new(),
        next_href: None,
        report_href: format!("/ui/bundles/report.csv?{}", q.filters_query(q.status())),
        back: q.filters_query(q.status()),
        error: None,
        notice: q.notice.clone(),
        any_retry: false,
    };
    // A typed phone is shown again as typed only when it is not a number (then it is an error
    // to correct); a number is masked like everywhere else.
    if let Some(p) = given(&q.phone)
        && PhoneNumber::parse(p).is_err()
    {
        page.phone = p.chars().take(40).collect();
    }
    let filter = match q.filter() {
        Ok(f) => f,
        Err(message) => {
            page.error = Some(message);
            let mut res = render(&page);
            *res.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(res);
        }
    };
    let after = given(&q.cursor)
        .map(Cursor::decode)
        .transpose()?
        .map(|c| (c.created_at, c.id));
    let store = &s.rt.store;
    let stats = store.bundle_stats(&filter).await?;
    let card_href = |st: &str| Some(format!("/ui/bundles?{}", q.filters_query(Some(st))));
    page.cards = vec![
        StatCard {
            label: "Orders",
            value: stats.total.to_string(),
            href: Some(format!("/ui/bundles?{}", q.filters_query(None))),
        },
        StatCard {
            label: "Delivered",
            value: stats.success.to_string(),
            href: card_href("success"),
        },
        StatCard {
            label: "Failed",
            value: stats.failed.to_string(),
            href: card_href("failed"),
        },
        StatCard {
            label: "Pending",
            value: stats.pending.to_string(),
            href: card_href("pending"),
        },
        StatCard {
            label: "Success rate (of finished)",
            value: pct(stats.success, stats.success + stats.failed),
            href: None,
        },
        StatCard {
            label: "Revenue delivered",
            value: ghs(stats.revenue_minor),
            href: None,
        },
    ];
    let lines = store.bundle_lines(&filter, after, PAGE + 1).await?;
    let more = lines.len() as i64 > PAGE;
    let shown = &lines[..lines.len().min(PAGE as usize)];
    page.rows = shown.iter().map(|l| row(l, who.can_operate())).collect();
    page.any_retry = page.rows.iter().any(|r| !r.retry.is_empty());
    if more && let Some(last) = shown.last() {
        let cursor = Cursor {
            created_at: last.created_at,
            id: last.id,
        }
        .encode();
        page.next_href = Some(format!(
            "/ui/bundles?{}&cursor={cursor}",
            q.filters_query(q.status())
        ));
    }
    Ok(render(&page))
}

/// One provider attempt as the order page shows it.
pub struct AttemptView {
    pub number: i32,
    pub max: i32,
    pub status: String,
    pub provider: String,
    pub phone: String,
    pub reference: String,
    pub provider_reference: String,
    pub request: String,
    pub response: String,
    pub error: String,
    pub retry_after: String,
    pub fulfilled: String,
    pub at: String,
}

/// A linked order: the one this one placed again, or the one that placed it again.
pub struct Linked {
    pub id: String,
    pub order_code: String,
}

#[derive(Template)]
#[template(path = "bundles_detail.html")]
pub struct BundlePage {
    pub chrome: Chrome,
    pub id: String,
    pub order_code: String,
    pub phone: String,
    pub network: String,
    pub size: String,
    pub price: String,
    pub state: String,
    pub order_status: String,
    pub fulfillment_status: String,
    pub saga_id: String,
    pub saga_short: String,
    pub saga_status: String,
    pub error_code: String,
    pub created: String,
    pub updated: String,
    pub wallet: String,
    pub attempts: Vec<AttemptView>,
    pub reorder_of: Option<Linked>,
    pub reordered_as: Option<Linked>,
    pub reorder_number: i32,
    /// The retry button's words; empty when there is none to show.
    pub retry: &'static str,
    pub notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// One order: its facts, its links, and every fulfilment attempt with the provider's request
/// and response (secrets redacted, phones masked).
#[utoipa::path(get, path = "/ui/bundles/{id}", tag = "console", params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "HTML"), (status = 404, description = "no such order")))]
pub async fn detail(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(n): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let id = SagaId::parse(&id)
        .map_err(|_| ApiError::bad_request("invalid_id", "an order id is a UUID"))?
        .0;
    let store = &s.rt.store;
    let order = store
        .bundle_order(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such data-bundle order"))?;
    let state = store
        .bundle_line(id)
        .await?
        .map(|l| l.state)
        .ok_or_else(|| ApiError::not_found("no such data-bundle order"))?;
    let links = store.reorder_links(id).await?;
    let attempts = store.bundle_attempt_details(id).await?;
    let wallet = store.wallet_balance(order.user_id).await?.unwrap_or(0);
    let link = |id: Option<Uuid>, code: Option<String>| {
        id.map(|id| Linked {
            id: id.to_string(),
            order_code: code.unwrap_or_default(),
        })
    };
    let retry = if who.can_operate() && links.reordered_as.is_none() {
        retry_label(&state, &order.saga_status)
    } else {
        ""
    };
    Ok(render(&BundlePage {
        chrome: chrome(&who, "bundles"),
        id: order.id.to_string(),
        order_code: order.order_code.clone(),
        phone: phone_masked(&order.phone_number),
        network: order.network.clone(),
        size: format!("{} GB", order.size_gb),
        price: ghs(order.price_minor),
        state,
        order_status: order.status.to_string(),
        fulfillment_status: order.fulfillment_status.to_string(),
        saga_id: order.saga_id.to_string(),
        saga_short: short_id(&order.saga_id),
        saga_status: order.saga_status.clone(),
        error_code: order
            .last_error
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string(),
        created: when(&order.created_at),
        updated: when(&order.updated_at),
        wallet: ghs(wallet),
        attempts: attempts
            .iter()
            .map(|a| AttemptView {
                number: a.attempt_number,
                max: a.max_attempts,
                status: a.status.clone(),
                provider: a.provider.clone(),
                phone: a.phone_masked.clone(),
                reference: a.reference.clone(),
                provider_reference: a.external_order_id.clone().unwrap_or_default(),
                request: a.api_request.as_ref().map(pretty).unwrap_or_default(),
                response: a.api_response.as_ref().map(pretty).unwrap_or_default(),
                error: masked(a.error_message.as_deref().unwrap_or_default()),
                retry_after: opt_when(&a.retry_after),
                fulfilled: opt_when(&a.fulfilled_at),
                at: when(&a.created_at),
            })
            .collect(),
        reorder_of: link(links.reorder_of, links.reorder_of_code),
        reordered_as: link(links.reordered_as, links.reordered_as_code),
        reorder_number: links.reorder_number,
        retry,
        notice: n.notice,
    }))
}

const REPORT_HEADER: &str = "order_code,phone,network,size_gb,price_ghs,provider,provider_reference,attempts,status,saga_status,created_at,fulfilled_at,updated_at\n";

/// The fulfilment report: the list's orders (its filters, every page) as CSV, phones masked.
/// Larger than [`REPORT_LIMIT`] rows is refused (422) rather than cut short.
#[utoipa::path(get, path = "/ui/bundles/report.csv", tag = "console",
    responses((status = 200, description = "text/csv, one order a line"), (status = 400, description = "a filter that cannot be used"),
        (status = 422, description = "more orders than one report holds; narrow the filters")))]
pub async fn report(
    State(s): State<AppState>,
    Query(q): Query<BundleQuery>,
) -> Result<Response, ApiError> {
    let filter = q
        .filter()
        .map_err(|m| ApiError::bad_request("invalid_filter", m))?;
    let lines =
        s.rt.store
            .bundle_lines(&filter, None, REPORT_LIMIT + 1)
            .await?;
    if lines.len() as i64 > REPORT_LIMIT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "report_too_large",
            format!("more than {REPORT_LIMIT} orders match; narrow the dates or filters"),
        ));
    }
    let mut out = String::from(REPORT_HEADER);
    for l in &lines {
        let fields = [
            l.order_code.clone(),
            phone_masked(&l.phone_number),
            l.network.clone(),
            l.size_gb.to_string(),
            Minor(l.price_minor).to_string(),
            l.provider.clone().unwrap_or_default(),
            l.provider_reference.clone().unwrap_or_default(),
            l.attempts.to_string(),
            l.state.clone(),
            l.saga_status.clone(),
            l.created_at.to_rfc3339(),
            l.fulfilled_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            l.updated_at.to_rfc3339(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(&masked(f))).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"bundle-fulfilment.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BundleQuery {
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
    }

    #[test]
    fn a_phone_in_any_form_filters_by_its_national_form() {
        for typed in [
            "0241234567",
            "+233 24 123 4567",
            "233241234567",
            "24-123-4567",
        ] {
            let f = q(&[("phone", typed)]).filter().unwrap();
            assert_eq!(f.phone.as_deref(), Some("0241234567"), "{typed}");
        }
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let err = |pairs: &[(&str, &str)]| q(pairs).filter().unwrap_err();
        assert!(err(&[("network", "glo")]).contains("MTN"));
        assert!(err(&[("status", "done")]).contains("success, failed or pending"));
        assert!(err(&[("phone", "12")]).starts_with("phone"));
        assert!(err(&[("created_from", "1 March")]).contains("not a date"));
        assert!(
            err(&[("created_from", "2026-03-02"), ("created_to", "2026-03-01")])
                .contains("before it starts")
        );
    }

    #[test]
    fn the_date_range_takes_in_the_whole_last_day() {
        let f = q(&[("created_from", "2026-03-01"), ("created_to", "2026-03-01")])
            .filter()
            .unwrap();
        assert_eq!(
            f.created_from.unwrap().to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        assert_eq!(
            f.created_before.unwrap().to_rfc3339(),
            "2026-03-02T00:00:00+00:00"
        );
        assert_eq!(
            q(&[("network", "mtn")])
                .filter()
                .unwrap()
                .network
                .as_deref(),
            Some("MTN")
        );
    }

    #[test]
    fn only_failed_orders_offer_a_retry() {
        assert_eq!(retry_label("failed", "compensated"), "Place again");
        assert_eq!(retry_label("failed", "running"), "Retry");
        assert_eq!(retry_label("failed", "parked"), "Retry");
        assert_eq!(retry_label("success", "completed"), "");
        assert_eq!(retry_label("pending", "waiting"), "");
    }
}
