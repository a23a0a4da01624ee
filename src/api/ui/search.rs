//! The header's search box: one text that may be an order code, a phone number in any usual
//! form, a partner's orderId, an invoice or tracking number, or a saga id (whole, or the tail
//! the console shows). One exact hit opens the saga; several are listed. Like every console
//! page it needs a viewer or operator session, and both see every saga.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::pages::{chrome, masked};
use super::view::{FoundLine, SearchPage, render, short_id, when};
use crate::api::auth::Principal;
use crate::api::{ApiError, AppState};
use crate::domain::phone::PhoneNumber;
use crate::store::{LOOKUP_LIMIT, Lookup};

/// Longer than any key the search could find (business keys are at most 200 characters).
const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct FindQuery {
    pub q: Option<String>,
}

/// What the text can be, or why it cannot be searched for.
fn parse(raw: &str) -> Result<Lookup, String> {
    let q = raw.trim();
    if q.is_empty() {
        return Err(
            "Type an order code, a phone number, a partner orderId, an invoice or \
                    tracking number, or a saga id."
                .into(),
        );
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!(
            "That is {} characters long; nothing searchable is longer than {MAX_QUERY_CHARS}.",
            q.chars().count()
        ));
    }
    if q.chars().any(char::is_control) {
        return Err("The search text has control characters in it; type it again.".into());
    }
    // The console writes a tail as `…1a2b3c4d`; a pasted one may keep the ellipsis.
    let bare = q.trim_start_matches('…').trim_start_matches("...");
    let tail = (bare.len() == 8 && bare.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| bare.to_ascii_lowercase());
    let mut texts = vec![q.to_string()];
    let upper = q.to_uppercase();
    if upper != q {
        texts.push(upper);
    }
    Ok(Lookup {
        texts,
        phone: PhoneNumber::parse(q)
            .ok()
            .map(|p| p.as_national().to_string()),
        id: Uuid::parse_str(q).ok(),
        tail,
    })
}

/// Finds the sagas a text names.
#[utoipa::path(get, path = "/ui/search", tag = "console", params(("q" = String, Query, description = "order code, phone, partner orderId, invoice or tracking number, or saga id")), responses((status = 200, description = "HTML: the sagas found"), (status = 303, description = "to the one saga found"), (status = 400, description = "HTML: unusable search text")))]
pub async fn search(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(f): Query<FindQuery>,
) -> Result<Response, ApiError> {
    let raw = f.q.unwrap_or_default();
    let mut page = SearchPage {
        chrome: chrome(&who, "search"),
        rows: Vec::new(),
        message: None,
        capped: false,
    };
    // The box shows the text again, unless it is too long to be worth it.
    if raw.chars().count() <= MAX_QUERY_CHARS {
        page.chrome.find = raw.trim().to_string();
    }
    let lookup = match parse(&raw) {
        Ok(l) => l,
        Err(message) => {
            let empty = raw.trim().is_empty();
            page.message = Some(message);
            let mut res = render(&page);
            if !empty {
                *res.status_mut() = StatusCode::BAD_REQUEST;
            }
            return Ok(res);
        }
    };
    let hits = s.rt.store.lookup_sagas(&lookup).await?;
    if let [one] = hits.as_slice() {
        return Ok(Redirect::to(&format!("/ui/sagas/{}", one.id)).into_response());
    }
    if hits.is_empty() {
        page.message = Some(format!(
            "No saga matches {:?}. Order codes, invoice and tracking numbers must be whole; \
             a saga id may be whole or its last 8 digits.",
            masked(raw.trim())
        ));
    }
    page.capped = hits.len() as i64 >= LOOKUP_LIMIT;
    page.rows = hits
        .into_iter()
        .map(|h| FoundLine {
            id: h.id.to_string(),
            short_id: short_id(&h.id),
            business_key: masked(h.business_key.as_deref().unwrap_or_default()),
            workflow: h.workflow,
            status: h.status,
            matched: h.matched,
            created: when(&h.created_at),
        })
        .collect();
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_ids_tails_and_phones_apart() {
        let id = "0192f3a4-5b6c-7d8e-9f01-23456789abcd";
        let l = parse(&format!("  {id} ")).unwrap();
        assert_eq!(l.id, Some(id.parse().unwrap()));
        assert_eq!(
            parse("…6789ABCD").unwrap().tail.as_deref(),
            Some("6789abcd")
        );
        assert_eq!(parse("6789abc").unwrap().tail, None);
        let phone = parse("+233 24 123 4567").unwrap();
        assert_eq!(phone.phone.as_deref(), Some("0241234567"));
        assert_eq!(parse("db-abc").unwrap().texts, ["db-abc", "DB-ABC"]);
        assert_eq!(parse("INV-000001").unwrap().phone, None);
    }

    #[test]
    fn refuses_what_cannot_be_searched() {
        assert!(parse("   ").is_err());
        assert!(parse(&"x".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(parse("DB-\u{0}1").is_err());
        assert!(parse(&"x".repeat(MAX_QUERY_CHARS)).is_ok());
    }
}
