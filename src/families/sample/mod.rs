//! The sample workflows' actions. They do what the saga input tells them, so engine tests and
//! the demo can script any path: succeed, fail N times, fail for good, park, wait, sleep.
//!
//! Input shape: `{"steps": {"<step>": Script}, "compensations": {"<step>": Script}, "polls":
//! {"<step>": "done" | "pending"}}`, where a Script is `{"fail_times": n, "fail": "retryable" |
//! "permanent" | "park", "wait": bool, "sleep_ms": n}`. Each run writes a `sample_effects` row.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::engine::action::{
    Action, ActionRegistry, Effect, Execution, Signal, StepContext, StepError, StepOutcome,
};
use crate::families::family::{Context, Family};

/// What the input asks one step (or compensation) to do.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Script {
    /// Fail this many attempts, then succeed.
    fail_times: u32,
    /// How to fail: `retryable` (default), `permanent` (every attempt) or `park`.
    fail: Option<String>,
    /// Ask for the step's wait after the action.
    wait: bool,
    /// Sleep before answering (a slow provider).
    sleep_ms: u64,
}

fn script(ctx: &StepContext, section: &str) -> Script {
    ctx.input
        .get(section)
        .and_then(|s| s.get(&ctx.step))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The sample workflows' input as the door checks it: the scripts and poll answers typed
/// (a misspelt field or a wrong type is refused); any other top-level field is the caller's
/// own, kept with the saga (an order code, a network, a note).
#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    steps: std::collections::BTreeMap<String, Script>,
    #[serde(default)]
    compensations: std::collections::BTreeMap<String, Script>,
    /// Checked by its type alone.
    #[serde(default, rename = "polls")]
    _polls: std::collections::BTreeMap<String, PollAnswer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PollAnswer {
    Done,
    Pending,
}

fn check_input(input: &Value) -> Result<(), String> {
    let input: Input = serde_json::from_value(input.clone()).map_err(|e| e.to_string())?;
    let scripts = input.steps.values().chain(input.compensations.values());
    for s in scripts {
        if let Some(fail) = s
            .fail
            .as_deref()
            .filter(|f| !matches!(*f, "retryable" | "permanent" | "park"))
        {
            return Err(format!(
                "fail must be retryable, permanent or park, not {fail:?}"
            ));
        }
    }
    Ok(())
}

/// Applies a script: records the effect, sleeps (a slow provider answering), then fails or
/// succeeds as told.
async fn play(
    pool: &PgPool,
    ctx: &StepContext,
    s: &Script,
    kind: &str,
    idempotent: bool,
) -> Result<(), StepError> {
    // Without a key the effect verifies first: a recovered run that finds its own row from
    // the run it replaces does not act again.
    let verify = !idempotent && ctx.execution == Execution::Recovered;
    sqlx::query(
        "INSERT INTO sample_effects (saga_id, step, kind, attempt, idempotency_key, idempotent, worker_pid, execution)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE NOT ($9 AND EXISTS (SELECT 1 FROM sample_effects
                                   WHERE saga_id = $1 AND step = $2 AND kind = $3 AND attempt = $4))",
    )
    .bind(ctx.saga_id)
    .bind(&ctx.step)
    .bind(kind)
    .bind(ctx.attempt as i32)
    .bind(&ctx.idempotency_key)
    .bind(idempotent)
    .bind(std::process::id() as i32)
    .bind(ctx.execution.label())
    .bind(verify)
    .execute(pool)
    .await
    .map_err(|e| StepError::retryable("database", e.to_string()))?;
    if s.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.sleep_ms)).await;
    }
    match s.fail.as_deref() {
        Some("permanent") => Err(StepError::permanent(
            "scripted",
            format!("{} told to fail for good", ctx.step),
        )),
        Some("park") => Err(StepError::park(
            "scripted",
            format!("{} told to park", ctx.step),
        )),
        _ if ctx.attempt <= s.fail_times => Err(StepError::retryable(
            "scripted",
            format!(
                "{} told to fail {} time(s); attempt {}",
                ctx.step, s.fail_times, ctx.attempt
            ),
        )),
        _ => Ok(()),
    }
}

/// `sample.work`: a step with a recorded side effect.
struct Work {
    pool: PgPool,
    /// `sample.charge` sends its key to an (imagined) processor that honours it; the effects
    /// table stands in for the provider, one row per run.
    effect: Effect,
}

