//! `[providers.<name>.limits]`: how hard sagaflow may call one provider (rate, concurrency,
//! breaker), optionally per endpoint, and the start-up check that refuses absurd numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most requests per window and the most calls in flight a setting may name: above
/// these a typo, not a provider's contract, is the likelier source.
const MAX_RATE: u32 = 100_000;
const MAX_CONCURRENCY: u32 = 10_000;
const MAX_BREAKER_FAILURES: u32 = 10_000;

/// One provider's limits. Rate and concurrency 0 mean off; the breaker is on by default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LimitsConfig {
    /// Requests allowed per `per` across every node; 0 = no rate limit.
    pub rate: u32,
    /// The window `rate` counts over (`"1s"`, `"1m"`).
    #[serde(with = "crate::config::duration")]
    #[schema(value_type = String)]
    pub per: Duration,
    /// Calls in flight at once across every node; 0 = no limit.
    pub concurrency: u32,
    pub breaker: BreakerConfig,
    /// Limits of their own for single endpoints (the names exchanges and metrics use), on
    /// top of the provider's.
    pub endpoints: BTreeMap<String, EndpointLimits>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            rate: 0,
            per: Duration::from_secs(1),
            concurrency: 0,
            breaker: BreakerConfig::default(),
            endpoints: BTreeMap::new(),
        }
    }
}

/// An endpoint's own rate and concurrency.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EndpointLimits {
    pub rate: u32,
    #[serde(with = "crate::config::duration")]
    #[schema(value_type = String)]
    pub per: Duration,
    pub concurrency: u32,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            rate: 0,
            per: Duration::from_secs(1),
            concurrency: 0,
        }
    }
}

/// Consecutive failures (timeouts, connection errors, 5xx) that open the breaker, and how
/// long it stays open before one probe is let through. `failures = 0` turns it off.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct BreakerConfig {
    pub failures: u32,
    #[serde(with = "crate::config::duration")]
    #[schema(value_type = String)]
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A rate as tokens: the bucket holds at most `capacity` and refills `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub(crate) capacity: f64,
    pub(crate) per_second: f64,
}

impl Rate {
    pub(crate) fn of(rate: u32, per: Duration) -> Option<Rate> {
        (rate > 0 && !per.is_zero()).then(|| Rate {
            capacity: f64::from(rate),
            per_second: f64::from(rate) / per.as_secs_f64(),
        })
    }
}

fn check_rate(what: &str, rate: u32, per: Duration, concurrency: u32) -> Result<(), String> {
    if rate > MAX_RATE {
        return Err(format!("{what}: rate {rate} is over {MAX_RATE}"));
    }
    if per < Duration::from_millis(1) || per > Duration::from_secs(86_400) {
        return Err(format!(
            "{what}: per must be between 1ms and 1 day, not {per:?}"
        ));
    }
    if concurrency > MAX_CONCURRENCY {
        return Err(format!(
            "{what}: concurrency {concurrency} is over {MAX_CONCURRENCY}"
        ));
    }
    Ok(())
}

impl LimitsConfig {
    /// Refuses numbers no provider contract has: start-up fails with the setting's name.
    pub fn validate(&self, provider: &str) -> Result<(), String> {
        let what = format!("providers.{provider}.limits");
        check_rate(&what, self.rate, self.per, self.concurrency)?;
        let b = &self.breaker;
        if b.failures > MAX_BREAKER_FAILURES {
            return Err(format!(
                "{what}.breaker: failures {} is over {MAX_BREAKER_FAILURES}",
                b.failures
            ));
        }
        if b.failures > 0
            && (b.cool_down < Duration::from_secs(1) || b.cool_down > Duration::from_secs(86_400))
        {
            return Err(format!(
                "{what}.breaker: cool_down must be between 1s and 1 day, not {:?}",
                b.cool_down
            ));
        }
        for (endpoint, e) in &self.endpoints {
            if endpoint.trim().is_empty() || endpoint.len() > 100 {
                return Err(format!(
                    "{what}.endpoints: an endpoint name must be 1-100 characters"
                ));
            }
            check_rate(
                &format!("{what}.endpoints.{endpoint}"),
                e.rate,
                e.per,
                e.concurrency,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_limit_nothing_but_keep_a_breaker() {
        let d = LimitsConfig::default();
        assert_eq!((d.rate, d.concurrency), (0, 0));
        assert_eq!(d.breaker.failures, 5);
        assert!(d.validate("reseller").is_ok());
        assert_eq!(Rate::of(0, Duration::from_secs(1)), None);
        let r = Rate::of(100, Duration::from_secs(60)).unwrap();
        assert!((r.per_second - 100.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn absurd_numbers_are_refused_with_the_setting_named() {
        let mut c = LimitsConfig {
            rate: 1_000_000,
            ..LimitsConfig::default()
        };
        let e = c.validate("reseller").unwrap_err();
        assert!(
            e.contains("providers.reseller.limits") && e.contains("rate"),
            "{e}"
        );
        c.rate = 10;
        c.per = Duration::ZERO;
        assert!(c.validate("reseller").unwrap_err().contains("per"));
        c.per = Duration::from_secs(1);
        c.breaker.cool_down = Duration::from_millis(10);
        assert!(c.validate("reseller").unwrap_err().contains("cool_down"));
        c.breaker.cool_down = Duration::from_secs(5);
        c.endpoints.insert(
            "create_order".into(),
            EndpointLimits {
                concurrency: 1_000_000,
                ..EndpointLimits::default()
            },
        );
        assert!(c.validate("reseller").unwrap_err().contains("create_order"));
    }
}
