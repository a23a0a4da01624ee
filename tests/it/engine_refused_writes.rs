//! A step whose domain write the database refuses (a rule the write enforces, a constraint)
//! is recorded as a failed attempt: the retry policy runs out and the saga is compensated,
//! instead of rerunning the same refused write after every lease. Hooks that wait for the
//! commit run for the checkpoints that committed, and never for the refused ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};

use sagaflow::engine::action::{Action, StepContext, StepError, StepOutcome};

use crate::support;

const WORKFLOW: &str = r#"
name = "refused_write"
version = 1
start = "api"

[[steps]]
name = "reserve"
action = "test.reserve"
compensation = "test.release"
retry = { schedule = ["1m"] }

[[steps]]
name = "record"
action = "test.record"
retry = { schedule = ["1m"] }
"#;

/// Counts how often a step's commit hook ran.
#[derive(Clone, Default)]
struct Committed(Arc<AtomicUsize>);

impl Committed {
    fn hook(&self) -> impl FnOnce() + Send + Sync + 'static {
        let count = self.0.clone();
        move || {
            count.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Succeeds with nothing to write.
struct Reserve(Committed);

#[async_trait]
impl Action for Reserve {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::done(json!({ "reserved": true })).on_commit(self.0.hook()))
    }
}

/// Undoes `reserve`.
struct Release;

#[async_trait]
impl Action for Release {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::done(json!({ "released": true })))
    }
}

/// Succeeds, but its write breaks a rule inside the checkpoint transaction.
struct Record(Committed);

#[async_trait]
impl Action for Record {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::done(json!({ "recorded": true }))
            .on_commit(self.0.hook())
            .with_write(Box::new(|conn| {
                Box::pin(async move {
                    sqlx::query(
                        "DO $$ BEGIN RAISE EXCEPTION 'the ledger refuses this entry'; END $$",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            })))
    }
}

#[tokio::test]
async fn a_refused_domain_write_fails_the_attempt_and_the_saga_compensates() {
    let mut settings = support::settings().await;
    support::add_workflows(&mut settings, &[("refused_write.toml", WORKFLOW)]);
    let (reserved, recorded) = (Committed::default(), Committed::default());
    let (r1, r2) = (reserved.clone(), recorded.clone());
    let t = support::app_with(settings, move |r| {
        r.register("test.reserve", Reserve(r1))
            .register("test.release", Release)
            .register("test.record", Record(r2));
    })
    .await;
    let saga = t.start("refused_write", json!({})).await;
    t.run().await;
    assert_eq!(t.status(saga).await, "running", "{}", t.saga(saga).await);
    let view = t.saga(saga).await;
    assert_eq!(view["current_step"], "record");
    assert_eq!(view["attempt"], 2, "the refused write counted as attempt 1");
    t.advance(support::mins(2));
    t.run().await;
    assert_eq!(t.status(saga).await, "compensated");
    let view = t.saga(saga).await;
    let failures: Vec<&Value> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["error"]["code"] == "domain_write_refused")
        .collect();
    assert_eq!(failures.len(), 2, "{view}");
    assert!(
        failures[0]["detail"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the ledger refuses this entry")
    );
    // Nothing the refused step said it did was kept; the saga started exactly once.
    assert!(view["data"]["steps"].get("record").is_none(), "{view}");
    let kinds = t.kinds(saga).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "saga_started").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(view["data"]["compensations"]["reserve"]["released"], true);
    assert_eq!(reserved.get(), 1, "the committed step's hook ran once");
    assert_eq!(recorded.get(), 0, "a refused checkpoint runs no hooks");
}
