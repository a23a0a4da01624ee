//! Keeping a lease while an action runs: when to renew it, and when to give the step up
//! because the lease could not be renewed in time.
//!
//! Another worker may claim a saga as soon as its lease runs out, and then runs the step again
//! (as a recovery, looking first). A step still running here past that point could act a
//! second time: a provider call sent after the other worker looked is one the look could not
//! see. So a step whose lease cannot be confirmed (the database is unreachable, or the
//! renewal is stuck) is dropped a quarter of a lease before it runs out, as a crash would drop
//! it. A request already sent has that quarter, and the half a lease the claim waits before it
//! takes a lease over (`Store::claim`), to land before anyone else may look.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The lease as this worker last confirmed it, on the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Watch {
    expires: Instant,
    length: Duration,
}

impl Watch {
    /// The lease written as running out at `until`, read at `now` on the engine's clock,
    /// which is `at` on the monotonic one. The engine's clock may be a test's, which stands
    /// still: what counts here is how much of the lease is left, from `at` on in real time.
    pub(super) fn new(
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        at: Instant,
        length: Duration,
    ) -> Self {
        let left = (until - now).to_std().unwrap_or_default();
        Self {
            expires: at + left,
            length,
        }
    }

    /// When the lease runs out, unless renewed.
    pub(super) fn expires(&self) -> Instant {
        self.expires
    }

    /// When to renew it: once a third of it is spent.
    pub(super) fn renew_at(&self) -> Instant {
        self.before_expiry(self.length * 2 / 3)
    }

    /// When to try again after a renewal failed at `at`: soon, as the time left is short.
    pub(super) fn retry_at(&self, at: Instant) -> Instant {
        at + (self.length / 10).max(Duration::from_millis(20))
    }

    /// When to drop the step if the lease has not been renewed by then.
    pub(super) fn give_up_at(&self) -> Instant {
        self.before_expiry(self.length / 4)
    }

    fn before_expiry(&self, by: Duration) -> Instant {
        self.expires.checked_sub(by).unwrap_or(self.expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_fresh_lease_is_renewed_after_a_third_and_given_up_a_quarter_before_its_end() {
        let start = Instant::now();
        let w = Watch::new(at(30), at(0), start, Duration::from_secs(30));
        assert_eq!(w.expires() - start, Duration::from_secs(30));
        assert_eq!(w.renew_at() - start, Duration::from_secs(10));
        assert_eq!(w.give_up_at() - start, Duration::from_millis(22_500));
        assert!(
            w.renew_at() < w.give_up_at(),
            "renewal is tried well before giving up"
        );
        assert_eq!(w.retry_at(start) - start, Duration::from_secs(3));
    }

    #[test]
    fn a_half_spent_lease_is_renewed_at_once() {
        let start = Instant::now();
        let w = Watch::new(at(12), at(0), start, Duration::from_secs(30));
        assert!(
            w.renew_at() <= start,
            "less than two thirds left: renew now"
        );
        assert_eq!(w.give_up_at() - start, Duration::from_millis(4_500));
    }

    #[test]
    fn a_lease_already_run_out_is_given_up_at_once() {
        let start = Instant::now();
        let w = Watch::new(at(-5), at(0), start, Duration::from_secs(30));
        assert_eq!(w.expires(), start, "no time left, not negative time");
        assert!(w.give_up_at() <= start);
    }

    #[test]
    fn a_short_lease_retries_no_faster_than_every_twenty_milliseconds() {
        let start = Instant::now();
        let w = Watch::new(at(0), at(0), start, Duration::from_millis(100));
        assert_eq!(w.retry_at(start) - start, Duration::from_millis(20));
    }
}
