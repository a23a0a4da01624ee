//! The console's read-only pages: overview, saga list, saga detail, needs attention, queues
//! and a bulk job's progress.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::csrf_token;
use super::view::*;
use crate::api::auth::Principal;
use crate::api::ops::search::{Cursor, PageParams, STATUSES, SearchParams};
use crate::api::sagas::SagaId;
use crate::api::{ApiError, AppState};
use crate::domain::phone::PhoneNumber;
use crate::store::{Order, SagaRow};

pub(crate) fn chrome(p: &Principal, active: &'static str) -> Chrome {
    Chrome {
        user: p.name.clone(),
        role: p.role.as_str().into(),
        can_operate: p.can_operate(),
        csrf: csrf_token(p),
        active,
        find: String::new(),
    }
}

/// Personal data as the console shows it: masked, like every API answer.
pub(crate) fn masked(text: &str) -> String {
    crate::domain::pii::mask_text(text).into_owned()
}

fn line(r: &SagaRow, now: chrono::DateTime<Utc>) -> SagaLine {
    SagaLine {
        id: r.id.to_string(),
        short_id: short_id(&r.id),
        workflow: r.workflow.clone(),
        status: r.status.clone(),
        business_key: masked(r.business_key.as_deref().unwrap_or_default()),
        step: r.current_step.clone().unwrap_or_default(),
        error_code: r
            .last_error
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        created: when(&r.created_at),
        age: age((now - r.updated_at).num_seconds()),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "—".into())
}

/// The overview's chart window: `1h`, `24h` (the default) or `7d`.
#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    pub window: Option<String>,
}

/// Cards, the activity chart and providers, and the per-workflow table.
#[utoipa::path(get, path = "/ui", tag = "console", responses((status = 200, description = "HTML")))]
pub async fn overview(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(w): Query<OverviewQuery>,
) -> Result<Response, ApiError> {
    let now = s.rt.clock.now();
    let day_start =
        Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
    let o = s.rt.store.overview(day_start).await?;
    let stats =
        s.rt.store
            .workflow_stats(now - chrono::Duration::hours(24))
            .await?;
    let success = if o.finished_today > 0 {
        format!(
            "{:.1}%",
            o.completed_today as f64 * 100.0 / o.finished_today as f64
        )
    } else {
        "—".into()
    };
    let cards = vec![
        Card {
            label: "In flight",
            value: o.in_flight.to_string(),
            href: "/ui/sagas?status=pending,running,waiting,compensating".into(),
        },
        Card {
            label: "Completed today",
            value: o.completed_today.to_string(),
            href: "/ui/sagas?status=completed".into(),
        },
        Card {
            label: "Success rate today",
            value: success,
            href: "/ui/sagas".into(),
        },
        Card {
            label: "Compensated today",
            value: o.compensated_today.to_string(),
            href: "/ui/sagas?status=compensated".into(),
        },
        Card {
            label: "Needs attention",
            value: o.needs_attention.to_string(),
            href: "/ui/attention".into(),
        },
    ];
    let stats = stats
        .into_iter()
        .map(|w| StatsLine {
            workflow: w.workflow,
            started: w.started,
            completed: w.completed,
            compensated: w.compensated,
            failed: w.failed + w.parked,
            in_flight: w.in_flight,
            success: pct(w.success_rate),
            p50: secs(w.p50_seconds),
            p95: secs(w.p95_seconds),
            retries: format!("{:.2}", w.retries_per_saga),
        })
        .collect();
    let (pictures, bad_window) =
        super::pictures::overview::section(&s, w.window.as_deref()).await?;
    let page = render(&OverviewPage {
        chrome: chrome(&who, "overview"),
        cards,
        stats,
        pictures,
    });
    // An unknown window still shows the page (with the default window and why), as a 400.
    Ok(if bad_window {
        (axum::http::StatusCode::BAD_REQUEST, page).into_response()
    } else {
        page
    })
}

/// The console's list filters: the API's, plus one search box for phone, order code or key.
#[derive(Debug, Default, Deserialize)]
pub struct ListForm {
    pub workflow: Option<String>,
    pub status: Option<String>,
    pub network: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    /// A phone number (matched normalised) or else an order code / business key.
    pub q: Option<String>,
    pub cursor: Option<String>,
}

impl ListForm {
    fn search(&self) -> SearchParams {
        let q = self.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let (phone, key) = match q {
            Some(q) if PhoneNumber::parse(q).is_ok() => (Some(q.to_string()), None),
            Some(q) => (None, Some(q.to_string())),
            None => (None, None),
        };
        SearchParams {
            workflow: self.workflow.clone(),
            status: self.status.clone(),
            business_key: key,
            phone,
            network: self.network.clone(),
            created_from: self.created_from.clone(),
            created_to: self.created_to.clone(),
            ..Default::default()
        }
    }

