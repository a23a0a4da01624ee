//! The saga search query shared by the list, the export, bulk filters, the CLI and the
//! console: parsed into a [`SagaSearch`], with the opaque keyset cursor.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::ApiError;
use crate::domain::phone::PhoneNumber;
use crate::store::{Order, SagaSearch};

pub const STATUSES: &[&str] = &[
    "pending",
    "running",
    "waiting",
    "compensating",
    "completed",
    "compensated",
    "failed",
    "parked",
    "cancelled",
];

/// Search filters as the query string (or a bulk request's `filter`) gives them. Empty values
/// count as absent, so console forms can submit every field.
#[derive(
    Debug, Clone, Default, Deserialize, serde::Serialize, utoipa::IntoParams, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Workflow name.
    pub workflow: Option<String>,
    /// One status or several, comma-separated (`failed,parked` is "needs attention").
    pub status: Option<String>,
    /// Business key, order code or partner orderId.
    pub business_key: Option<String>,
    /// A phone number in any usual form; matched in national form.
    pub phone: Option<String>,
    /// Network or provider named in the input (MTN, TELECEL, AIRTELTIGO…).
    pub network: Option<String>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    pub created_from: Option<String>,
    /// Created before (RFC 3339, or YYYY-MM-DD meaning the end of that day).
    pub created_to: Option<String>,
    /// The step currently running.
    pub step: Option<String>,
    /// `last_error.code`.
    pub error_code: Option<String>,
}

/// Paging of a list: size, position and direction.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1 to 500, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `newest` (default) or `oldest` first.
    pub order: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn time(raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_date",
            format!("{raw:?} is not RFC 3339 or YYYY-MM-DD"),
        )
    })?;
    let day = if end_of_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

impl SearchParams {
    pub(crate) fn to_search(&self) -> Result<SagaSearch, ApiError> {
        let statuses: Vec<String> = nonempty(&self.status)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("unknown status {bad:?}; use one of {}", STATUSES.join(", ")),
            ));
        }
        let phone = nonempty(&self.phone)
            .map(|p| {
                PhoneNumber::parse(&p)
                    .map(|n| n.as_national().to_string())
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_phone",
                            "phone is not a Ghanaian mobile number",
                        )
                    })
            })
            .transpose()?;
        Ok(SagaSearch {
            workflow: nonempty(&self.workflow),
            statuses,
            key: nonempty(&self.business_key),
            phone,
            network: nonempty(&self.network),
            created_from: nonempty(&self.created_from)
                .map(|t| time(&t, false))
                .transpose()?,
            created_to: nonempty(&self.created_to)
                .map(|t| time(&t, true))
                .transpose()?,
            step: nonempty(&self.step),
            error_code: nonempty(&self.error_code),
            started_by: None,
            ids: Vec::new(),
        })
    }
}

/// Page size, keyset position (created_at, id) and order.
pub type Paging = (i64, Option<(DateTime<Utc>, Uuid)>, Order);

impl PageParams {
    /// Limit, keyset position and order, or 400.
    pub fn parse(&self) -> Result<Paging, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be between 1 and 500",
            ));
        }
        let after = nonempty(&self.cursor)
            .map(|c| Cursor::decode(&c))
            .transpose()?
            .map(|c| (c.created_at, c.id));
        let order = match nonempty(&self.order).as_deref() {
            None | Some("newest") => Order::NewestFirst,
            Some("oldest") => Order::OldestFirst,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_order",
                    "order is newest or oldest",
                ));
            }
        };
        Ok((limit, after, order))
    }
}

/// A keyset position, opaque to clients: hex of `<micros>:<uuid>`.
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(format!(
            "{}:{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request("invalid_cursor", "cursor is not one this API issued");
        let text = String::from_utf8(hex::decode(raw).map_err(|_| bad())?).map_err(|_| bad())?;
        let (micros, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self { created_at, id })
    }
}
