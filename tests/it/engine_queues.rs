//! Per-queue concurrency across nodes: two workers on one database never run more steps of a
//! queue at once than its limit, measured inside the action where the work happens, while a
//! roomier queue keeps running; and a dead node's expired lease gives its slot back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use sagaflow::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};

use crate::support;
use crate::support::prometheus::{render, value};

const WORKFLOWS: &[(&str, &str)] = &[
    (
        "queue_tight.toml",
        r#"
name = "queue_tight"
version = 1
start = "api"

[[steps]]
name = "work"
action = "test.queued"
queue = "tight"
"#,
    ),
    (
        "queue_roomy.toml",
        r#"
name = "queue_roomy"
version = 1
start = "api"

[[steps]]
name = "work"
action = "test.queued"
queue = "roomy"
"#,
    ),
];

/// Per queue: runs in progress now, the most ever at once, and how often a run of another
/// queue started while this one was at its limit.
#[derive(Default)]
struct Seen {
    active: HashMap<String, u32>,
    peak: HashMap<String, u32>,
    runs: u32,
    roomy_started_while_tight_full: u32,
}

/// Holds its queue's place for a while, counting who else is in; the queue is the workflow's.
struct Queued {
    seen: Arc<Mutex<Seen>>,
    tight_limit: u32,
}