    fn query_string(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("workflow", &self.workflow),
            ("status", &self.status),
            ("network", &self.network),
            ("created_from", &self.created_from),
            ("created_to", &self.created_to),
            ("q", &self.q),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.push((k, v.to_string()));
            }
        }
        if let Some(c) = cursor {
            pairs.push(("cursor", c.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

const STATUS_CHOICES: &[(&str, &str)] = &[
    ("failed,parked", "needs attention (failed or parked)"),
    ("pending,running,waiting,compensating", "in flight"),
];

/// Saga list with filters, search and pagination.
#[utoipa::path(get, path = "/ui/sagas", tag = "console", responses((status = 200, description = "HTML")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(f): Query<ListForm>,
) -> Result<Response, ApiError> {
    let mut workflows: Vec<String> = s.rt.catalog.all().map(|d| d.name.clone()).collect();
    workflows.sort();
    workflows.dedup();
    let current_status = f.status.clone().unwrap_or_default();
    let mut statuses: Vec<Choice> = STATUS_CHOICES
        .iter()
        .map(|(v, l)| Choice {
            value: (*v).into(),
            label: (*l).into(),
            selected: current_status == *v,
        })
        .collect();
    statuses.extend(STATUSES.iter().map(|st| Choice {
        value: (*st).into(),
        label: (*st).into(),
        selected: current_status == *st,
    }));
    let mut page = ListPage {
        chrome: chrome(&who, "sagas"),
        workflows: workflows
            .into_iter()
            .map(|w| Choice {
                selected: f.workflow.as_deref() == Some(w.as_str()),
                label: w.clone(),
                value: w,
            })
            .collect(),
        statuses,
        network: f.network.clone().unwrap_or_default(),
        created_from: f.created_from.clone().unwrap_or_default(),
        created_to: f.created_to.clone().unwrap_or_default(),
        q: f.q.clone().unwrap_or_default(),
        rows: Vec::new(),
        next_href: None,
        export_href: format!("/ui/sagas/export.csv?{}", f.query_string(None)),
        error: None,
    };
    let search = match f.search().to_search() {
        Ok(s) => s,
        Err(e) => {
            page.error = Some(e.message);
            return Ok(render(&page));
        }
    };
    let paging = PageParams {
        limit: Some(50),
        cursor: f.cursor.clone(),
        order: None,
    };
    let (limit, after, order) = paging.parse()?;
    let result =
        s.rt.store
            .search_sagas(&search, order, after, limit)
            .await?;
    let now = s.rt.clock.now();
    page.rows = result.items.iter().map(|r| line(r, now)).collect();
    page.next_href = result.next.map(|(t, id)| {
        format!(
            "/ui/sagas?{}",
            f.query_string(Some(&Cursor { created_at: t, id }.encode()))
        )
    });
    Ok(render(&page))
}

/// The list's CSV, with the session cookie instead of a bearer token.
#[utoipa::path(get, path = "/ui/sagas/export.csv", tag = "console", responses((status = 200, description = "text/csv")))]
pub async fn export(
    state: State<AppState>,
    who: Extension<Principal>,
    Query(f): Query<ListForm>,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(
        &serde_urlencoded::to_string(f.search()).map_err(|_| ApiError::internal())?,
    )
    .map_err(|_| ApiError::internal())?;
    crate::api::ops::export::export(state, who, Ok(Query(pairs))).await
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

/// The saga, its timeline with every attempt, its data, and (for operators) the actions.
#[utoipa::path(get, path = "/ui/sagas/{id}", tag = "console", params(("id" = String, Path, description = "saga id")), responses((status = 200, description = "HTML")))]
pub async fn detail(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> Result<Response, ApiError> {
    let id = SagaId::parse(&id)?;
    let saga = s.rt.store.get_saga(id.0).await?;
    let history = s.rt.store.history(id.0).await?;
    let api = crate::api::sagas::saga_json(&saga, s.rt.clock.now());
    let err = saga.last_error.clone().unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(String::from).unwrap_or_default();
    let actions: Vec<&'static str> = if !who.can_operate() {
        Vec::new()
    } else {
        match saga.status.as_str() {
            "parked" | "failed" => vec!["retry", "resume", "cancel"],
            "running" | "waiting" | "compensating" => vec!["retry", "resume", "cancel"],
            "pending" => vec!["cancel"],
            _ => Vec::new(),
        }
    };
    let timeline = history
        .iter()
        .map(|e| {
            let d = &e.detail;
            let mut rest = d.clone();
            if let Some(m) = rest.as_object_mut() {
                for k in ["duration_ms", "error"] {
                    m.remove(k);
                }
            }
            TimelineLine {
                seq: e.seq,
                at: when(&e.created_at),
                step: e.step.clone().unwrap_or_default(),
                kind: e.kind.clone(),
                attempt: e.attempt,
                actor: e.actor.clone(),
                duration: d
                    .get("duration_ms")
                    .and_then(Value::as_i64)
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default(),
                error: d
                    .get("error")
                    .map(|e| match e {
                        Value::String(s) => s.clone(),
                        other => {
                            let code = other
                                .get("code")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let msg = other
                                .get("message")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            format!("{code}: {msg}")
                        }
                    })
                    .map(|e| masked(&e))
                    .unwrap_or_default(),
                outcome: if e.kind.contains("fail") || e.kind.contains("retry_scheduled") {
                    "failed".into()
                } else if e.kind.contains("succeeded") || e.kind.ends_with("completed") {
                    "succeeded".into()
                } else {
                    String::new()
                },
                detail: if rest.as_object().is_some_and(|m| m.is_empty()) {
                    String::new()
                } else {
                    pretty(&rest)
                },
            }
        })
        .collect();
    let picture = super::pictures::saga::fragment(&s, &saga, &history).await?;
    Ok(render(&DetailPage {
        chrome: chrome(&who, "sagas"),
        id: saga.id.to_string(),
        short_id: short_id(&saga.id),
        workflow: format!("{} v{}", saga.workflow, saga.workflow_version),
        status: saga.status.clone(),
        business_key: masked(saga.business_key.as_deref().unwrap_or("—")),
        step: saga.current_step.clone().unwrap_or_else(|| "—".into()),
        attempt: saga.attempt,
        next_retry: api["next_retry_at"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| "—".into()),
        error_code: text(&err["code"]),
        error_message: masked(&text(&err["message"])),
        created: when(&saga.created_at),
        finished: opt_when(&saga.finished_at),
        actions,
        timeline,
        data: pretty(&saga.data),
        notice: n.notice,
        picture,
        live: !matches!(
            saga.status.as_str(),
            "completed" | "compensated" | "cancelled"
        ),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct AttentionQuery {
    pub cursor: Option<String>,
    pub notice: Option<String>,
}

/// Failed and parked sagas, oldest first, with bulk retry for operators.
#[utoipa::path(get, path = "/ui/attention", tag = "console", responses((status = 200, description = "HTML")))]
pub async fn attention(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<AttentionQuery>,
) -> Result<Response, ApiError> {
    let search = crate::store::SagaSearch {
        statuses: vec!["failed".into(), "parked".into()],
        ..Default::default()
    };
    let paging = PageParams {
        limit: Some(100),
        cursor: q.cursor.clone(),
        order: Some("oldest".into()),
    };
    let (limit, after, _) = paging.parse()?;
    let page =
        s.rt.store
            .search_sagas(&search, Order::OldestFirst, after, limit)
            .await?;
    let now = s.rt.clock.now();
    Ok(render(&AttentionPage {
        chrome: chrome(&who, "attention"),
        rows: page.items.iter().map(|r| line(r, now)).collect(),
        next_href: page.next.map(|(t, id)| {
            format!(
                "/ui/attention?cursor={}",
                Cursor { created_at: t, id }.encode()
            )
        }),
        notice: q.notice,
    }))
}

/// The queue-visibility table.
#[utoipa::path(get, path = "/ui/queues", tag = "console", responses((status = 200, description = "HTML")))]
pub async fn queues(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let rows = s.rt.store.queues(s.rt.clock.now()).await?;
    let (queues, runs) = super::job_runs::overview(&s).await?;
    Ok(render(&QueuesPage {
        chrome: chrome(&who, "queues"),
        queues,
        runs,
        rows: rows
            .into_iter()
            .map(|r| QueueLine {
                workflow: r.workflow,
                step: if r.step.is_empty() {
                    "—".into()
                } else {
                    r.step
                },
                waiting: r.waiting,
                running: r.running,
                delayed: r.delayed,
                idle: r.idle,
                oldest: r
                    .oldest_waiting_seconds
                    .map(|s| age(s as i64))
                    .unwrap_or_else(|| "—".into()),
                failures: r.recent_failures,
            })
            .collect(),
    }))
}

/// A bulk job's progress.
#[utoipa::path(get, path = "/ui/jobs/{id}", tag = "console", params(("id" = String, Path, description = "job id")), responses((status = 200, description = "HTML")))]
pub async fn job(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SagaId::parse(&id)?;
    let j = s.rt.store.bulk_job(id.0).await?;
    Ok(render(&JobPage {
        chrome: chrome(&who, "attention"),
        id: j.id.to_string(),
        action: j.action,
        reason: j.reason,
        actor: j.actor,
        status: j.status,
        total: j.total,
        done: j.done,
        failed: j.failed,
    })
    .into_response())
}
