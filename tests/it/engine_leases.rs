//! A step whose lease cannot be renewed is dropped before the lease runs out, as a crash would
//! drop it, and whoever holds the saga next runs it again as a recovery. No step goes on
//! acting on a lease another worker may already have claimed. A recovery held before it acts
//! is still a recovery when it runs again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Notify;

use sagaflow::engine::action::{Action, Effect, Execution, StepContext, StepError, StepOutcome};

use crate::support;

const WORKFLOW: &str = r#"
name = "leased"
version = 1
start = "api"

[[steps]]
name = "deliver"
action = "test.slow"
"#;

/// Runs for three leases on its first run, then records that it acted. Its first recovery is
/// held before it acts, as a provider gate holds a call; the next one acts at once.
struct Slow {
    started: Arc<Notify>,
    acted: Arc<Mutex<Vec<Execution>>>,
    held: Arc<Mutex<Vec<Execution>>>,
}

#[async_trait]
impl Action for Slow {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        if ctx.execution == Execution::First {
            self.started.notify_one();
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        {
            let mut held = self.held.lock().unwrap();
            if held.is_empty() {
                held.push(ctx.execution);
                return Err(StepError::deferred(
                    "provider_held",
                    "held",
                    Duration::from_secs(1),
                ));
            }
        }
        self.acted.lock().unwrap().push(ctx.execution);
        Ok(StepOutcome::done(json!({})))
    }

    fn effect(&self) -> Effect {
        Effect::VerifyFirst { provider: "test" }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_lease_cannot_be_renewed_is_dropped_and_recovered_by_the_next_holder() {
    let mut settings = support::settings().await;
    settings.worker.lease = Duration::from_secs(1);
    support::add_workflows(&mut settings, &[("leased.toml", WORKFLOW)]);
    let pool = PgPool::connect(&settings.database.url).await.unwrap();
    let started = Arc::new(Notify::new());
    let acted = Arc::new(Mutex::new(Vec::new()));
    let held = Arc::new(Mutex::new(Vec::new()));
    let (s, a, h) = (started.clone(), acted.clone(), held.clone());
    let t = support::app_with(settings, move |r| {
        r.register(
            "test.slow",
            Slow {
                started: s,
                acted: a,
                held: h,
            },
        );
    })
    .await;
    let saga = t.start("leased", json!({})).await;
    let before = t.status(saga).await;

    let worker = t.worker.clone();
    let running = tokio::spawn(async move { worker.run_until_idle().await });
    started.notified().await;
    // The saga's row locked from elsewhere: the heartbeat cannot renew the lease, as when the
    // database cannot be reached.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM sagas WHERE id = $1 FOR UPDATE")
        .bind(saga)
        .execute(&mut *lock)
        .await
        .unwrap();
    let ran = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(
        ran.is_ok(),
        "the worker kept the step running on a lease it could not renew"
    );
    ran.unwrap().unwrap().unwrap();
    lock.rollback().await.unwrap();
    assert!(
        acted.lock().unwrap().is_empty(),
        "the dropped step acted: {:?}",
        acted.lock().unwrap()
    );
    assert_eq!(t.status(saga).await, before, "nothing was written");

    // Past the lease, the next holder runs the step again as a recovery, which is held.
    t.advance(Duration::from_secs(2));
    t.run().await;
    assert_eq!(*held.lock().unwrap(), [Execution::Recovered]);
    assert!(acted.lock().unwrap().is_empty());
    let (attempt, recovering): (i32, bool) =
        sqlx::query_as("SELECT attempt, recovering FROM sagas WHERE id = $1")
            .bind(saga)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (attempt, recovering),
        (1, true),
        "held without spending the attempt, and still a recovery"
    );

    // When it is due again it still looks first: the held run never acted.
    t.advance(Duration::from_secs(2));
    t.run().await;
    assert_eq!(*acted.lock().unwrap(), [Execution::Recovered]);
    assert_eq!(t.status(saga).await, "completed");
    let recovering: bool = sqlx::query_scalar("SELECT recovering FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!recovering, "the run that acted cleared it");
}
