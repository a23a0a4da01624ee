//! Many workers, one table: no step of a saga ever runs twice at once or twice at all, and a
//! cron tick fires once however many schedulers race for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sagaflow::config::CronJob;
use sagaflow::engine::action::{Action, StepContext, StepError, StepOutcome};

use crate::support;

/// Counts, per (saga, step): how many runs are in progress right now, the most ever seen at
/// once, and how many runs there were in all.
#[derive(Default)]
struct Counter {
    active: HashMap<(Uuid, String), u32>,
    peak: u32,
    runs: HashMap<(Uuid, String), u32>,
}

struct Counting(Arc<Mutex<Counter>>);

#[async_trait]
impl Action for Counting {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let key = (ctx.saga_id, ctx.step.clone());
        {
            let mut c = self.0.lock().unwrap();
            let now = {
                let a = c.active.entry(key.clone()).or_default();
                *a += 1;
                *a
            };
            c.peak = c.peak.max(now);
            *c.runs.entry(key.clone()).or_default() += 1;
        }
        // Long enough for a second worker to try to run the same step if claims overlapped.
        tokio::time::sleep(Duration::from_millis(2)).await;
        *self.0.lock().unwrap().active.get_mut(&key).unwrap() -= 1;
        Ok(StepOutcome::done(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_run_the_same_step_concurrently() {
    let counter = Arc::new(Mutex::new(Counter::default()));
    let c = counter.clone();
    let mut settings = support::settings().await;
    settings.worker.claim_batch = 8;
    settings.worker.concurrency = 16;
    settings.worker.poll_interval = Duration::from_millis(20);
    let t = support::app_with(settings, move |r| {
        r.register("sample.noop", Counting(c));
    })
    .await;
    let n = 200;
    for _ in 0..n {
        t.start("sample_six", json!({})).await;
    }
    let stop = CancellationToken::new();
    let a = tokio::spawn(t.app.worker("a").run(stop.clone()));
    let b = tokio::spawn(t.app.worker("b").run(stop.clone()));
    let pool = t.app.store().pool().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas WHERE status = 'completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if done == n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of {n} completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    a.await.unwrap();
    b.await.unwrap();

    {
        let c = counter.lock().unwrap();
        assert_eq!(c.peak, 1, "a step ran twice at the same time");
        assert_eq!(c.runs.len(), n as usize * 6, "every step of every saga ran");
        assert!(
            c.runs.values().all(|&r| r == 1),
            "some step ran more than once"
        );
    }
    // Both workers really took part, and every step was checkpointed exactly once.
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT detail->>'worker') FROM saga_events WHERE kind = 'step_succeeded'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(workers, 2);
    let succeeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM saga_events WHERE kind = 'step_succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(succeeded, n * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cron_tick_fires_once_across_two_scheduler_nodes() {
    let mut settings = support::settings().await;
    // Only this test's job: the default config's own 02:00 jobs would fire too.
    settings.cron.clear();
    settings.cron.insert(
        "nightly".into(),
        CronJob {
            schedule: "0 0 2 * * *".into(),
            workflow: "sample_six".into(),
            input: json!({ "from": "cron" }),
        },
    );
    // Two nodes: two apps on the same database, each with its own scheduler and clock.
    let one = support::app_with(settings.clone(), |_| {}).await;
    let two = support::app_with(settings, |_| {}).await;
    let (s1, s2) = (
        one.app.scheduler("node-1").unwrap(),
        two.app.scheduler("node-2").unwrap(),
    );
    for t in [&one, &two] {
        t.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 2, 1, 59, 59).unwrap());
    }
    assert_eq!(
        s1.tick_once().await.unwrap() + s2.tick_once().await.unwrap(),
        0,
        "nothing due before 02:00"
    );
    for t in [&one, &two] {
        t.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 1).unwrap());
    }
    let (a, b) = tokio::join!(s1.tick_once(), s2.tick_once());
    assert_eq!(
        a.unwrap() + b.unwrap(),
        1,
        "exactly one node fires the 02:00 tick"
    );
    // Ticking again in the same minute fires nothing.
    assert_eq!(
        s1.tick_once().await.unwrap() + s2.tick_once().await.unwrap(),
        0
    );

    let pool = one.app.store().pool();
    let runs: Vec<(String, chrono::DateTime<Utc>)> =
        sqlx::query_as("SELECT job, scheduled_for FROM cron_runs")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        runs,
        [(
            "nightly".to_string(),
            Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
        )]
    );
    let sagas: Vec<(String, Value)> = sqlx::query_as("SELECT workflow, data FROM sagas")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(sagas.len(), 1);
    assert_eq!(sagas[0].1["input"]["from"], "cron");
    one.run().await;
    let status: String = sqlx::query_scalar("SELECT status FROM sagas")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(status, "completed", "a tick starts a saga like any other");

    // The next night fires again, once.
    for t in [&one, &two] {
        t.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 3, 2, 0, 0).unwrap());
    }
    let (a, b) = tokio::join!(s1.tick_once(), s2.tick_once());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saga_started_on_a_node_with_a_worker_is_handed_over_without_a_claim() {
    let mut settings = support::settings().await;
    settings.worker.poll_interval = Duration::from_secs(3600); // only a hand-off can run it
    let t = support::app_with(settings, |_| {}).await;
    let stop = CancellationToken::new();
    let worker = t.app.worker("local");
    let worker_id = worker.id().to_string();
    let running = tokio::spawn(worker.run(stop.clone()));
    // Let the run loop register itself as this process's worker.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let id = t.start("sample_six", json!({})).await;
    let pool = t.app.store().pool().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM sagas WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if status == "completed" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    running.await.unwrap();

    // Six internal steps, one checkpoint (they ride on each other), and no claim: a claim
    // would have bumped the version a second time.
    let version: i64 = sqlx::query_scalar("SELECT version FROM sagas WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 1);
    let workers: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT detail->>'worker' FROM saga_events WHERE saga_id = $1 AND kind = 'step_succeeded'")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(workers, [worker_id]);
}
