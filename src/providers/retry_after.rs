//! A provider's `Retry-After`, read in one place and clamped to a day.
//!
//! The header is the provider's number, not ours: `Retry-After: 99999999999999` once reached
//! date arithmetic and panicked the worker and the outbox relay. Read here, it is at most
//! [`MAX_RETRY_AFTER`], so every delay computed from it fits any clock.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest wait a provider may ask for. Longer asks wait this long and then try again,
/// which a provider still limiting us answers with another 429.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Retry-After` value, delay-seconds or an HTTP date, as a wait from `now` within
/// `[0, MAX_RETRY_AFTER]`. `None` when it is neither.
pub fn parse(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a long time": the clamp, not nothing.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(clamp(Duration::from_secs(seconds)));
    }
    if let Some(digits) = value.strip_prefix('-') {
        // Not allowed by RFC 9110, but its meaning is plain: do not wait.
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Duration::ZERO);
        }
    }
    let at = http_date(value)?;
    // A date in the past means "now"; both dates are in chrono's range, so the difference is.
    Some(clamp((at - now).to_std().unwrap_or(Duration::ZERO)))
}

/// `wait` at most [`MAX_RETRY_AFTER`].
pub fn clamp(wait: Duration) -> Duration {
    wait.min(MAX_RETRY_AFTER)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms RFC 9110 asks
/// recipients to accept (RFC 850 and asctime).
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn seconds_are_read_and_clamped_to_a_day() {
        assert_eq!(parse("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999", now()), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse("99999999999999999999999999999", now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse("-5", now()), Some(Duration::ZERO));
        for junk in ["", "soon", "1.5", "NaN", "-", "1e9", "+5"] {
            assert_eq!(parse(junk, now()), None, "{junk:?}");
        }
    }

    #[test]
    fn dates_are_read_in_every_http_form_and_clamped() {
        for text in [
            "Sun, 01 Mar 2026 09:02:00 GMT",
            "Sunday, 01-Mar-26 09:02:00 GMT",
            "Sun Mar  1 09:02:00 2026",
        ] {
            assert_eq!(parse(text, now()), Some(Duration::from_secs(120)), "{text}");
        }
        assert_eq!(
            parse("Fri, 31 Dec 9999 23:59:59 GMT", now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse("Thu, 01 Jan 1970 00:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }
}
