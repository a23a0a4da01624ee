//! An invoice's lifecycle: drafted, issued, paid in one or more payments, or voided.

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "invoice";

/// What parsing a stored status that no variant matches returns.
fn unknown(value: &str) -> UnknownStatus {
    UnknownStatus::new(ENTITY, value)
}

/// An invoice's state. The serde tags are a storage contract: never rename them.
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
pub enum InvoiceStatus {
    Draft,
    Issued,
    PartiallyPaid,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Paid is not among them: a paid invoice can still be voided.
    pub fn is_terminal(self) -> bool {
        self == InvoiceStatus::Void
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceEvent {
    Issue,
    /// A payment arrived; `settles` when it (with earlier ones) covers the whole amount.
    ApplyPayment {
        settles: bool,
    },
    Void,
}

impl InvoiceEvent {
    pub const ALL: &'static [InvoiceEvent] = &[
        InvoiceEvent::Issue,
        InvoiceEvent::ApplyPayment { settles: false },
        InvoiceEvent::ApplyPayment { settles: true },
        InvoiceEvent::Void,
    ];

    /// Reads as "cannot {this} the invoice".
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceEvent::Issue => "issue",
            InvoiceEvent::ApplyPayment { .. } => "apply a payment to",
            InvoiceEvent::Void => "void",
        }
    }
}

/// The decider.
pub(crate) fn apply(
    from: InvoiceStatus,
    event: InvoiceEvent,
) -> Result<InvoiceStatus, IllegalTransition> {
    decide(Invoice, State::from(from), &event)
        .map(InvoiceStatus::from)
        .ok_or_else(|| IllegalTransition {
            entity: ENTITY,
            from: from.as_str(),
            event: event.as_str(),
        })
}

/// The statig machine: it stores nothing, the state is everything.
/// Its generated `State` stays private (`visibility = ""`): callers only see the status.
struct Invoice;

#[state_machine(
    initial = "State::draft()",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    visibility = ""
)]
impl Invoice {
    #[state(superstate = "voidable")]
    fn draft(context: &mut Verdict, event: &InvoiceEvent) -> Outcome<State> {
        match event {
            InvoiceEvent::Issue => context.to(State::issued()),
            _ => Super,
        }
    }

    #[state(superstate = "collecting")]
    fn issued(event: &InvoiceEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state(superstate = "collecting")]
    fn partially_paid(event: &InvoiceEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// Issued and not yet settled: payments are welcome.
    #[superstate(superstate = "voidable")]
    fn collecting(context: &mut Verdict, event: &InvoiceEvent) -> Outcome<State> {
        match event {
            InvoiceEvent::ApplyPayment { settles: true } => context.to(State::paid()),
            InvoiceEvent::ApplyPayment { settles: false } => context.to(State::partially_paid()),
            _ => Super,
        }
    }

    #[state(superstate = "voidable")]
    fn paid(event: &InvoiceEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// Every state but void: voiding is how a wrong invoice, paid or not, is withdrawn.
    #[superstate]
    fn voidable(context: &mut Verdict, event: &InvoiceEvent) -> Outcome<State> {
        match event {
            InvoiceEvent::Void => context.to(State::void()),
            _ => Super,
        }
    }

    #[state]
    fn void(event: &InvoiceEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<InvoiceStatus> for State {
    fn from(s: InvoiceStatus) -> Self {
        match s {
            InvoiceStatus::Draft => State::draft(),
            InvoiceStatus::Issued => State::issued(),
            InvoiceStatus::PartiallyPaid => State::partially_paid(),
            InvoiceStatus::Paid => State::paid(),
            InvoiceStatus::Void => State::void(),
        }
    }
}

impl From<State> for InvoiceStatus {
    fn from(s: State) -> Self {
        match s {
            State::Draft {} => InvoiceStatus::Draft,
            State::Issued {} => InvoiceStatus::Issued,
            State::PartiallyPaid {} => InvoiceStatus::PartiallyPaid,
            State::Paid {} => InvoiceStatus::Paid,
            State::Void {} => InvoiceStatus::Void,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::InvoiceEvent as E;
    use super::InvoiceStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const INVOICE: Entity<S, E> = Entity {
        name: "invoice",
        statuses: S::VARIANTS,
        events: E::ALL,
        event_name: E::as_str,
        apply,
    };

    const PART: E = E::ApplyPayment { settles: false };
    const SETTLE: E = E::ApplyPayment { settles: true };

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        INVOICE.assert_table(&[
            (S::Draft, E::Issue, S::Issued),
            (S::Draft, E::Void, S::Void),
            (S::Issued, PART, S::PartiallyPaid),
            (S::Issued, SETTLE, S::Paid),
            (S::Issued, E::Void, S::Void),
            (S::PartiallyPaid, PART, S::PartiallyPaid),
            (S::PartiallyPaid, SETTLE, S::Paid),
            (S::PartiallyPaid, E::Void, S::Void),
            (S::Paid, E::Void, S::Void),
        ]);
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        INVOICE.assert_terminal(S::is_terminal);
        assert!(!S::Paid.is_terminal());
    }

    #[test]
    fn status_tags_round_trip() {
        assert_tags(
            "invoice",
            S::VARIANTS,
            &["draft", "issued", "partially_paid", "paid", "void"],
        );
    }

    #[test]
    fn refusal_reads_as_a_sentence() {
        let err = apply(S::Void, SETTLE).expect_err("void invoices take no payment");
        assert_eq!(
            err.to_string(),
            "cannot apply a payment to the invoice: it is void"
        );
    }
}
