//! `ops.bulk_apply`: the one step of an `ops_bulk` job. It acts on each open target in turn;
//! every outcome commits on its own, so a crash resumes with the targets still open.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use crate::engine::action::{Action, ActionRegistry, Effect, StepContext, StepError, StepOutcome};
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::Event;
use crate::families::family::{Context, Family};
use crate::store::{self, Actor, Store};

/// How many targets are read per query.
const BATCH: i64 = 200;

struct BulkApply {
    store: Store,
}

fn event(action: &str) -> Option<Event> {
    match action {
        "retry" => Some(Event::OperatorRetry),
        "resume" => Some(Event::OperatorResume),
        "cancel" => Some(Event::OperatorCancel),
        _ => None,
    }
}

fn db(e: store::Error) -> StepError {
    StepError::retryable("database", e.to_string())
}

#[async_trait]
impl Action for BulkApply {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let job = ctx.saga_id;
        let (action, reason, name, role) = self.store.bulk_settings(job).await.map_err(db)?;
        let Some(ev) = event(&action) else {
            return Err(StepError::permanent(
                "bad_action",
                format!("unknown action {action:?}"),
            ));
        };
        let actor = Actor {
            name,
            role,
            reason,
            job_id: Some(job),
        };
        let mut defs: HashMap<(String, i32), Arc<WorkflowDef>> = HashMap::new();
        loop {
            let items = self.store.bulk_open_items(job, BATCH).await.map_err(db)?;
            if items.is_empty() {
                break;
            }
            for item in items {
                let outcome = self
                    .apply(item.saga_id, ev.clone(), &actor, &mut defs, ctx)
                    .await;
                if let Err(message) = outcome {
                    self.store
                        .bulk_item_failed(job, item.saga_id, &message)
                        .await
                        .map_err(db)?;
                }
            }
        }
        let progress = self.store.bulk_job(job).await.map_err(db)?;
        Ok(StepOutcome::done(json!({
            "total": progress.total,
            "done": progress.done,
            "failed": progress.failed,
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

impl BulkApply {
    /// Acts on one target; `Err` carries the reason it could not, for the item row.
    async fn apply(
        &self,
        saga: uuid::Uuid,
        ev: Event,
        actor: &Actor,
        defs: &mut HashMap<(String, i32), Arc<WorkflowDef>>,
        ctx: &StepContext,
    ) -> Result<(), String> {
        let row = match self.store.get_saga(saga).await {
            Ok(r) => r,
            Err(store::Error::NotFound) => return Err("no such saga".into()),
            Err(e) => return Err(e.to_string()),
        };
        let key = (row.workflow.clone(), row.workflow_version);
        let def = match defs.get(&key) {
            Some(d) => d.clone(),
            None => {
                let d = self
                    .store
                    .load_definition(&key.0, key.1)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(Arc::new)
                    .ok_or("its workflow definition is missing")?;
                defs.insert(key, d.clone());
                d
            }
        };
        crate::engine::operator::apply(&self.store, saga, ev, &def, actor, ctx.now)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                store::Error::Illegal(i) => i.to_string(),
                other => other.to_string(),
            })
    }
}

/// The operators' bulk job (`workflows/ops_bulk.toml`): one saga per `POST /v1/sagas/bulk`.
pub struct OpsBulk {
    store: Store,
}

impl OpsBulk {
    pub fn new(cx: &Context<'_>) -> Self {
        Self {
            store: cx.store.clone(),
        }
    }
}

impl Family for OpsBulk {
    fn name(&self) -> &'static str {
        "ops_bulk"
    }

    fn register_actions(&self, registry: &mut ActionRegistry) {
        registry.register(
            "ops.bulk_apply",
            BulkApply {
                store: self.store.clone(),
            },
        );
    }
}
