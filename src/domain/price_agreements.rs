//! Price agreements: a company's negotiated unit price for one SKU in one currency, in force
//! over a validity window `[valid_from, valid_until)`. Pure: the caller loads a company's
//! agreements into an [`AgreementBook`] fixed at one instant, and the resolver asks it through
//! [`PriceAgreements`], so an agreement beats the regional and the global price-book entry
//! only while it is in force and only in its own currency.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::pricing::{Agreement, PriceAgreements};

/// One stored agreement, as the resolver and the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementTerms {
    pub id: String,
    pub company_id: String,
    pub sku: String,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub valid_from: DateTime<Utc>,
    /// `None`: open-ended.
    pub valid_until: Option<DateTime<Utc>>,
    pub processor_price_id: Option<String>,
    pub synced: bool,
}

/// Where an agreement stands at an instant, for lists and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgreementState {
    /// Its window has not begun.
    Scheduled,
    /// In force: the resolver applies it.
    Active,
    /// Its window has ended.
    Expired,
}

impl AgreementTerms {
    /// In force at `at`: from `valid_from` (inclusive) until `valid_until` (exclusive).
    pub fn in_force(&self, at: DateTime<Utc>) -> bool {
        self.state(at) == AgreementState::Active
    }

    pub fn state(&self, at: DateTime<Utc>) -> AgreementState {
        if at < self.valid_from {
            AgreementState::Scheduled
        } else if self.valid_until.is_some_and(|until| at >= until) {
            AgreementState::Expired
        } else {
            AgreementState::Active
        }
    }

    /// In force now and ending within `within`: what the expiry alert counts.
    pub fn expiring_within(&self, at: DateTime<Utc>, within: Duration) -> bool {
        self.in_force(at)
            && self
                .valid_until
                .is_some_and(|until| until <= at.checked_add_signed(within).unwrap_or(until))
    }

    /// Whether the two agreements could both apply to one line at some instant: same company,
    /// SKU and currency, and overlapping windows. The store refuses such a pair, so the
    /// resolver never has to choose between two negotiated prices.
    pub fn clashes_with(&self, other: &AgreementTerms) -> bool {
        self.id != other.id
            && self.company_id == other.company_id
            && self.sku == other.sku
            && self.currency.eq_ignore_ascii_case(&other.currency)
            && windows_overlap(
                self.valid_from,
                self.valid_until,
                other.valid_from,
                other.valid_until,
            )
    }
}

/// Two half-open windows share an instant.
pub fn windows_overlap(
    a_from: DateTime<Utc>,
    a_until: Option<DateTime<Utc>>,
    b_from: DateTime<Utc>,
    b_until: Option<DateTime<Utc>>,
) -> bool {
    a_until.is_none_or(|a_until| b_from < a_until) && b_until.is_none_or(|b_until| a_from < b_until)
}

/// Why a window is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("valid_until ({until}) must be after valid_from ({from})")]
    Empty {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

/// A window that contains at least one instant.
pub fn check_window(from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> Result<(), WindowError> {
    match until {
        Some(until) if until <= from => Err(WindowError::Empty { from, until }),
        _ => Ok(()),
    }
}

/// A company's agreements as the resolver sees them at one instant.
#[derive(Debug, Clone)]
pub struct AgreementBook {
    pub at: DateTime<Utc>,
    pub terms: Vec<AgreementTerms>,
}

impl AgreementBook {
    /// The agreement that applies to a line, if any: the company's, for the SKU, in the
    /// line's currency, in force at [`AgreementBook::at`]. Overlaps are refused when stored;
    /// should two still match, the one that began last wins (then the higher id), so the answer
    /// never depends on load order.
    pub fn applicable(
        &self,
        company_id: &str,
        sku: &str,
        currency: &str,
    ) -> Option<&AgreementTerms> {
        self.terms
            .iter()
            .filter(|t| {
                t.company_id == company_id
                    && t.sku == sku
                    && t.currency.eq_ignore_ascii_case(currency)
                    && t.in_force(self.at)
            })
            .max_by(|a, b| (a.valid_from, &a.id).cmp(&(b.valid_from, &b.id)))
    }
}

impl PriceAgreements for AgreementBook {
    fn find(&self, company_id: &str, sku: &str, currency: &str) -> Option<Agreement> {
        self.applicable(company_id, sku, currency)
            .map(|t| Agreement {
                id: t.id.clone(),
                unit_amount_minor: t.unit_amount_minor,
                currency: t.currency.clone(),
                processor_price_id: t.processor_price_id.clone(),
                synced: t.synced,
            })
    }
}

#[cfg(test)]
#[path = "price_agreements_tests.rs"]
mod tests;
