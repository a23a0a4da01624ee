//! Which checkpoints may ride on the next one: a run of internal steps commits once.
//!
//! A step whose action declares [`Effect::Internal`] acts on nothing outside sagaflow's
//! database. When it also hands back no rows, its checkpoint records nothing but progress, and
//! when the next step is internal too, nothing outside sagaflow can tell whether that progress
//! was written before the next step ran: after a crash both run again and nothing happens
//! twice. So the worker keeps the checkpoint in memory (its events carried, its output merged)
//! and writes it with the next one. The chain ends, and commits, before any step with an
//! outside effect (which must start from a written state, so a crash marks it recovered), a
//! wait, a queue slot, a failure, a settled saga, a lease that needs renewing, and a stop.

use crate::engine::action::Effect;
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{Decision, Next, SagaState};
use crate::engine::transition::SagaRowUpdate;

use super::outcome::{Phase, StepRun};

/// What the chain rule reads besides the decision.
pub(super) struct Link<'a> {
    /// The state the attempt ran in.
    pub(super) from: &'a SagaState,
    pub(super) step: &'a StepRun,
    /// The row the checkpoint would write (it says whether the lease goes on unrenewed).
    pub(super) row: &'a SagaRowUpdate,
    /// The attempt held a queue slot.
    pub(super) slotted: bool,
    /// The attempt left hooks to run once it has committed.
    pub(super) hooks: bool,
}

/// True when the checkpoint of `link` may wait for the next one. `effect` answers an action's
/// declared effect by name (`None`: not registered here).
pub(super) fn defers(
    def: &WorkflowDef,
    decision: &Decision,
    link: &Link<'_>,
    effect: impl Fn(&str) -> Option<Effect>,
) -> bool {
    let internal = |index: usize| {
        def.steps
            .get(index)
            .is_some_and(|s| s.queue.is_none() && effect(&s.action) == Some(Effect::Internal))
    };
    let step = link.step;
    let quiet = step.phase == Phase::Action
        && step.error.is_none()
        && step.rewait.is_none()
        && step.consume_signal.is_none()
        && step.effects.is_empty()
        && !link.hooks
        && !link.slotted;
    let (
        SagaState::Running { step: from, .. },
        SagaState::Running {
            step: to,
            attempt: 1,
        },
    ) = (link.from, &decision.state)
    else {
        return false;
    };
    quiet
        && to > from
        && decision.next == Next::Now
        && link.row.goes_on()
        && link.row.renewed_lease().is_none()
        && internal(*from)
        && internal(*to)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
