//! What a step does: the [`Action`] trait, its inputs and outcomes, and the registry that
//! workflow files name actions from.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

/// Everything an action may read. Actions do their side effects outside any transaction and
/// hand rows that must commit with the checkpoint back through [`Effects`].
#[derive(Debug, Clone)]
pub struct StepContext {
    pub saga_id: Uuid,
    pub workflow: String,
    pub step: String,
    /// 1 for the first attempt of this step (or of its compensation).
    pub attempt: u32,
    /// The attempts its retry policy allows: a retryable failure at `attempt < max_attempts`
    /// is tried again, so an action can tell the customer a retry follows.
    pub max_attempts: u32,
    /// The policy's delay before the next attempt, `None` when no retry follows this one. The
    /// engine schedules a retry after it (or after a longer `Retry-After` the failure carries).
    pub retry_delay: Option<Duration>,
    /// `{saga_id}:{step}`: the same on every retry and after a crash, so providers can
    /// deduplicate. Compensations get `{saga_id}:{step}:undo`.
    pub idempotency_key: String,
    /// The saga's start input.
    pub input: Value,
    /// Outputs of earlier steps, by step name.
    pub outputs: Value,
    pub now: DateTime<Utc>,
    /// When the saga was created: no effect of it can be older, so a provider's history
    /// searched back to here holds every reference the saga ever used.
    pub saga_created_at: DateTime<Utc>,
    /// Whether this attempt may have run before; see [`Execution`].
    pub execution: Execution,
    /// Where a long step reports its progress and what it works on, for its job run.
    pub report: super::queues::JobReport,
}

/// Whether an attempt may already have had its effect. The worker derives it without a write
/// of its own: the claim sees the lease an earlier holder left behind, and the state says
/// which attempt this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// The attempt's first run, and no earlier attempt of this step was made.
    First,
    /// A later attempt: earlier ones ended with a recorded failure, which may have been a
    /// timeout or a refused checkpoint after the provider had acted.
    Retry,
    /// This very attempt ran before and its outcome was never recorded: the lease was
    /// reclaimed from a holder that died, lost its lease, failed its checkpoint or was stopped
    /// mid-step.
    Recovered,
}

impl Execution {
    /// The name history, metrics and the sample effects use.
    pub fn label(self) -> &'static str {
        match self {
            Execution::First => "first",
            Execution::Retry => "retry",
            Execution::Recovered => "recovered",
        }
    }
}

impl StepContext {
    /// True when an earlier run, of this attempt or of an earlier one, may have acted: an
    /// effect without a provider key must look before it acts again.
    pub fn may_have_run_before(&self) -> bool {
        self.execution != Execution::First
    }
}

impl StepContext {
    /// Whether a retryable failure of this attempt is followed by another attempt.
    pub(crate) fn retry_follows(&self) -> bool {
        self.attempt < self.max_attempts
    }

    /// When the engine will run the next attempt after this one fails with `failure`: the
    /// policy's delay, or the failure's longer `Retry-After`; `None` when no retry follows (a
    /// permanent failure, a park, or attempts spent). The checkpoint counts from its own clock
    /// reading, a moment after `now`.
    pub fn retry_at(&self, failure: &StepError) -> Option<DateTime<Utc>> {
        let retry_after = match failure {
            StepError::Retryable { retry_after, .. } | StepError::Unknown { retry_after, .. } => {
                *retry_after
            }
            StepError::Permanent { .. } | StepError::Park { .. } => return None,
            // Held before it was sent: the same attempt runs again, not the next one.
            StepError::Deferred { retry_in, .. } => {
                return Some(super::clock::later(self.now, *retry_in));
            }
        };
        let delay = self.retry_delay?;
        let delay = retry_after.map_or(delay, |r| r.max(delay));
        Some(super::clock::later(self.now, delay))
    }

    /// The saga's start input as the workflow's input type; one that does not fit is a
    /// permanent `invalid_input` failure, as no retry can change it.
    pub(crate) fn input_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, StepError> {
        T::deserialize(&self.input)
            .map_err(|e| StepError::permanent("invalid_input", format!("saga input: {e}")))
    }

    /// The output an earlier step recorded, if any.
    pub(crate) fn output_of(&self, step: &str) -> Option<&Value> {
        self.outputs.get(step)
    }
}

/// A signal delivered to a waiting step.
#[derive(Debug, Clone)]
pub struct Signal {
    pub id: i64,
    pub name: String,
    pub payload: Value,
}

/// How the step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Finished; move on.
    Done,
    /// The side effect is under way; wait for the step's signal (or poll).
    Wait,
    /// From a poll: not finished yet, keep waiting.
    Pending,
}

/// A successful step result: its output and the rows to commit with the checkpoint.
pub struct StepOutcome {
    pub kind: OutcomeKind,
    pub output: Value,
    pub effects: Effects,
    /// Set by [`StepOutcome::failed`]: the step failed, yet its effects still commit.
    pub failure: Option<StepError>,
}

impl fmt::Debug for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepOutcome")
            .field("kind", &self.kind)
            .field("output", &self.output)
            .field("failure", &self.failure)
            .finish()
    }
}

