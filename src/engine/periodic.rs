//! Periodic jobs: work a family runs on a schedule that is not a saga (a provider balance read
//! every two minutes would flood the saga lists with sagas nobody needs to see). The scheduler
//! claims each tick once across every node through `cron_runs`, as it does for cron sagas, and
//! the node that won the claim runs the job.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What a periodic job does at each tick.
#[async_trait]
pub trait PeriodicTask: Send + Sync {
    /// One run at `now` (the runtime's clock). An error is logged and counted; the next tick
    /// runs anyway, so a job must leave nothing half done that the next run cannot redo.
    async fn run(&self, now: DateTime<Utc>) -> Result<(), String>;
}

/// A job a family asks the scheduler to run.
#[derive(Clone)]
pub struct PeriodicJob {
    /// Its key in `cron_runs`: unique across `[cron.<name>]` jobs and every family's jobs.
    pub name: String,
    /// A cron schedule, seconds field first, as `[cron.<name>]` schedules are written.
    pub schedule: String,
    pub task: Arc<dyn PeriodicTask>,
}

impl std::fmt::Debug for PeriodicJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodicJob")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}
