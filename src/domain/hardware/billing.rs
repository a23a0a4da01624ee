//! Billing rules beside the invoice's lifecycle: when an invoice falls due, when it is
//! overdue, and how an adjustment or credit note moves its total and its status.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::invoice::InvoiceStatus;
use crate::domain::money::Minor;

/// When an invoice issued at `issued_at` falls due under `terms_days` of payment terms: on
/// issue for prepaid (0 days), else that many days later.
pub fn due_at(issued_at: DateTime<Utc>, terms_days: i32) -> DateTime<Utc> {
    issued_at + Duration::days(i64::from(terms_days.max(0)))
}

/// Whether an invoice is overdue at `now`: issued (wholly or partly unpaid) and past its due
/// time. A draft is not yet owed; a paid or void one is owed nothing.
pub fn is_overdue(
    status: InvoiceStatus,
    due_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    matches!(status, InvoiceStatus::Issued | InvoiceStatus::PartiallyPaid)
        && due_at.is_some_and(|due| now > due)
}

/// What an invoice line is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LineKind {
    /// Goods or services: never negative.
    Item,
    /// A correction either way (a discount is negative, a surcharge positive).
    Adjustment,
    /// A credit note: always negative.
    Credit,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("an item's amount must be 0 or more")]
    NegativeItem,
    #[error("a credit note's amount must be below 0")]
    CreditNotNegative,
    #[error("an adjustment of 0 changes nothing")]
    ZeroAdjustment,
    #[error("the invoice is {0}: lines can be added to a draft, issued or partly paid invoice")]
    Closed(&'static str),
    #[error(
        "the line would take the total to {total}, below the {allocated} already paid; refund instead"
    )]
    BelowPaid { total: i64, allocated: i64 },
    #[error("the line would take the total outside 0 to {max}", max = Minor::MAX)]
    OutOfRange,
}

/// An invoice's money and state as a line is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub status: InvoiceStatus,
    pub total_minor: i64,
    pub allocated_minor: i64,
}

impl Balance {
    /// What is still owed.
    pub fn due_minor(&self) -> i64 {
        self.total_minor - self.allocated_minor
    }
}

/// Adds a line of `kind` and `amount_minor` to an invoice: the new total, and the status it
/// moves to (a credit that leaves nothing owed settles a partly paid invoice). A line may not
/// take the total below what was already paid, nor outside `0..=Minor::MAX`.
pub fn add_line(
    before: Balance,
    kind: LineKind,
    amount_minor: i64,
) -> Result<Balance, BillingError> {
    match kind {
        LineKind::Item if amount_minor < 0 => return Err(BillingError::NegativeItem),
        LineKind::Credit if amount_minor >= 0 => return Err(BillingError::CreditNotNegative),
        LineKind::Adjustment if amount_minor == 0 => return Err(BillingError::ZeroAdjustment),
        _ => {}
    }
    let status = match before.status {
        s @ (InvoiceStatus::Draft | InvoiceStatus::Issued | InvoiceStatus::PartiallyPaid) => s,
        s => return Err(BillingError::Closed(s.as_str())),
    };
    let total = before
        .total_minor
        .checked_add(amount_minor)
        .filter(|t| (0..=Minor::MAX).contains(t))
        .ok_or(BillingError::OutOfRange)?;
    if total < before.allocated_minor {
        return Err(BillingError::BelowPaid {
            total,
            allocated: before.allocated_minor,
        });
    }
    let status = match status {
        InvoiceStatus::PartiallyPaid if total == before.allocated_minor => InvoiceStatus::Paid,
        s => s,
    };
    Ok(Balance {
        status,
        total_minor: total,
        allocated_minor: before.allocated_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 30, 0).unwrap()
    }

    #[test]
    fn prepaid_is_due_on_issue_and_net_terms_later() {
        assert_eq!(due_at(at(1), 0), at(1));
        assert_eq!(due_at(at(1), 30), at(31));
        assert_eq!(due_at(at(1), 14), at(15));
        // A negative term (never stored: a CHECK refuses it) reads as prepaid.
        assert_eq!(due_at(at(1), -5), at(1));
    }

    #[test]
    fn overdue_means_unpaid_and_past_due() {
        let due = Some(at(10));
        assert!(
            !is_overdue(InvoiceStatus::Issued, due, at(10)),
            "due today is not late"
        );
        assert!(is_overdue(InvoiceStatus::Issued, due, at(11)));
        assert!(is_overdue(InvoiceStatus::PartiallyPaid, due, at(11)));
        for settled in [
            InvoiceStatus::Paid,
            InvoiceStatus::Void,
            InvoiceStatus::Draft,
        ] {
            assert!(!is_overdue(settled, due, at(20)), "{settled}");
        }
        assert!(
            !is_overdue(InvoiceStatus::Issued, None, at(20)),
            "no due date"
        );
    }

    fn balance(status: InvoiceStatus, total: i64, allocated: i64) -> Balance {
        Balance {
            status,
            total_minor: total,
            allocated_minor: allocated,
        }
    }

    #[test]
    fn adjustments_and_credits_move_the_balance() {
        let issued = balance(InvoiceStatus::Issued, 10_000, 0);
        let up = add_line(issued, LineKind::Adjustment, 2_500).unwrap();
        assert_eq!((up.total_minor, up.due_minor()), (12_500, 12_500));
        let down = add_line(up, LineKind::Adjustment, -500).unwrap();
        assert_eq!(down.total_minor, 12_000);
        let credited = add_line(down, LineKind::Credit, -2_000).unwrap();
        assert_eq!(
            (credited.total_minor, credited.status),
            (10_000, InvoiceStatus::Issued)
        );
    }

    #[test]
    fn a_credit_that_leaves_nothing_owed_settles_a_partly_paid_invoice() {
        let part = balance(InvoiceStatus::PartiallyPaid, 10_000, 6_000);
        let settled = add_line(part, LineKind::Credit, -4_000).unwrap();
        assert_eq!(settled.status, InvoiceStatus::Paid);
        assert_eq!(settled.due_minor(), 0);
        assert_eq!(
            add_line(part, LineKind::Credit, -4_001),
            Err(BillingError::BelowPaid {
                total: 5_999,
                allocated: 6_000
            })
        );
    }

    #[test]
    fn lines_keep_their_sign_and_closed_invoices_take_none() {
        let issued = balance(InvoiceStatus::Issued, 10_000, 0);
        assert_eq!(
            add_line(issued, LineKind::Credit, 100),
            Err(BillingError::CreditNotNegative)
        );
        assert_eq!(
            add_line(issued, LineKind::Item, -1),
            Err(BillingError::NegativeItem)
        );
        assert_eq!(
            add_line(issued, LineKind::Adjustment, 0),
            Err(BillingError::ZeroAdjustment)
        );
        assert_eq!(
            add_line(issued, LineKind::Credit, -10_001),
            Err(BillingError::OutOfRange)
        );
        assert_eq!(
            add_line(issued, LineKind::Adjustment, Minor::MAX),
            Err(BillingError::OutOfRange)
        );
        for closed in [InvoiceStatus::Paid, InvoiceStatus::Void] {
            assert_eq!(
                add_line(balance(closed, 10_000, 10_000), LineKind::Adjustment, 100),
                Err(BillingError::Closed(closed.as_str()))
            );
        }
        assert!(add_line(balance(InvoiceStatus::Draft, 0, 0), LineKind::Item, 5_000).is_ok());
    }
}