#[async_trait]
impl Action for Work {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let s = script(ctx, "steps");
        let keyed = matches!(self.effect, Effect::ProviderKey { .. });
        play(&self.pool, ctx, &s, "action", keyed).await?;
        let output = json!({ "step": ctx.step, "attempt": ctx.attempt });
        Ok(if s.wait {
            StepOutcome::wait(output)
        } else {
            StepOutcome::done(output)
        })
    }

    /// A signal with `"status": "failed"` fails the step (retryable); anything else completes it.
    async fn on_signal(
        &self,
        _ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        match signal.payload.get("status").and_then(Value::as_str) {
            Some("failed") => Err(StepError::retryable(
                "signal_failed",
                "the signal reported a failure",
            )),
            Some("pending") => Ok(StepOutcome::pending()),
            _ => Ok(StepOutcome::done(json!({ "signal": signal.payload }))),
        }
    }

    fn effect(&self) -> Effect {
        self.effect
    }
}

/// `sample.undo`: a compensation with a recorded side effect.
struct Undo {
    pool: PgPool,
}

#[async_trait]
impl Action for Undo {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let s = script(ctx, "compensations");
        play(&self.pool, ctx, &s, "undo", false).await?;
        Ok(StepOutcome::done(json!({ "undone": ctx.step })))
    }

    fn effect(&self) -> Effect {
        Effect::VerifyFirst { provider: "sample" }
    }
}

/// `sample.poll`: answers what `polls.<step>` says (`done` by default).
struct Poll {
    pool: PgPool,
}

#[async_trait]
impl Action for Poll {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        play(&self.pool, ctx, &Script::default(), "poll", true).await?;
        match ctx
            .input
            .get("polls")
            .and_then(|p| p.get(&ctx.step))
            .and_then(Value::as_str)
        {
            Some("pending") => Ok(StepOutcome::pending()),
            _ => Ok(StepOutcome::done(json!({ "polled": true }))),
        }
    }

    fn effect(&self) -> Effect {
        // A poll acts on nothing; its row is only there for the tests to count polls.
        Effect::Internal
    }
}

/// `sample.noop`: does nothing; the bench measures the engine alone with it. As
/// `sample.effect_noop` it declares an outside effect it does not have, so each of its steps
/// commits on its own, as a step that calls a provider would (`sample_six_effects`).
struct Noop(Effect);

#[async_trait]
impl Action for Noop {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::done(Value::Null))
    }

    fn effect(&self) -> Effect {
        self.0
    }
}

/// The signal `workflows/sample.toml`'s deliver step waits for. Nothing but tests, the demo
/// and operators send it (`POST /v1/sagas/{id}/signals/sample.delivered`).
pub const DELIVERED: &str = "sample.delivered";

/// The sample family: scripted actions for engine tests, the demo and the bench.
pub struct Sample {
    pool: PgPool,
}

impl Sample {
    pub fn new(cx: &Context<'_>) -> Self {
        Self {
            pool: cx.store.pool().clone(),
        }
    }
}

impl Family for Sample {
    fn name(&self) -> &'static str {
        "sample"
    }

    fn register_actions(&self, registry: &mut ActionRegistry) {
        let pool = &self.pool;
        registry
            .register(
                "sample.work",
                Work {
                    pool: pool.clone(),
                    effect: Effect::VerifyFirst { provider: "sample" },
                },
            )
            // A charge carries its idempotency key to the (imagined) processor, so running it
            // twice after a crash is harmless.
            .register(
                "sample.charge",
                Work {
                    pool: pool.clone(),
                    effect: Effect::ProviderKey { provider: "sample" },
                },
            )
            .register("sample.undo", Undo { pool: pool.clone() })
            .register("sample.poll", Poll { pool: pool.clone() })
            .register("sample.noop", Noop(Effect::Internal))
            .register(
                "sample.effect_noop",
                Noop(Effect::ProviderKey { provider: "sample" }),
            );
    }

    fn signals(&self) -> &'static [&'static str] {
        &[DELIVERED]
    }

    fn input_checks(&self) -> Vec<(&'static str, crate::api::InputCheck)> {
        vec![
            ("sample", check_input),
            ("sample_park", check_input),
            ("sample_six", check_input),
            ("sample_six_effects", check_input),
        ]
    }
}
