//! Money as integer minor units (pesewas for GHS), so ledgers sum exactly.

use std::fmt;

/// An amount in minor units (1 GHS = 100 pesewas). Signed: ledger debits are negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Minor(pub i64);

impl Minor {
    /// Converts a configured major-unit amount (`5.5` GHS) to minor units, rounding half away
    /// from zero. `None` for amounts that are not finite or do not fit.
    pub fn from_major(major: f64) -> Option<Self> {
        let minor = (major * 100.0).round();
        (minor.is_finite() && minor.abs() < 9.0e15).then_some(Minor(minor as i64))
    }

    /// `"12.50"`: how the API shows an amount.
    pub fn to_major_string(self) -> String {
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
}
