//! What a workflow's owner hears about its sagas from the engine: a start and a finish. The
//! engine calls these by workflow name and never learns which family answers.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// Called by the engine for the sagas of one workflow. Both calls are for metrics and other
/// in-process bookkeeping: they run after the change has committed and may not fail.
pub trait SagaHooks: Send + Sync {
    /// A saga of this workflow was created (not a replayed idempotency key).
    fn started(&self, _input: &Value) {}
    /// A saga of this workflow reached a final or held state (`outcome` is its status), `secs`
    /// after it was created.
    fn finished(&self, _outcome: &'static str, _input: &Value, _secs: f64) {}
}

/// The hooks of every workflow that has some, by workflow name.
#[derive(Clone, Default)]
pub struct Hooks {
    by_workflow: HashMap<String, Arc<dyn SagaHooks>>,
}

impl Hooks {
    /// Adds `hooks` for `workflow`. The family assembly has already refused a workflow that
    /// two families claim, so a second insert never happens.
    pub fn insert(&mut self, workflow: &str, hooks: Arc<dyn SagaHooks>) {
        self.by_workflow.insert(workflow.to_string(), hooks);
    }

    pub fn started(&self, workflow: &str, input: &Value) {
        if let Some(h) = self.by_workflow.get(workflow) {
            h.started(input);
        }
    }

    pub fn finished(&self, workflow: &str, outcome: &'static str, input: &Value, secs: f64) {
        if let Some(h) = self.by_workflow.get(workflow) {
            h.finished(outcome, input, secs);
        }
    }
}
