//! The overview's activity chart: sagas started, completed and compensated per interval over
//! a window of 1 h, 24 h or 7 d, drawn as grouped bars. The database groups by `date_bin`
//! from the window's start; this module fills the empty intervals and places the bars.

use chrono::{DateTime, Duration, Utc};

/// The windows the overview offers, each with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Hour, Window::Day, Window::Week];

    /// `1h`, `24h`, `7d` (what the links carry); anything else is refused with a message.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.map(str::trim).filter(|r| !r.is_empty()) {
            None | Some("24h") => Ok(Window::Day),
            Some("1h") => Ok(Window::Hour),
            Some("7d") => Ok(Window::Week),
            Some(other) => Err(format!("unknown window {other:?}: choose 1h, 24h or 7d")),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::Hour => "last hour",
            Window::Day => "last 24 hours",
            Window::Week => "last 7 days",
        }
    }

    pub fn span(self) -> Duration {
        match self {
            Window::Hour => Duration::hours(1),
            Window::Day => Duration::hours(24),
            Window::Week => Duration::days(7),
        }
    }

    /// One bar group's interval: 12, 24 and 28 groups.
    pub fn step(self) -> Duration {
        match self {
            Window::Hour => Duration::minutes(5),
            Window::Day => Duration::hours(1),
            Window::Week => Duration::hours(6),
        }
    }

    /// The window's `[from, to)`: `to` is the end of the interval holding `now` (intervals
    /// are aligned to the clock, counted from the Unix epoch), so the last bar is the current,
    /// still-filling interval and the ticks read as round times.
    pub fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let step = self.step().num_seconds();
        let secs = now.timestamp();
        let end = secs - secs.rem_euclid(step) + step;
        let to = DateTime::from_timestamp(end, 0).unwrap_or(now);
        (to - self.span(), to)
    }

    pub fn buckets(self) -> usize {
        (self.span().num_seconds() / self.step().num_seconds()) as usize
    }

    fn tick_format(self) -> &'static str {
        match self {
            Window::Hour | Window::Day => "%H:%M",
            Window::Week => "%a %H:%M",
        }
    }
}

/// One interval's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub started: i64,
    pub completed: i64,
    pub compensated: i64,
}

/// A row as the grouped query returns it: an interval's start and its three counts.
pub type Row = (DateTime<Utc>, i64, i64, i64);

/// Every interval of `window` from `start`, in order, with the query's counts in theirs and
/// zero in the intervals it left out. A row whose start is not an interval of the window (the
/// query bins from `start`, so none should be) is dropped rather than misplaced.
pub fn fill(window: Window, start: DateTime<Utc>, rows: &[Row]) -> Vec<Bucket> {
    let step = window.step();
    let mut out: Vec<Bucket> = (0..window.buckets())
        .map(|i| Bucket {
            start: start + step * i as i32,
            started: 0,
            completed: 0,
            compensated: 0,
        })
        .collect();
    for (at, started, completed, compensated) in rows {
        let offset = (*at - start).num_seconds();
        if offset < 0 || offset % step.num_seconds() != 0 {
            continue;
        }
        if let Some(b) = out.get_mut((offset / step.num_seconds()) as usize) {
            b.started += started;
            b.completed += completed;
            b.compensated += compensated;
        }
    }
    out
}

/// One bar, placed.
pub struct Bar {
    pub x: i32,
    pub y: i32,
    pub height: i32,
    pub series: &'static str,
    pub value: i64,
    pub title: String,
}

/// A tick label under the bars.
pub struct Tick {
    pub x: i32,
    pub text: String,
}

pub const CHART_W: i32 = 720;
pub const CHART_H: i32 = 240;
/// The plot area inside the drawing: room on the left for the scale, below for times.
const LEFT: i32 = 40;
const TOP: i32 = 10;
const PLOT_H: i32 = 190;

