//! Money as integer minor units (pesewas for GHS), so ledgers sum exactly.

use std::fmt;

/// An amount in minor units (1 GHS = 100 pesewas). Signed: ledger debits are negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Minor(pub i64);

impl Minor {
    /// The most any one amount or total may be, in minor units: ten trillion in major units.
    /// Far beyond any real order, yet thousands of such amounts still sum inside an `i64` and
    /// a Postgres `bigint`, so an API that refuses larger numbers (422) keeps every total it
    /// computes from overflowing.
    pub const MAX: i64 = 1_000_000_000_000_000;

    /// `Some` when the amount is within `0..=MAX`.
    pub(crate) fn in_range(amount: i64) -> Option<Self> {
        (0..=Self::MAX).contains(&amount).then_some(Minor(amount))
    }

    /// The sum of `amounts`, or `None` when it leaves `0..=MAX` (or any step overflows).
    pub fn total(amounts: impl IntoIterator<Item = i64>) -> Option<Self> {
        amounts
            .into_iter()
            .try_fold(0i64, i64::checked_add)
            .and_then(Self::in_range)
    }

    /// Converts a configured major-unit amount (`5.5` GHS) to minor units, rounding half away
    /// from zero. `None` for amounts that are not finite or do not fit.
    pub fn from_major(major: f64) -> Option<Self> {
        let minor = (major * 100.0).round();
        (minor.is_finite() && minor.abs() < 9.0e15).then_some(Minor(minor as i64))
    }

    /// `"12.50"`: how the API shows an amount.
    pub(crate) fn to_major_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// The amount in major units, for providers that take a float.
    pub fn as_major(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_major_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways() {
        assert_eq!(Minor::from_major(5.5), Some(Minor(550)));
        assert_eq!(Minor::from_major(0.1 + 0.2), Some(Minor(30)));
        assert_eq!(Minor(1250).to_major_string(), "12.50");
        assert_eq!(Minor(-5).to_major_string(), "-0.05");
        assert_eq!(Minor::from_major(f64::NAN), None);
    }

    #[test]
    fn totals_stay_in_range_or_are_refused() {
        assert_eq!(Minor::total([1, 2, 3]), Some(Minor(6)));
        assert_eq!(Minor::total([]), Some(Minor(0)));
        assert_eq!(Minor::total([Minor::MAX, 1]), None);
        assert_eq!(Minor::total([i64::MAX, i64::MAX]), None);
        assert_eq!(Minor::total([-1]), None);
        assert_eq!(Minor::in_range(Minor::MAX), Some(Minor(Minor::MAX)));
        assert_eq!(Minor::in_range(-5), None);
    }
}
