//! A licence's tenure as partners send it (`1_MONTH`, `12_MONTHS`).

use std::fmt;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tenure {
    #[serde(rename = "1_MONTH")]
    OneMonth,
    #[serde(rename = "12_MONTHS")]
    TwelveMonths,
}

impl Tenure {
    pub fn as_str(self) -> &'static str {
        match self {
            Tenure::OneMonth => "1_MONTH",
            Tenure::TwelveMonths => "12_MONTHS",
        }
    }

    pub fn months(self) -> u32 {
        match self {
            Tenure::OneMonth => 1,
            Tenure::TwelveMonths => 12,
        }
    }

    /// The day a licence that runs from `from` for this tenure expires.
    pub(crate) fn expiry_from(self, from: NaiveDate) -> NaiveDate {
        from.checked_add_months(Months::new(self.months()))
            .unwrap_or(NaiveDate::MAX)
    }
}

impl fmt::Display for Tenure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tenure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1_MONTH" => Ok(Tenure::OneMonth),
            "12_MONTHS" => Ok(Tenure::TwelveMonths),
            other => Err(format!(
                "tenure must be 1_MONTH or 12_MONTHS, not {other:?}"
            )),
        }
    }
}