/// Bars for every non-zero count (a zero is no bar, and reads as such in the table), the
/// scale's top value, and a few time ticks.
pub fn bars(window: Window, buckets: &[Bucket]) -> (Vec<Bar>, i64, Vec<Tick>) {
    let max = buckets
        .iter()
        .flat_map(|b| [b.started, b.completed, b.compensated])
        .max()
        .unwrap_or(0)
        .max(1);
    let n = buckets.len().max(1) as i32;
    let group = (CHART_W - LEFT - 4) / n;
    let bar_w = ((group - 2) / 3).max(1);
    let mut out = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let gx = LEFT + i as i32 * group + 1;
        for (k, (series, value)) in [
            ("started", b.started),
            ("completed", b.completed),
            ("compensated", b.compensated),
        ]
        .into_iter()
        .enumerate()
        {
            if value <= 0 {
                continue;
            }
            // At least 2 units tall so a count of 1 beside a count of 1000 still shows.
            let height = ((value * PLOT_H as i64) / max).max(2) as i32;
            out.push(Bar {
                x: gx + k as i32 * bar_w,
                y: TOP + PLOT_H - height,
                height,
                series,
                value,
                title: format!(
                    "{value} {series} from {}",
                    b.start.format("%Y-%m-%d %H:%M UTC")
                ),
            });
        }
    }
    let every = (buckets.len() / 4).max(1);
    let ticks = buckets
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, b)| Tick {
            x: LEFT + i as i32 * group,
            text: b.start.format(window.tick_format()).to_string(),
        })
        .collect();
    (out, max, ticks)
}

/// Width of one bar (for the template, which draws them all alike).
pub fn bar_width(buckets: usize) -> i32 {
    let group = (CHART_W - LEFT - 4) / buckets.max(1) as i32;
    ((group - 2) / 3).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    #[test]
    fn windows_parse_and_divide_evenly() {
        assert_eq!(Window::parse(None), Ok(Window::Day));
        assert_eq!(Window::parse(Some("1h")), Ok(Window::Hour));
        assert_eq!(Window::parse(Some("7d")), Ok(Window::Week));
        assert!(
            Window::parse(Some("3d"))
                .unwrap_err()
                .contains("1h, 24h or 7d")
        );
        assert_eq!(
            Window::ALL.map(Window::buckets),
            [12, 24, 28],
            "5-minute, hourly and 6-hourly intervals"
        );
    }

    #[test]
    fn a_window_ends_with_the_interval_that_holds_now() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        assert_eq!(Window::Hour.bounds(now), (t(8, 5), t(9, 5)));
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 7, 30).unwrap();
        assert_eq!(Window::Hour.bounds(now), (t(8, 10), t(9, 10)));
        assert_eq!(Window::Day.bounds(now).1, t(10, 0));
        let (from, to) = Window::Week.bounds(now);
        assert_eq!(to, t(12, 0));
        assert_eq!(to - from, Duration::days(7));
    }

    #[test]
    fn rows_land_in_their_interval_and_gaps_are_zero() {
        let start = t(10, 0);
        let rows = vec![(t(10, 0), 3, 1, 0), (t(10, 55), 1, 0, 2)];
        let b = fill(Window::Hour, start, &rows);
        assert_eq!(b.len(), 12);
        assert_eq!((b[0].started, b[0].completed, b[0].compensated), (3, 1, 0));
        assert_eq!(
            (b[11].started, b[11].completed, b[11].compensated),
            (1, 0, 2)
        );
        assert_eq!(b[11].start, t(10, 55));
        assert!(
            b[1..11]
                .iter()
                .all(|x| x.started + x.completed + x.compensated == 0)
        );
    }

    #[test]
    fn rows_outside_the_window_or_off_the_grid_are_dropped() {
        let start = t(10, 0);
        let rows = vec![
            (t(9, 55), 5, 0, 0),
            (t(11, 0), 5, 0, 0),
            (t(10, 7), 5, 0, 0),
        ];
        let b = fill(Window::Hour, start, &rows);
        assert_eq!(b.iter().map(|x| x.started).sum::<i64>(), 0);
    }

    #[test]
    fn bars_scale_to_the_largest_count_and_skip_zeros() {
        let start = t(0, 0);
        let b = fill(Window::Day, start, &[(t(2, 0), 4, 2, 1)]);
        let (bars, max, ticks) = bars(Window::Day, &b);
        assert_eq!(max, 4);
        assert_eq!(bars.len(), 3);
        let started = bars.iter().find(|b| b.series == "started").unwrap();
        let completed = bars.iter().find(|b| b.series == "completed").unwrap();
        assert_eq!(started.height, PLOT_H);
        assert_eq!(completed.height, PLOT_H / 2);
        assert_eq!(started.y + started.height, completed.y + completed.height);
        assert!(started.title.starts_with("4 started from 2026-03-01 02:00"));
        assert_eq!(ticks.len(), 4);
        assert!(bars.iter().all(|b| b.x + bar_width(24) <= CHART_W));
    }
}