#[async_trait]
impl Action for Queued {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let queue = ctx.workflow.trim_start_matches("queue_").to_string();
        {
            let mut s = self.seen.lock().unwrap();
            let now = {
                let a = s.active.entry(queue.clone()).or_default();
                *a += 1;
                *a
            };
            let peak = s.peak.entry(queue.clone()).or_default();
            *peak = (*peak).max(now);
            s.runs += 1;
            if queue == "roomy" && s.active.get("tight").copied() == Some(self.tight_limit) {
                s.roomy_started_while_tight_full += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        *self.seen.lock().unwrap().active.get_mut(&queue).unwrap() -= 1;
        Ok(StepOutcome::done(Value::Null))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_keep_each_queue_within_its_limit_and_a_full_queue_blocks_no_other() {
    let (tight, roomy) = (2u32, 6u32);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut settings = support::settings().await;
    support::add_workflows(&mut settings, WORKFLOWS);
    settings.worker.queues.insert("tight".into(), tight);
    settings.worker.queues.insert("roomy".into(), roomy);
    settings.worker.concurrency = 8;
    settings.worker.claim_batch = 8;
    settings.worker.poll_interval = Duration::from_millis(10);
    settings.worker.queue_recheck = Duration::from_millis(50);
    // Leases outlive the test's clock moves: only full queues wait on the clock.
    settings.worker.lease = Duration::from_secs(3600);
    let s = seen.clone();
    let t = support::app_with(settings, move |r| {
        r.register(
            "test.queued",
            Queued {
                seen: s,
                tight_limit: tight,
            },
        );
    })
    .await;
    let n = 40;
    for _ in 0..n {
        t.start("queue_tight", json!({})).await;
        t.start("queue_roomy", json!({})).await;
    }
    let stop = CancellationToken::new();
    let a = tokio::spawn(t.app.worker("a").run(stop.clone()));
    let b = tokio::spawn(t.app.worker("b").run(stop.clone()));
    let pool = t.app.store().pool().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM sagas WHERE status = 'completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if done == 2 * n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of {} completed",
            2 * n
        );
        // Sagas turned away by a full queue come back after the recheck, on the engine clock.
        t.advance(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    a.await.unwrap();
    b.await.unwrap();

    {
        let s = seen.lock().unwrap();
        assert_eq!(s.runs, 2 * n as u32, "every saga's step ran once");
        assert_eq!(
            s.peak["tight"], tight,
            "the tight queue ran at its limit, never above"
        );
        assert!(
            s.peak["roomy"] > tight && s.peak["roomy"] <= roomy,
            "the roomy queue ran wider than the tight one and within its own limit: {}",
            s.peak["roomy"]
        );
        assert!(
            s.roomy_started_while_tight_full > 0,
            "a full tight queue held the roomy one back"
        );
    }
    // Both nodes took part, and the queue really turned sagas away (they waited, then ran).
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT detail->>'worker') FROM saga_events WHERE kind = 'step_succeeded'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(workers, 2);
    let jobs: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT queue, status, count(*) FROM job_runs GROUP BY queue, status ORDER BY queue",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        jobs,
        vec![
            ("roomy".to_string(), "completed".to_string(), n),
            ("tight".to_string(), "completed".to_string(), n),
        ]
    );
    let waited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_runs WHERE queue = 'tight' AND wait_ms > 0")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(waited > 0, "no tight job ever waited for its queue");
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM queue_slots WHERE saga_id IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(held, 0, "every slot was given back");
}

/// Hangs on its first run (a node that dies mid-step), then succeeds.
struct HangsOnce {
    hung: Arc<Mutex<bool>>,
    started: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Action for HangsOnce {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let first = {
            let mut h = self.hung.lock().unwrap();
            !std::mem::replace(&mut *h, true)
        };
        if first {
            self.started.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(StepOutcome::done(Value::Null))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_slot_frees_when_its_lease_runs_out() {
    let mut settings = support::settings().await;
    support::add_workflows(
        &mut settings,
        &[(
            "queue_single.toml",
            r#"
name = "queue_single"
version = 1
start = "api"

[[steps]]
name = "work"
action = "test.hangs_once"
queue = "single"
"#,
        )],
    );
    settings.worker.queues.insert("single".into(), 1);
    settings.worker.lease = Duration::from_secs(30);
    settings.worker.queue_recheck = Duration::from_millis(100);
    let started = Arc::new(tokio::sync::Notify::new());
    let (hung, st) = (Arc::new(Mutex::new(false)), started.clone());
    let t = support::app_with(settings, move |r| {
        r.register("test.hangs_once", HangsOnce { hung, started: st });
    })
    .await;
    let first = t.start("queue_single", json!({})).await;
    // A node takes the only slot and dies mid-step.
    let doomed = t.app.worker("doomed");
    let node = tokio::spawn(async move { doomed.process_one().await });
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("the first step started");
    node.abort();
    let _ = node.await;

    // The slot is still held: the gauge says so, and another saga of the queue waits for it.
    let mut gauges = sagaflow::engine::gauges::Refresher::default();
    gauges.refresh(&t.app.rt).await.unwrap();
    let exposition = render();
    assert_eq!(
        value(
            &exposition,
            "sagaflow_queue_slots_in_use",
            &[("queue", "single")]
        ),
        1.0
    );
    assert_eq!(
        value(&exposition, "sagaflow_queue_limit", &[("queue", "single")]),
        1.0
    );
    let second = t.start("queue_single", json!({})).await;
    assert_eq!(
        t.run().await,
        1,
        "the second saga was claimed once and put back"
    );
    // Turned away before its first attempt: nothing about it changed.
    assert_eq!(t.status(second).await, "pending");
    let pool = t.app.store().pool().clone();
    let queued: String = sqlx::query_scalar("SELECT status FROM job_runs WHERE saga_id = $1")
        .bind(second)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, "queued");

    // Once the dead node's lease has run out, its slot is free (and no longer counted): both
    // sagas finish, the dead node's taken over half a lease after its lease ran out.
    t.advance(Duration::from_secs(46));
    gauges.refresh(&t.app.rt).await.unwrap();
    assert_eq!(
        value(
            &render(),
            "sagaflow_queue_slots_in_use",
            &[("queue", "single")]
        ),
        0.0
    );
    t.run().await;
    t.advance(Duration::from_secs(1));
    t.run().await;
    assert_eq!(t.status(first).await, "completed");
    assert_eq!(t.status(second).await, "completed");
    let full: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_slots WHERE queue = 'single'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(full, 1, "one slot row for a limit of one");
}

/// Fails its first `failures` runs with a retryable error, then succeeds.
struct FailsFirst {
    failures: u32,
    runs: Arc<Mutex<u32>>,
}

#[async_trait]
impl Action for FailsFirst {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let n = {
            let mut r = self.runs.lock().unwrap();
            *r += 1;
            *r
        };
        if n <= self.failures {
            return Err(StepError::retryable(
                "bridge_down",
                format!("run {n} failed"),
            ));
        }
        Ok(StepOutcome::done(Value::Null))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

#[tokio::test]
async fn a_job_run_goes_delayed_then_failed_then_queued_again_when_an_operator_retries() {
    let mut settings = support::settings().await;
    support::add_workflows(
        &mut settings,
        &[(
            "queue_flaky.toml",
            r#"
name = "queue_flaky"
version = 1
start = "api"

[[steps]]
name = "work"
action = "test.fails_first"
queue = "flaky"
retry = { initial = "10s", multiplier = 1.0, cap = "10s", jitter = 0.0, max_attempts = 2 }
on_exhausted = "park"
"#,
        )],
    );
    settings.worker.queues.insert("flaky".into(), 1);
    let t = support::app_with(settings, move |r| {
        r.register(
            "test.fails_first",
            FailsFirst {
                failures: 2,
                runs: Arc::default(),
            },
        );
    })
    .await;
    let saga = t.start("queue_flaky", json!({})).await;
    t.run().await;
    let j = job(&t, saga).await;
    assert_eq!(j["status"], "delayed", "{j}");
    assert_eq!(j["queue"], "flaky");
    assert_eq!(j["attempt"], 1);
    assert_eq!(j["max_attempts"], 2);
    assert_eq!(j["last_error"]["code"], "bridge_down");
    let retry_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(j["next_retry_at"].clone()).unwrap();
    assert_eq!(
        retry_at
            - serde_json::from_value::<chrono::DateTime<chrono::Utc>>(j["started_at"].clone())
                .unwrap(),
        chrono::Duration::seconds(10)
    );
    let (_, b) = t
        .call("GET", "/v1/job-runs?status=delayed", None, &[])
        .await;
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["queues"][0]["queue"], "automation",
        "configured queues all show"
    );

    t.advance(Duration::from_secs(10));
    t.run().await;
    assert_eq!(t.status(saga).await, "parked");
    let j = job(&t, saga).await;
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["attempt"], 2);
    assert!(j["finished_at"].is_string());

    // An operator retries: the job is queued again, then runs and completes.
    let (s, b) = t
        .call(
            "POST",
            &format!("/v1/sagas/{saga}/retry"),
            Some(json!({ "reason": "bridge is back" })),
            &[],
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    assert_eq!(job(&t, saga).await["status"], "queued");
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");
    let j = job(&t, saga).await;
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["progress"], 100);
    assert!(j["last_error"].is_null(), "{j}");
    let (_, b) = t.call("GET", "/v1/job-runs?queue=flaky", None, &[]).await;
    assert_eq!(b["queues"][0]["counts"]["completed"], 1);
}

/// The one job run of `saga`, read over the API.
async fn job(t: &support::TestApp, saga: uuid::Uuid) -> Value {
    let (s, b) = t
        .call("GET", &format!("/v1/job-runs?saga_id={saga}"), None, &[])
        .await;
    assert_eq!(s, axum::http::StatusCode::OK, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{b}");
    items[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_cuts_a_step_short_gives_its_slot_back_at_once() {
    let mut settings = support::settings().await;
    support::add_workflows(
        &mut settings,
        &[(
            "queue_drained.toml",
            r#"
name = "queue_drained"
version = 1
start = "api"

[[steps]]
name = "work"
action = "test.hangs_once"
queue = "drained"
"#,
        )],
    );
    settings.worker.queues.insert("drained".into(), 1);
    settings.worker.shutdown_timeout = Duration::from_millis(100);
    let started = Arc::new(tokio::sync::Notify::new());
    let (hung, st) = (Arc::new(Mutex::new(false)), started.clone());
    let t = support::app_with(settings, move |r| {
        r.register("test.hangs_once", HangsOnce { hung, started: st });
    })
    .await;
    let saga = t.start("queue_drained", json!({})).await;
    let stop = CancellationToken::new();
    let node = tokio::spawn(t.app.worker("draining").run(stop.clone()));
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("the step started");
    let pool = t.app.store().pool().clone();
    let held = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM queue_slots WHERE saga_id IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(held().await, 1);
    stop.cancel();
    node.await.unwrap();
    assert_eq!(
        held().await,
        0,
        "the drain gave the slot back with the saga"
    );
    // Without moving the clock past any lease, another worker runs the step at once.
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");
}

#[tokio::test]
async fn a_node_refuses_to_start_when_a_step_names_a_queue_without_a_limit() {
    let mut settings = support::settings().await;
    support::add_workflows(
        &mut settings,
        &[(
            "queue_unlimited.toml",
            r#"
name = "queue_unlimited"
version = 1
start = "api"

[[steps]]
name = "work"
action = "sample.noop"
queue = "reports"
"#,
        )],
    );
    let err = match sagaflow::app::App::build(settings.clone()).await {
        Ok(_) => panic!("a queue without a limit was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(
            "workflow queue_unlimited step work runs in queue \"reports\", which has no limit"
        ),
        "{err}"
    );
    settings.worker.queues.insert("reports".into(), 0);
    let err = match sagaflow::app::App::build(settings.clone()).await {
        Ok(_) => panic!("a limit of 0 was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("[worker.queues] reports = 0"), "{err}");
    settings.worker.queues.insert("reports".into(), 3);
    let app = sagaflow::app::App::build(settings)
        .await
        .expect("starts with a limit");
    let slots: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_slots WHERE queue = 'reports'")
        .fetch_one(app.store().pool())
        .await
        .unwrap();
    assert_eq!(slots, 3, "one slot row per unit of the limit");
}
