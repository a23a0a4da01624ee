//! Why a line got its price: every agreement and price-book entry the resolver could have
//! used, and what became of each. Stored with the snapshot so support can answer "why this
//! price" long after the price book moved on (`GET /v1/pricing/resolutions/{order_item_id}`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::price_agreements::{AgreementBook, AgreementState};
use super::pricing::{Entry, Resolution, Scope};

/// One price the resolver weighed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// `price_agreement` or `price_book_entry`.
    pub kind: &'static str,
    pub id: String,
    pub region: Option<String>,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub processor_price_id: Option<String>,
    pub synced: bool,
    /// `applied`, `outranked` (a higher source applied), `other_currency`, `other_region`,
    /// `not_yet_in_force` or `expired`.
    pub outcome: &'static str,
}

/// The candidates of one resolved line, agreements first, each with its outcome.
pub fn candidates(
    sku: &str,
    scope: &Scope<'_>,
    book: &[Entry],
    agreements: &AgreementBook,
    chosen: &Resolution,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for t in agreements
        .terms
        .iter()
        .filter(|t| t.sku == sku && t.company_id == scope.company_id)
    {
        let outcome = if chosen.price_agreement_id.as_deref() == Some(t.id.as_str()) {
            "applied"
        } else if !t.currency.eq_ignore_ascii_case(scope.currency) {
            "other_currency"
        } else {
            match t.state(agreements.at) {
                AgreementState::Scheduled => "not_yet_in_force",
                AgreementState::Expired => "expired",
                AgreementState::Active => "outranked",
            }
        };
        out.push(Candidate {
            kind: "price_agreement",
            id: t.id.clone(),
            region: None,
            currency: t.currency.clone(),
            unit_amount_minor: t.unit_amount_minor,
            valid_from: Some(t.valid_from),
            valid_until: t.valid_until,
            processor_price_id: t.processor_price_id.clone(),
            synced: t.synced,
            outcome,
        });
    }
    for e in book.iter().filter(|e| e.sku == sku) {
        let other_region = e.region.as_deref().is_some_and(|r| {
            scope
                .region
                .is_none_or(|want| !want.eq_ignore_ascii_case(r))
        });
        let outcome = if chosen.price_book_entry_id.as_deref() == Some(e.id.as_str()) {
            "applied"
        } else if !e.currency.eq_ignore_ascii_case(scope.currency) {
            "other_currency"
        } else if other_region {
            "other_region"
        } else {
            "outranked"
        };
        out.push(Candidate {
            kind: "price_book_entry",
            id: e.id.clone(),
            region: e.region.clone(),
            currency: e.currency.clone(),
            unit_amount_minor: e.unit_amount_minor,
            valid_from: None,
            valid_until: None,
            processor_price_id: e.processor_price_id.clone(),
            synced: e.synced,
            outcome,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::price_agreements::AgreementTerms;
    use crate::domain::pricing::{LineRequest, resolve};

    #[test]
    fn every_candidate_says_why_it_won_or_lost() {
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
        let entry = |id: &str, region: Option<&str>, currency: &str| Entry {
            id: id.into(),
            sku: "S".into(),
            name: "Sensor".into(),
            region: region.map(str::to_string),
            currency: currency.into(),
            unit_amount_minor: 100,
            processor_price_id: None,
            synced: true,
        };
        let terms = |id: &str, from: u32, until: Option<u32>, currency: &str| AgreementTerms {
            id: id.into(),
            company_id: "ACME".into(),
            sku: "S".into(),
            currency: currency.into(),
            unit_amount_minor: 90,
            valid_from: at(from),
            valid_until: until.map(at),
            processor_price_id: Some("price_x".into()),
            synced: true,
        };
        let book = vec![
            entry("g", None, "usd"),
            entry("ca", Some("CA"), "usd"),
            entry("eu", Some("EU"), "usd"),
            entry("g-eur", None, "eur"),
        ];
        let agreements = AgreementBook {
            at: at(10),
            terms: vec![
                terms("now", 1, None, "usd"),
                terms("later", 20, None, "usd"),
                terms("past", 1, Some(5), "usd"),
                terms("euro", 1, None, "eur"),
            ],
        };
        let scope = Scope {
            company_id: "ACME",
            region: Some("CA"),
            currency: "usd",
            strict: true,
        };
        let req = LineRequest {
            sku: "S".into(),
            quantity: 1,
            bespoke: None,
        };
        let chosen = resolve(1, &req, &scope, &book, &agreements).unwrap();
        let all = candidates("S", &scope, &book, &agreements, &chosen);
        let got: Vec<(&str, &str)> = all.iter().map(|c| (c.id.as_str(), c.outcome)).collect();
        assert_eq!(
            got,
            [
                ("now", "applied"),
                ("later", "not_yet_in_force"),
                ("past", "expired"),
                ("euro", "other_currency"),
                ("g", "outranked"),
                ("ca", "outranked"),
                ("eu", "other_region"),
                ("g-eur", "other_currency"),
            ]
        );
    }
}