impl StepOutcome {
    pub fn done(output: Value) -> Self {
        Self {
            kind: OutcomeKind::Done,
            output,
            effects: Effects::default(),
            failure: None,
        }
    }

    pub fn wait(output: Value) -> Self {
        Self {
            kind: OutcomeKind::Wait,
            output,
            effects: Effects::default(),
            failure: None,
        }
    }

    pub fn pending() -> Self {
        Self {
            kind: OutcomeKind::Pending,
            output: Value::Null,
            effects: Effects::default(),
            failure: None,
        }
    }

    /// A failure whose effects still commit with the checkpoint that records it: an attempt
    /// counter, a failure event, the row that tells an operator why the saga is parked. The
    /// error decides what happens next exactly as if the action had returned it.
    pub fn failed(error: StepError) -> Self {
        Self {
            kind: OutcomeKind::Done,
            output: Value::Null,
            effects: Effects::default(),
            failure: Some(error),
        }
    }

    /// Registers a provider reference (such as `reseller:123`) that signals will address.
    pub fn correlate(mut self, key: impl Into<String>) -> Self {
        self.effects.correlations.push(key.into());
        self
    }

    pub fn with_outbox(mut self, row: OutboxRow) -> Self {
        self.effects.outbox.push(row);
        self
    }

    /// Adds a domain write that commits in the same transaction as the checkpoint.
    pub fn with_write(mut self, write: DomainWrite) -> Self {
        self.effects.writes.push(write);
        self
    }

    /// Runs `hook` once the checkpoint carrying this outcome has committed, and never if it
    /// does not (fenced out, refused, lost with the connection). For counting what happened,
    /// such as a metric, where counting an attempt the database then rolled back would lie.
    pub fn on_commit(mut self, hook: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.effects.committed.push(Box::new(hook));
        self
    }
}

/// A domain write: runs inside the checkpoint transaction, after the fence has passed.
pub type DomainWrite = Box<
    dyn for<'c> FnOnce(&'c mut sqlx::PgConnection) -> BoxFuture<'c, Result<(), sqlx::Error>>
        + Send
        + Sync,
>;

/// Work that runs after a checkpoint committed; see [`StepOutcome::on_commit`].
pub type CommitHook = Box<dyn FnOnce() + Send + Sync>;

/// Rows that commit with a checkpoint, and the hooks that run once it has.
#[derive(Default)]
pub struct Effects {
    pub outbox: Vec<OutboxRow>,
    pub correlations: Vec<String>,
    pub writes: Vec<DomainWrite>,
    /// Not rows: the worker takes these out before committing and runs them after.
    pub committed: Vec<CommitHook>,
}

impl Effects {
    /// True when there is nothing to write with the checkpoint.
    pub fn is_empty(&self) -> bool {
        self.outbox.is_empty() && self.correlations.is_empty() && self.writes.is_empty()
    }
}

/// An outbound delivery, written in the checkpoint and sent later by the outbox loop.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub topic: String,
    pub destination: Option<String>,
    pub payload: Value,
}

