//! Backoff schedules: how long to wait before the next attempt of a step or compensation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A step's retry policy, as written in its workflow file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetryPolicy {
    /// Explicit delays: `["5m", "15m", "1h"]` allows four attempts, the first straight away.
    Schedule {
        #[serde(with = "durations")]
        delays: Vec<Duration>,
    },
    /// `initial * multiplier^(n-1)`, capped, with ± `jitter` (a fraction) spread.
    Exponential {
        #[serde(with = "crate::config::duration")]
        initial: Duration,
        multiplier: f64,
        #[serde(with = "crate::config::duration")]
        cap: Duration,
        jitter: f64,
        max_attempts: u32,
    },
}

impl RetryPolicy {
    /// The policy of a step that names none: three quick attempts.
    pub(crate) fn default_step() -> Self {
        RetryPolicy::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            cap: Duration::from_secs(60),
            jitter: 0.1,
            max_attempts: 3,
        }
    }

    /// Compensations keep trying longer by default: giving up on an undo means an operator.
    pub(crate) fn default_compensation() -> Self {
        RetryPolicy::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            cap: Duration::from_secs(300),
            jitter: 0.1,
            max_attempts: 8,
        }
    }

    /// Total attempts allowed, the first included.
    pub fn max_attempts(&self) -> u32 {
        match self {
            RetryPolicy::Schedule { delays } => delays.len() as u32 + 1,
            RetryPolicy::Exponential { max_attempts, .. } => *max_attempts,
        }
    }

    /// Delay before attempt `next` (2 for the first retry), or `None` once attempts are spent.
    /// `jitter_sample` is a number in `[0, 1)` supplied by the caller, so this stays pure.
    pub(crate) fn delay_before(&self, next: u32, jitter_sample: f64) -> Option<Duration> {
        if next < 2 || next > self.max_attempts() {
            return None;
        }
        match self {
            RetryPolicy::Schedule { delays } => delays.get(next as usize - 2).copied(),
            RetryPolicy::Exponential {
                initial,
                multiplier,
                cap,
                jitter,
                ..
            } => {
                let exp = multiplier.powi(next as i32 - 2);
                let base = (initial.as_secs_f64() * exp).min(cap.as_secs_f64());
                let spread = base * jitter * (2.0 * jitter_sample - 1.0);
                Some(Duration::from_secs_f64(
                    (base + spread).clamp(0.0, cap.as_secs_f64()),
                ))
            }
        }
    }
}

/// Serde for a list of human durations.
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
            .collect()
    }

    pub(crate) fn serialize<S: Serializer>(value: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(value.len()))?;
        for d in value {
            seq.serialize_element(&humantime::format_duration(*d).to_string())?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_gives_its_delays_then_stops() {
        let p = RetryPolicy::Schedule {
            delays: vec![
                Duration::from_secs(300),
                Duration::from_secs(900),
                Duration::from_secs(3600),
            ],
        };
        assert_eq!(p.max_attempts(), 4);
        assert_eq!(p.delay_before(2, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(p.delay_before(3, 0.5), Some(Duration::from_secs(900)));
        assert_eq!(p.delay_before(4, 0.5), Some(Duration::from_secs(3600)));
        assert_eq!(p.delay_before(5, 0.5), None);
    }

    #[test]
    fn exponential_grows_caps_and_jitters_within_bounds() {
        let p = RetryPolicy::Exponential {
            initial: Duration::from_secs(60),
            multiplier: 2.0,
            cap: Duration::from_secs(300),
            jitter: 0.2,
            max_attempts: 6,
        };
        // jitter sample 0.5 is the midpoint: no spread.
        assert_eq!(p.delay_before(2, 0.5), Some(Duration::from_secs(60)));
        assert_eq!(p.delay_before(3, 0.5), Some(Duration::from_secs(120)));
        assert_eq!(p.delay_before(4, 0.5), Some(Duration::from_secs(240)));
        assert_eq!(p.delay_before(5, 0.5), Some(Duration::from_secs(300)));
        let low = p.delay_before(3, 0.0).unwrap().as_secs_f64();
        let high = p.delay_before(3, 0.999).unwrap().as_secs_f64();
        assert!((95.0..=97.0).contains(&low), "{low}");
        assert!((143.0..=145.0).contains(&high), "{high}");
        assert_eq!(p.delay_before(7, 0.5), None);
    }

    #[test]
    fn policy_json_round_trips() {
        for p in [
            RetryPolicy::default_step(),
            RetryPolicy::Schedule {
                delays: vec![Duration::from_secs(5)],
            },
        ] {
            let json = serde_json::to_value(&p).unwrap();
            assert_eq!(serde_json::from_value::<RetryPolicy>(json).unwrap(), p);
        }
    }
}
