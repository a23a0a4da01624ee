//! Lifecycles of a hardware order's entities: each a statig machine used as a pure decider.

use statig::blocking::{IntoStateMachine, IntoStateMachineExt, State, Superstate};
use statig::prelude::{Outcome, Transition};

pub mod allocation;
pub mod automation;
pub mod billing;
pub mod directory;
pub mod fulfillment;
pub mod invoice;
pub mod order;
pub mod shipment;

/// An event the entity's current state does not accept. The API maps it to 409 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event} the {entity}: it is {from}")]
pub struct IllegalTransition {
    pub entity: &'static str,
    pub from: &'static str,
    pub event: &'static str,
}

pub use super::UnknownStatus;

/// statig's context for every decider. A self-transition and an ignored event leave the same
/// state behind, so the handler that accepts an event says so here.
#[derive(Debug, Default)]
struct Verdict {
    accepted: bool,
}

impl Verdict {
    fn to<S>(&mut self, state: S) -> Outcome<S> {
        self.accepted = true;
        Transition(state)
    }
}

/// Restores `machine` at `from` and feeds it `event`: the next state, or `None` when no state
/// (nor superstate) accepted the event. The deciders have no entry actions, so restoring is free.
fn decide<M>(machine: M, from: M::State, event: &M::Event<'_>) -> Option<M::State>
where
    M: for<'ctx> IntoStateMachine<Context<'ctx> = Verdict>,
    M::State: State<M> + Clone,
    for<'sub> M::Superstate<'sub>: Superstate<M>,
{
    let mut verdict = Verdict::default();
    let mut machine = machine.uninitialized_state_machine();
    *machine.state_mut() = from;
    let mut machine = machine.init_with_context(&mut verdict);
    machine.handle_with_context(event, &mut verdict);
    verdict.accepted.then(|| machine.state().clone())
}

#[cfg(test)]
mod testing;
