//! An automation run's lifecycle: attempts and retries, then success, or an operator's call.

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "automation";

/// What parsing a stored status that no variant matches returns.
fn unknown(value: &str) -> UnknownStatus {
    UnknownStatus::new(ENTITY, value)
}

/// An automation run's state. The serde tags are a storage contract: never rename them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown)]
pub enum AutomationStatus {
    Queued,
    Retrying,
    Succeeded,
    /// Attempts are spent: held for an operator.
    Failed,
    FallbackTriggered,
}

impl AutomationStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Failed is not among them: an operator can still retry it or run the fallback.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            AutomationStatus::Succeeded | AutomationStatus::FallbackTriggered
        )
    }

    /// The work is done, by the automation or by hand: the saga may move on.
    pub fn is_resolved(self) -> bool {
        matches!(
            self,
            AutomationStatus::Succeeded | AutomationStatus::FallbackTriggered
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomationEvent {
    Succeed,
    /// An attempt failed; `exhausted` when it was the last one allowed.
    FailAttempt {
        exhausted: bool,
    },
    /// An operator asks for another go.
    Retry,
    /// An operator runs the manual fallback.
    Fallback,
}

impl AutomationEvent {
    pub const ALL: &'static [AutomationEvent] = &[
        AutomationEvent::Succeed,
        AutomationEvent::FailAttempt { exhausted: false },
        AutomationEvent::FailAttempt { exhausted: true },
        AutomationEvent::Retry,
        AutomationEvent::Fallback,
    ];

    /// Reads as "cannot {this} the automation".
    pub fn as_str(self) -> &'static str {
        match self {
            AutomationEvent::Succeed => "record success for",
            AutomationEvent::FailAttempt { .. } => "record a failed attempt for",
            AutomationEvent::Retry => "retry",
            AutomationEvent::Fallback => "run the fallback for",
        }
    }
}

/// The decider.
pub(crate) fn apply(
    from: AutomationStatus,
    event: AutomationEvent,
) -> Result<AutomationStatus, IllegalTransition> {
    decide(Automation, State::from(from), &event)
        .map(AutomationStatus::from)
        .ok_or_else(|| IllegalTransition {
            entity: ENTITY,
            from: from.as_str(),
            event: event.as_str(),
        })
}

/// The statig machine: it stores nothing, the state is everything.
/// Its generated `State` stays private (`visibility = ""`): callers only see the status.
struct Automation;

#[state_machine(
    initial = "State::queued()",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    visibility = ""
)]
impl Automation {
    #[state(superstate = "attempting")]
    fn queued(event: &AutomationEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// An operator need not wait out the retries to fall back.
    #[state(superstate = "attempting")]
    fn retrying(context: &mut Verdict, event: &AutomationEvent) -> Outcome<State> {
        match event {
            AutomationEvent::Fallback => context.to(State::fallback_triggered()),
            _ => Super,
        }
    }

    /// An attempt is due or under way: its outcome decides.
    #[superstate]
    fn attempting(context: &mut Verdict, event: &AutomationEvent) -> Outcome<State> {
        match event {
            AutomationEvent::Succeed => context.to(State::succeeded()),
            AutomationEvent::FailAttempt { exhausted: true } => context.to(State::failed()),
            AutomationEvent::FailAttempt { exhausted: false } => context.to(State::retrying()),
            _ => Super,
        }
    }

    #[state]
    fn failed(context: &mut Verdict, event: &AutomationEvent) -> Outcome<State> {
        match event {
            AutomationEvent::Retry => context.to(State::queued()),
            AutomationEvent::Fallback => context.to(State::fallback_triggered()),
            _ => Super,
        }
    }

    #[state]
    fn succeeded(event: &AutomationEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn fallback_triggered(event: &AutomationEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<AutomationStatus> for State {
    fn from(s: AutomationStatus) -> Self {
        match s {
            AutomationStatus::Queued => State::queued(),
            AutomationStatus::Retrying => State::retrying(),
            AutomationStatus::Succeeded => State::succeeded(),
            AutomationStatus::Failed => State::failed(),
            AutomationStatus::FallbackTriggered => State::fallback_triggered(),
        }
    }
}

impl From<State> for AutomationStatus {
    fn from(s: State) -> Self {
        match s {
            State::Queued {} => AutomationStatus::Queued,
            State::Retrying {} => AutomationStatus::Retrying,
            State::Succeeded {} => AutomationStatus::Succeeded,
            State::Failed {} => AutomationStatus::Failed,
            State::FallbackTriggered {} => AutomationStatus::FallbackTriggered,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::AutomationEvent as E;
    use super::AutomationStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const AUTOMATION: Entity<S, E> = Entity {
        name: "automation",
        statuses: S::VARIANTS,
        events: E::ALL,
        event_name: E::as_str,
        apply,
    };

    const AGAIN: E = E::FailAttempt { exhausted: false };
    const SPENT: E = E::FailAttempt { exhausted: true };

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        AUTOMATION.assert_table(&[
            (S::Queued, E::Succeed, S::Succeeded),
            (S::Queued, AGAIN, S::Retrying),
            (S::Queued, SPENT, S::Failed),
            (S::Retrying, E::Succeed, S::Succeeded),
            (S::Retrying, AGAIN, S::Retrying),
            (S::Retrying, SPENT, S::Failed),
            (S::Retrying, E::Fallback, S::FallbackTriggered),
            (S::Failed, E::Retry, S::Queued),
            (S::Failed, E::Fallback, S::FallbackTriggered),
        ]);
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        AUTOMATION.assert_terminal(S::is_terminal);
        assert!(!S::Failed.is_terminal());
    }

    #[test]
    fn status_tags_round_trip() {
        assert_tags(
            "automation",
            S::VARIANTS,
            &[
                "queued",
                "retrying",
                "succeeded",
                "failed",
                "fallback_triggered",
            ],
        );
    }

    #[test]
    fn only_success_or_fallback_lets_the_saga_move_on() {
        let resolved: Vec<S> = S::VARIANTS
            .iter()
            .copied()
            .filter(|s| s.is_resolved())
            .collect();
        assert_eq!(resolved, [S::Succeeded, S::FallbackTriggered]);
    }
}
