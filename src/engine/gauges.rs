//! Gauges refreshed from the database on an interval: sagas in flight by workflow and status,
//! the age of the oldest runnable and oldest waiting saga per workflow, the outbox backlog, and
//! each queue's slots in use beside its limit.
//!
//! They are read from the database rather than counted in process because they describe the
//! whole cluster: any worker node's exposition carries the same values, and a restart does not
//! reset them. Every known workflow gets a series (0 when it has nothing), so dashboards and
//! alerts see a value instead of an absent series.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::engine::runtime::Runtime;
use crate::engine::unwind;
use crate::telemetry as m;

/// How often [`run`] refreshes: well under a scrape interval's multiple, and a handful of
/// indexed queries each time.
pub const REFRESH_EVERY: Duration = Duration::from_secs(15);

/// Statuses a saga can hold while unfinished; each gets a series per workflow from the start.
const IN_FLIGHT_STATUSES: &[&str] = &[
    "pending",
    "running",
    "waiting",
    "compensating",
    "parked",
    "failed",
];

/// Refreshes the gauges every `every` until `shutdown`.
pub async fn run(rt: Arc<Runtime>, every: Duration, shutdown: CancellationToken) {
    let mut refresher = Refresher::default();
    loop {
        match unwind::catch(refresher.refresh(&rt)).await {
            Ok(Ok(())) => {}
            // A transient database error leaves the last values in place; the next tick retries.
            Ok(Err(e)) => warn!(error = %e, "refreshing database gauges failed"),
            // So does a panic: the gauges go stale for one interval, not for good.
            Err(panic) => error!(%panic, "refreshing database gauges panicked; carrying on"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Remembers which `(workflow, status)` series it has set, so a pair that disappears from the
/// database (an old workflow's last saga finished) drops to 0 instead of keeping its last count.
#[derive(Default)]
pub struct Refresher {
    seen: HashSet<(String, String)>,
}

impl Refresher {
    /// One refresh. Ages are measured against the engine clock, the same clock `next_run_at`
    /// is written with.
    pub async fn refresh(&mut self, rt: &Runtime) -> Result<(), sqlx::Error> {
        let pool = rt.store.pool();
        let now = rt.clock.now();
        let mut workflows: Vec<String> = rt.catalog.all().map(|d| d.name.clone()).collect();
        workflows.sort();
        workflows.dedup();

        let counts: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT workflow, status, count(*) FROM sagas WHERE finished_at IS NULL \
             GROUP BY workflow, status",
        )
        .fetch_all(pool)
        .await?;
        let mut pairs: HashSet<(String, String)> = workflows
            .iter()
            .flat_map(|w| {
                IN_FLIGHT_STATUSES
                    .iter()
                    .map(|s| (w.clone(), (*s).to_string()))
            })
            .collect();
        pairs.extend(self.seen.drain());
        for (w, s, _) in &counts {
            pairs.insert((w.clone(), s.clone()));
        }
        for (w, s) in &pairs {
            let n = counts
                .iter()
                .find(|(cw, cs, _)| cw == w && cs == s)
                .map_or(0, |c| c.2);
            metrics::gauge!(m::SAGAS_IN_FLIGHT, "workflow" => w.clone(), "status" => s.clone())
                .set(n as f64);
        }
        self.seen = pairs;

        // While a worker holds a lease, next_run_at is the lease expiry, so "due" also covers
        // sagas whose worker died: exactly the ones nobody is running.
        let runnable: Vec<(String, f64)> = sqlx::query_as(
            "SELECT workflow, EXTRACT(EPOCH FROM ($1 - min(next_run_at)))::float8 FROM sagas \
             WHERE next_run_at <= $1 AND finished_at IS NULL GROUP BY workflow",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        // updated_at moves with every checkpoint, so for a waiting saga it is when it began
        // waiting or last polled. A saga whose polls go on looks fresh after each one; one
        // that waits on a signal alone, or whose polls stopped, ages: the case the alert is for.
        let waiting: Vec<(String, f64)> = sqlx::query_as(
            "SELECT workflow, EXTRACT(EPOCH FROM ($1 - min(updated_at)))::float8 FROM sagas \
             WHERE status = 'waiting' AND finished_at IS NULL GROUP BY workflow",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        let mut names: HashSet<String> = workflows.into_iter().collect();
        names.extend(runnable.iter().map(|r| r.0.clone()));
        names.extend(waiting.iter().map(|r| r.0.clone()));
        for w in names {
            let age = |rows: &[(String, f64)]| {
                rows.iter().find(|r| r.0 == w).map_or(0.0, |r| r.1.max(0.0))
            };
            metrics::gauge!(m::OLDEST_RUNNABLE_AGE_SECONDS, "workflow" => w.clone())
                .set(age(&runnable));
            metrics::gauge!(m::OLDEST_WAITING_AGE_SECONDS, "workflow" => w.clone())
                .set(age(&waiting));
        }

        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
                .fetch_one(pool)
                .await?;
        metrics::gauge!(m::OUTBOX_PENDING).set(pending as f64);

        // A slot past its holder's lease is free (a dead node's), so it does not count.
        let in_use: Vec<(String, i64)> = sqlx::query_as(
            "SELECT queue, count(*) FILTER (WHERE saga_id IS NOT NULL AND held_until > $1) \
             FROM queue_slots GROUP BY queue",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        for (queue, limit) in &rt.worker.queues {
            let n = in_use.iter().find(|r| &r.0 == queue).map_or(0, |r| r.1);
            metrics::gauge!(m::QUEUE_SLOTS_IN_USE, "queue" => queue.clone()).set(n as f64);
            metrics::gauge!(m::QUEUE_LIMIT, "queue" => queue.clone()).set(f64::from(*limit));
        }
        Ok(())
    }
}
