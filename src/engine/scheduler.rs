//! The scheduler role: fires cron ticks and runs the families' periodic jobs (each tick claimed
//! once across every node through `cron_runs`), and relays LISTEN/NOTIFY wake-ups to this
//! node's workers. Durable timers need no loop of their own: a timer is a saga's
//! `next_run_at`, which the claim query honours.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::periodic::{PeriodicJob, PeriodicTask};
use super::runtime::Runtime;
use super::runtime::{StartError, StartSaga};
use super::unwind;
use crate::config::CronJob;
use crate::store::{self, Started, WAKE_CHANNEL};
use crate::telemetry as m;

/// A cron job whose schedule parsed.
struct Job {
    name: String,
    schedule: cron::Schedule,
    spec: CronJob,
}

/// A family's periodic job whose schedule parsed.
struct Periodic {
    name: String,
    schedule: cron::Schedule,
    task: Arc<dyn PeriodicTask>,
}

pub struct Scheduler {
    rt: Arc<Runtime>,
    node: String,
    jobs: Vec<Job>,
    periodic: Vec<Periodic>,
    /// When each job was last evaluated here, so a tick between two evaluations is not missed.
    seen: Mutex<HashMap<String, DateTime<Utc>>>,
    interval: Duration,
}

impl Scheduler {
    /// Parses every schedule; a bad one is an error naming the job, and so is a periodic job
    /// named like a cron job or another periodic job (they share `cron_runs`).
    pub fn new(
        rt: Arc<Runtime>,
        jobs: &BTreeMap<String, CronJob>,
        periodic: Vec<PeriodicJob>,
        node: &str,
        interval: Duration,
    ) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for (name, spec) in jobs {
            let schedule = cron::Schedule::from_str(&spec.schedule)
                .map_err(|e| format!("cron job {name}: bad schedule {:?}: {e}", spec.schedule))?;
            if rt.catalog.latest(&spec.workflow).is_none() {
                return Err(format!(
                    "cron job {name}: unknown workflow {:?}",
                    spec.workflow
                ));
            }
            parsed.push(Job {
                name: name.clone(),
                schedule,
                spec: spec.clone(),
            });
        }
        let mut names: std::collections::BTreeSet<String> = jobs.keys().cloned().collect();
        let mut own = Vec::new();
        for job in periodic {
            let schedule = cron::Schedule::from_str(&job.schedule).map_err(|e| {
                format!(
                    "periodic job {}: bad schedule {:?}: {e}",
                    job.name, job.schedule
                )
            })?;
            if !names.insert(job.name.clone()) {
                return Err(format!(
                    "periodic job {}: another cron or periodic job has that name",
                    job.name
                ));
            }
            own.push(Periodic {
                name: job.name,
                schedule,
                task: job.task,
            });
        }
        Ok(Self {
            rt,
            node: node.to_string(),
            jobs: parsed,
            periodic: own,
            seen: Mutex::new(HashMap::new()),
            interval,
        })
    }

    /// The newest tick of `job` due since its last evaluation that went through (missed ticks,
    /// a database outage's included, collapse into the newest one), if any.
    async fn due(
        &self,
        job: &str,
        schedule: &cron::Schedule,
        now: DateTime<Utc>,
    ) -> store::Result<Option<DateTime<Utc>>> {
        // Remembered only once an evaluation has gone through: one the database could not
        // answer must leave the tick it missed still due at the next evaluation.
        let remembered = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .copied();
        let stored = self.rt.store.last_cron_tick(job).await?;
        let fallback = now - chrono::Duration::from_std(self.interval * 2).unwrap_or_default();
        let base = [remembered, stored]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(fallback);
        Ok(schedule.after(&base).take_while(|t| *t <= now).last())
    }

    /// Fires every cron tick and runs every periodic job due since the last evaluation that
    /// went through. Returns how many ticks this node won (cron sagas and periodic runs).
    pub async fn tick_once(&self) -> store::Result<usize> {
        let now = self.rt.clock.now();
        let mut fired = 0;
        for job in &self.jobs {
            let Some(due) = self.due(&job.name, &job.schedule, now).await? else {
                self.remember(&job.name, now);
                continue;
            };
            let start = StartSaga {
                workflow: job.spec.workflow.clone(),
                input: job.spec.input.clone(),
                business_key: Some(format!("cron:{}", job.name)),
                idempotency_key: Some(format!("cron:{}:{}", job.name, due.to_rfc3339())),
                request_hash: None,
                actor: format!("cron:{}", job.name),
            };
            let claim = store::claim_cron_tick(job.name.clone(), due, self.node.clone());
            match self.rt.start(start, Some(claim)).await {
                Ok(Started::Created(saga_id)) => {
                    fired += 1;
                    metrics::counter!(m::CRON_TICKS_TOTAL, "job" => job.name.clone()).increment(1);
                    info!(job = %job.name, scheduled_for = %due, %saga_id, "cron tick fired");
                }
                // Another node fired this tick first: its saga, or its claim, is already there.
                Ok(Started::Existing(_)) | Err(StartError::Store(store::Error::Conflict(_))) => {}
                // The job's workflow is not loaded here; nothing to start.
                Err(StartError::UnknownWorkflow(_)) => {}
                Err(StartError::Store(e)) => return Err(e),
            }
            self.remember(&job.name, now);
        }
        for job in &self.periodic {
            let Some(due) = self.due(&job.name, &job.schedule, now).await? else {
                self.remember(&job.name, now);
                continue;
            };
            if self
                .rt
                .store
                .claim_periodic_tick(&job.name, due, &self.node, now)
                .await?
            {
                fired += 1;
                metrics::counter!(m::CRON_TICKS_TOTAL, "job" => job.name.clone()).increment(1);
                // Run here, in turn: a periodic job is one provider read, bounded by the
                // client's timeout, and a panic in it must not end cron evaluation.
                match unwind::catch(job.task.run(now)).await {
                    Ok(Ok(())) => info!(job = %job.name, scheduled_for = %due, "periodic job ran"),
                    Ok(Err(e)) => warn!(job = %job.name, error = %e, "periodic job failed"),
                    Err(panic) => error!(job = %job.name, %panic, "periodic job panicked"),
                }
            }
            self.remember(&job.name, now);
        }
        Ok(fired)
    }

    /// Records that `job` was evaluated up to `now` and whatever fell due was handled.
    fn remember(&self, job: &str, now: DateTime<Utc>) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_string(), now);
    }

    /// Evaluates cron every interval until `shutdown`. A failed or panicking evaluation is
    /// logged and the next one goes on: a tick it missed is still due then.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(self.interval);
        loop {
            tokio::select! {
                _ = every.tick() => match unwind::catch(self.tick_once()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => error!(error = %e, "cron evaluation failed"),
                    Err(panic) => error!(%panic, "cron evaluation panicked; carrying on"),
                },
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// How one listening session ended.
enum Session {
    /// Shutdown: stop relaying.
    Stop,
    /// The connection failed or dropped: connect again after a pause.
    Reconnect,
}

/// How long to wait before listening again after a failed or panicked session.
const RELISTEN_AFTER: Duration = Duration::from_secs(5);

/// Relays NOTIFY on the wake channel to this node's workers until shutdown. Polling still
/// guarantees progress if a notification is missed; this only makes work start sooner. A
/// session that panics is logged and replaced by a new one, like one whose connection dropped.
pub async fn relay_wakeups(rt: Arc<Runtime>, shutdown: CancellationToken) {
    loop {
        let pause = match unwind::catch(listen(&rt, &shutdown)).await {
            Ok(Session::Stop) => return,
            Ok(Session::Reconnect) => false,
            Err(panic) => {
                error!(%panic, "wake-up relay panicked; listening again");
                true
            }
        };
        if pause {
            tokio::select! {
                _ = tokio::time::sleep(RELISTEN_AFTER) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// One listening session: connect, LISTEN, wake a worker per notification.
async fn listen(rt: &Runtime, shutdown: &CancellationToken) -> Session {
    let mut listener = match PgListener::connect_with(rt.store.pool()).await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "cannot listen for wake-ups; relying on polling");
            tokio::select! {
                _ = tokio::time::sleep(RELISTEN_AFTER) => return Session::Reconnect,
                _ = shutdown.cancelled() => return Session::Stop,
            }
        }
    };
    if let Err(e) = listener.listen(WAKE_CHANNEL).await {
        warn!(error = %e, "LISTEN failed; relying on polling");
    }
    loop {
        tokio::select! {
            msg = listener.recv() => match msg {
                Ok(_) => rt.wake.notify_one(),
                Err(e) => {
                    warn!(error = %e, "wake-up listener dropped; reconnecting");
                    return Session::Reconnect;
                }
            },
            _ = shutdown.cancelled() => return Session::Stop,
        }
    }
}
