//! What the console's templates show: page structs, and the small formatting rules (ages,
//! status labels, redacted JSON) they share.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Renders a page, or a plain 500 when a template fails.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log",
            )
                .into_response()
        }
    }
}

/// The navigation bar's state: who is signed in and what they may do.
pub struct Chrome {
    pub user: String,
    pub role: String,
    pub can_operate: bool,
    pub csrf: String,
    /// Which nav entry is current.
    pub active: &'static str,
    /// What the header's search box holds (the search page's own query).
    pub find: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub error: Option<String>,
}

pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub href: String,
}

pub struct StatsLine {
    pub workflow: String,
    pub started: i64,
    pub completed: i64,
    pub compensated: i64,
    pub failed: i64,
    pub in_flight: i64,
    pub success: String,
    pub p50: String,
    pub p95: String,
    pub retries: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub cards: Vec<Card>,
    pub stats: Vec<StatsLine>,
    /// The chart and providers section (`pictures::overview`), rendered.
    pub pictures: String,
}

/// One saga in a table.
pub struct SagaLine {
    pub id: String,
    /// The random tail of the id ([`short_id`]); the whole id goes in its title.
    pub short_id: String,
    pub workflow: String,
    pub status: String,
    pub business_key: String,
    pub step: String,
    pub error_code: String,
    pub created: String,
    pub age: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub workflows: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub network: String,
    pub created_from: String,
    pub created_to: String,
    pub q: String,
    pub rows: Vec<SagaLine>,
    pub next_href: Option<String>,
    pub export_href: String,
    pub error: Option<String>,
}

/// One history entry on the detail page.
pub struct TimelineLine {
    pub seq: i32,
    pub at: String,
    pub step: String,
    pub kind: String,
    pub attempt: i32,
    pub actor: String,
    pub duration: String,
    pub error: String,
    pub outcome: String,
    /// Everything else the history event carries (its output or error detail), secrets
    /// redacted. Provider requests and responses are not in the history: the data-bundle
    /// family keeps them in `fulfillment_logs`.
    pub detail: String,
}

#[derive(Template)]
#[template(path = "detail.html")]
pub struct DetailPage {
    pub chrome: Chrome,
    pub id: String,
    pub short_id: String,
    pub workflow: String,
    pub status: String,
    pub business_key: String,
    pub step: String,
    pub attempt: i32,
    pub next_retry: String,
    pub error_code: String,
    pub error_message: String,
    pub created: String,
    pub finished: String,
    pub actions: Vec<&'static str>,
    pub timeline: Vec<TimelineLine>,
    pub data: String,
    pub notice: Option<String>,
    /// The saga picture's fragment (`pictures::saga`), when its definition is known.
    pub picture: Option<String>,
    /// Not finished: the picture refreshes itself.
    pub live: bool,
}

#[derive(Template)]
#[template(path = "attention.html")]
pub struct AttentionPage {
    pub chrome: Chrome,
    pub rows: Vec<SagaLine>,
    pub next_href: Option<String>,
    pub notice: Option<String>,
}

pub struct QueueLine {
    pub workflow: String,
    pub step: String,
    pub waiting: i64,
    pub running: i64,
    pub delayed: i64,
    pub idle: i64,
    pub oldest: String,
    pub failures: i64,
}

#[derive(Template)]
#[template(path = "queues.html")]
pub struct QueuesPage {
    pub chrome: Chrome,
    pub rows: Vec<QueueLine>,
    /// Each queue's limit, counts and averages (`super::job_runs`).
    pub queues: Vec<super::job_runs::QueueAverage>,
    pub runs: Vec<super::job_runs::JobRunLine>,
}

#[derive(Template)]
#[template(path = "job.html")]
pub struct JobPage {
    pub chrome: Chrome,
    pub id: String,
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub status: String,
    pub total: i32,
    pub done: i64,
    pub failed: i64,
}

/// One saga the search box found.
pub struct FoundLine {
    pub id: String,
    pub short_id: String,
    pub business_key: String,
    pub workflow: String,
    pub status: String,
    /// What matched: `order code`, `phone`, `saga id` …
    pub matched: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub chrome: Chrome,
    pub rows: Vec<FoundLine>,
    /// Why nothing was searched (empty or unusable input), or that nothing matched.
    pub message: Option<String>,
    /// More matched than the page lists.
    pub capped: bool,
}

/// The part of a saga id that tells sagas apart: its last 8 hex digits. A UUIDv7 begins with
/// its millisecond timestamp, so the first 8 digits are the same for every saga made in the
/// same minute; the tail is random.
pub fn short_id(id: &uuid::Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - 8..].to_string()
}

/// `2h 5m`-style age.
pub fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(crate) fn opt_when(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(when).unwrap_or_else(|| "—".into())
}

/// Keys whose values never reach the console.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "api_key",
    "apikey",
    "api_secret",
    "secret",
    "secret_key",
    "token",
    "access_token",
    "password",
    "signature",
    "x-api-key",
    "card",
    "cvv",
];

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&k.as_str()) || k.ends_with("_secret") || k.ends_with("_token")
}

/// A copy of `v` with every secret-looking field replaced by `[redacted]` and phone numbers
/// and e-mail addresses masked.
pub(crate) fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if is_secret(k) {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) => Value::String(crate::domain::pii::mask_text(s).into_owned()),
        other => other.clone(),
    }
}

pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(&redact(v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_secrets_and_masks_phones() {
        let v = json!({"request": {"headers": {"Authorization": "Bearer x", "x-api-key": "k"},
                        "body": {"phone": "0244123456", "amount": 5}}, "webhook_secret": "s"});
        let r = redact(&v);
        assert_eq!(r["request"]["headers"]["Authorization"], "[redacted]");
        assert_eq!(r["request"]["headers"]["x-api-key"], "[redacted]");
        assert_eq!(r["webhook_secret"], "[redacted]");
        assert_eq!(r["request"]["body"]["amount"], 5);
        assert_ne!(r["request"]["body"]["phone"], "0244123456");
    }

    #[test]
    fn short_ids_are_the_random_tail() {
        let id: uuid::Uuid = "0192f3a4-5b6c-7d8e-9f01-23456789abcd".parse().unwrap();
        assert_eq!(short_id(&id), "6789abcd");
        // Made together, two ids share their head and differ in their tail.
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        assert_eq!(a.to_string()[..8], b.to_string()[..8]);
        assert_ne!(short_id(&a), short_id(&b));
    }

    #[test]
    fn ages_read_like_people_say_them() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(3 * 3600 + 120), "3h 2m");
        assert_eq!(age(2 * 86_400), "2d 0h");
    }
}
