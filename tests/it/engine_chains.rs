//! A run of internal steps commits once, and never past a step with an outside effect: that
//! step starts from a written state, so a crash during it is seen as a recovery. Starts that
//! arrive together share a commit, and an idempotency key still starts one saga.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::join_all;
use serde_json::json;
use sqlx::PgPool;

use sagaflow::engine::StartSaga;
use sagaflow::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use sagaflow::engine::runtime::StartError;
use sagaflow::store::{self, Started};

use crate::support;

const WORKFLOW: &str = r#"
name = "chained"
version = 1
start = "api"

[[steps]]
name = "price"
action = "test.inner"

[[steps]]
name = "reserve"
action = "test.inner"

[[steps]]
name = "charge"
action = "test.outside"

[[steps]]
name = "invoice"
action = "test.inner"
"#;

/// What each step saw of its saga's row while it ran: (step, current_step, version).
type Seen = Arc<Mutex<Vec<(String, Option<String>, i64)>>>;

/// Reads its saga's row as written, then succeeds; its effect is declared by the test.
struct Looking {
    pool: PgPool,
    seen: Seen,
    effect: Effect,
}

#[async_trait]
impl Action for Looking {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let (step, version): (Option<String>, i64) =
            sqlx::query_as("SELECT current_step, version FROM sagas WHERE id = $1")
                .bind(ctx.saga_id)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| StepError::retryable("db", e.to_string()))?;
        self.seen
            .lock()
            .unwrap()
            .push((ctx.step.clone(), step, version));
        Ok(StepOutcome::done(json!({ "ran": ctx.step })))
    }

    fn effect(&self) -> Effect {
        self.effect
    }
}

#[tokio::test]
async fn internal_steps_share_a_commit_and_an_outside_effect_starts_from_a_written_state() {
    let mut settings = support::settings().await;
    support::add_workflows(&mut settings, &[("chained.toml", WORKFLOW)]);
    let pool = PgPool::connect(&settings.database.url).await.unwrap();
    let seen = Seen::default();
    let (p1, p2, s1, s2) = (pool.clone(), pool.clone(), seen.clone(), seen.clone());
    let t = support::app_with(settings, move |r| {
        r.register(
            "test.inner",
            Looking {
                pool: p1,
                seen: s1,
                effect: Effect::Internal,
            },
        )
        .register(
            "test.outside",
            Looking {
                pool: p2,
                seen: s2,
                effect: Effect::VerifyFirst { provider: "test" },
            },
        );
    })
    .await;
    let saga = t.start("chained", json!({})).await;
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");

    let seen = seen.lock().unwrap().clone();
    let at = |step: &str| -> (Option<String>, i64) {
        let (_, current, version) = seen.iter().find(|(s, ..)| s == step).unwrap();
        (current.clone(), *version)
    };
    // The claim is version 1; `price` and `reserve` ran on it with nothing written between.
    assert_eq!(at("price"), (None, 1), "{seen:?}");
    assert_eq!(
        at("reserve"),
        (None, 1),
        "price's checkpoint rode on the next: {seen:?}"
    );
    // Both, and the move to `charge`, committed once, before the outside effect ran.
    assert_eq!(at("charge"), (Some("charge".into()), 2), "{seen:?}");
    assert_eq!(at("invoice"), (Some("invoice".into()), 3), "{seen:?}");
    let version: i64 = sqlx::query_scalar("SELECT version FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 4, "claim, price+reserve, charge, invoice");

    // Nothing carried was lost: every step's event and output, in order, numbered without gaps.
    let events: Vec<(i32, String, Option<String>)> =
        sqlx::query_as("SELECT seq, kind, step FROM saga_events WHERE saga_id = $1 ORDER BY seq")
            .bind(saga)
            .fetch_all(&pool)
            .await
            .unwrap();
    let seqs: Vec<i32> = events.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=events.len() as i32).collect::<Vec<_>>());
    let succeeded: Vec<String> = events
        .iter()
        .filter(|e| e.1 == "step_succeeded")
        .filter_map(|e| e.2.clone())
        .collect();
    assert_eq!(succeeded, ["price", "reserve", "charge", "invoice"]);
    let view = t.saga(saga).await;
    for step in ["price", "reserve", "charge", "invoice"] {
        assert_eq!(view["data"]["steps"][step]["ran"], step, "{view}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_that_arrive_together_keep_one_saga_per_key() {
    let t = support::app().await;
    let start = |key: String, hash: &str| StartSaga {
        workflow: "sample_six".into(),
        input: json!({}),
        business_key: Some(key.clone()),
        idempotency_key: Some(key),
        request_hash: Some(hash.into()),
        actor: "service:test".into(),
    };
    // 30 keys, each started twice at once.
    let mut calls = Vec::new();
    for i in 0..30 {
        calls.push(start(format!("together-{i}"), "h"));
        calls.push(start(format!("together-{i}"), "h"));
    }
    let rt = t.app.rt.clone();
    let answers = join_all(calls.into_iter().map(|s| {
        let rt = rt.clone();
        async move { rt.start(s, None).await }
    }))
    .await;

    let mut created = 0;
    for pair in answers.chunks(2) {
        let (a, b) = (pair[0].as_ref().unwrap(), pair[1].as_ref().unwrap());
        assert_eq!(a.id(), b.id(), "one key, one saga");
        created += [a, b]
            .iter()
            .filter(|s| matches!(s, Started::Created(_)))
            .count();
    }
    assert_eq!(created, 30, "each key created exactly once");
    // Afterwards, so it cannot be the one that wins the key.
    let reused = rt.start(start("together-0".into(), "other"), None).await;
    assert!(
        matches!(
            reused,
            Err(StartError::Store(store::Error::IdempotencyConflict { .. }))
        ),
        "{:?}",
        reused.as_ref().map(|s| s.id())
    );
    let pool = t.app.store().pool();
    let (sagas, firsts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sagas WHERE idempotency_key LIKE 'together-%'),
                (SELECT count(*) FROM saga_events e JOIN sagas s ON s.id = e.saga_id
                 WHERE s.idempotency_key LIKE 'together-%' AND e.kind = 'saga_created' AND e.seq = 1)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((sagas, firsts), (30, 30));
    // Each event row keeps the transaction that wrote it: the starts shared commits.
    let commits: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT e.xact) FROM saga_events e JOIN sagas s ON s.id = e.saga_id
         WHERE s.idempotency_key LIKE 'together-%' AND e.kind = 'saga_created'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(commits < 30, "30 starts took {commits} commits");
    t.run().await;
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sagas WHERE idempotency_key LIKE 'together-%' AND status = 'completed'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(done, 30);
}

#[tokio::test]
async fn the_bench_workflows_commit_once_per_saga_and_once_per_step() {
    let t = support::app().await;
    let internal = t.start("sample_six", json!({})).await;
    let effects = t.start("sample_six_effects", json!({})).await;
    t.run().await;
    let pool = t.app.store().pool();
    let version = |id| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT version FROM sagas WHERE id = $1 AND status = 'completed'",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    // Claimed (1), then six internal no-ops in one checkpoint; six declared effects in six.
    assert_eq!(version(internal).await, 2);
    assert_eq!(version(effects).await, 7);
}