/// Why a step did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// Worth trying again: a timeout, a 5xx, a 429.
    #[error("{code}: {message}")]
    Retryable {
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help: bad input, 401, insufficient balance.
    #[error("{code}: {message}")]
    Permanent { code: String, message: String },
    /// Hold the saga for an operator now (for example a provider balance too low to serve).
    #[error("{code}: {message}")]
    Park { code: String, message: String },
    /// Nobody can tell whether the provider acted: a lookup failed, came back truncated, or
    /// the provider keeps no reference to find. Looked at again later and never a resubmit;
    /// when the step's attempts run out the saga parks for an operator, as neither going on
    /// nor compensating is safe while an effect may or may not exist.
    #[error("outcome_unknown: {provider}: {message}")]
    Unknown {
        provider: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Not tried at all: something in front of the provider (a rate limit, a concurrency
    /// limit, an open breaker, an operator's pause) held the call before it was sent. The
    /// saga runs again after `retry_in` with the same attempt number and budget, as nothing
    /// happened that could count against them, and nothing is compensated.
    #[error("{code}: {message}")]
    Deferred {
        code: String,
        message: String,
        retry_in: Duration,
    },
}

impl StepError {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        StepError::Retryable {
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        StepError::Permanent {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn park(code: impl Into<String>, message: impl Into<String>) -> Self {
        StepError::Park {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn deferred(
        code: impl Into<String>,
        message: impl Into<String>,
        retry_in: Duration,
    ) -> Self {
        StepError::Deferred {
            code: code.into(),
            message: message.into(),
            retry_in,
        }
    }

    pub fn unknown(provider: impl Into<String>, message: impl Into<String>) -> Self {
        StepError::Unknown {
            provider: provider.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            StepError::Retryable { code, .. }
            | StepError::Permanent { code, .. }
            | StepError::Park { code, .. }
            | StepError::Deferred { code, .. } => code,
            StepError::Unknown { .. } => "outcome_unknown",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            StepError::Retryable { message, .. }
            | StepError::Permanent { message, .. }
            | StepError::Park { message, .. }
            | StepError::Deferred { message, .. }
            | StepError::Unknown { message, .. } => message,
        }
    }
}

/// A step action, a compensation or a poll.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError>;

    /// Reads the signal a waiting step received. By default the signal's payload is the output.
    /// It may read the database (the saga's lease means one signal at a time); its writes go
    /// through the outcome's effects, so they commit with the checkpoint that consumes it.
    async fn on_signal(
        &self,
        ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        let _ = ctx;
        Ok(StepOutcome::done(signal.payload.clone()))
    }

    /// How the action's effect outside sagaflow stays single when it runs more than once.
    /// The family assembly refuses an action that leaves this [`Effect::Undeclared`].
    fn effect(&self) -> Effect {
        Effect::Undeclared
    }
}

/// How an action keeps its effect outside sagaflow single across retries and crashes. Rows
/// in sagaflow's own database need no declaration: they commit with the checkpoint, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing outside the database: reads, or writes that commit with the checkpoint (an
    /// outbox row included: the relay delivers it under its event id).
    Internal,
    /// The provider honours a key the action sends (the step's idempotency key or a reference
    /// built from it): the same key returns the first result and performs nothing twice.
    ProviderKey { provider: &'static str },
    /// The provider takes no key: when [`StepContext::may_have_run_before`], the action looks
    /// up its current and earlier references first, and acts only when the provider proves it
    /// has nothing. A lookup that cannot prove absence is [`StepError::Unknown`].
    VerifyFirst { provider: &'static str },
    /// Not declared: refused at registration.
    Undeclared,
}

/// Actions by the name workflow files use.
#[derive(Default, Clone)]
pub struct ActionRegistry {
    actions: HashMap<String, Arc<dyn Action>>,
    /// Names registered more than once: the family assembly refuses them at start-up.
    repeated: Vec<String>,
}

impl ActionRegistry {
    /// Adds `action` as `name`. A second action under one name replaces the first and is
    /// remembered in [`ActionRegistry::repeated`], so start-up can refuse it; tests replace
    /// actions on purpose after that check.
    pub fn register(&mut self, name: impl Into<String>, action: impl Action) -> &mut Self {
        let name = name.into();
        if self
            .actions
            .insert(name.clone(), Arc::new(action))
            .is_some()
        {
            self.repeated.push(name);
        }
        self
    }

    /// Names registered more than once.
    pub(crate) fn repeated(&self) -> &[String] {
        &self.repeated
    }

    /// The providers actions verify with before acting: where unknown outcomes can arise.
    pub(crate) fn verified_providers(&self) -> std::collections::BTreeSet<&'static str> {
        self.actions
            .values()
            .filter_map(|a| match a.effect() {
                Effect::VerifyFirst { provider } => Some(provider),
                _ => None,
            })
            .flat_map(|p| p.split(", "))
            .collect()
    }

    /// Names of actions that do not say how their effect stays single, sorted.
    pub(crate) fn undeclared(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .actions
            .iter()
            .filter(|(_, a)| a.effect() == Effect::Undeclared)
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// Takes over every action of `other` and its repeated names. A name both hold is
    /// replaced: the family assembly refuses such a clash, naming both families, before it
    /// extends.
    pub fn extend(&mut self, other: ActionRegistry) {
        self.repeated.extend(other.repeated);
        self.actions.extend(other.actions);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.actions.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ctx(retry_delay: Option<Duration>) -> StepContext {
        StepContext {
            saga_id: Uuid::nil(),
            workflow: "t".into(),
            step: "s".into(),
            attempt: 1,
            max_attempts: 4,
            retry_delay,
            idempotency_key: "k".into(),
            input: Value::Null,
            outputs: Value::Null,
            now: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            saga_created_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            execution: Execution::First,
            report: super::super::queues::JobReport::default(),
        }
    }

    fn retryable(retry_after: Option<Duration>) -> StepError {
        StepError::Retryable {
            code: "x".into(),
            message: "x".into(),
            retry_after,
        }
    }

    #[test]
    fn retry_at_is_the_policy_delay_or_a_longer_retry_after_and_none_without_a_retry() {
        let c = ctx(Some(Duration::from_secs(300)));
        let at = |secs| Some(c.now + chrono::Duration::seconds(secs));
        assert_eq!(c.retry_at(&retryable(None)), at(300));
        assert_eq!(
            c.retry_at(&retryable(Some(Duration::from_secs(120)))),
            at(300)
        );
        assert_eq!(
            c.retry_at(&retryable(Some(Duration::from_secs(900)))),
            at(900)
        );
        assert_eq!(c.retry_at(&StepError::unknown("p", "m")), at(300));
        assert_eq!(c.retry_at(&StepError::permanent("x", "y")), None);
        assert_eq!(c.retry_at(&StepError::park("x", "y")), None);
        assert_eq!(ctx(None).retry_at(&retryable(None)), None, "attempts spent");
        // A provider's absurd number saturates instead of panicking.
        let far = c.retry_at(&retryable(Some(Duration::from_secs(u64::MAX))));
        assert_eq!(far, Some(DateTime::<Utc>::MAX_UTC));
    }
}
