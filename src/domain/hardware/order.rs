//! An order's payment lifecycle: checkout, payment, and the ways it ends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "order";

/// An order's payment state. The serde tags are a storage contract: never rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Draft,
    CheckoutSent,
    PaymentProcessing,
    Paid,
    PaymentFailed,
    CheckoutExpired,
    Refunded,
    Cancelled,
}

impl PaymentStatus {
    pub const ALL: &'static [PaymentStatus] = &[
        PaymentStatus::Draft,
        PaymentStatus::CheckoutSent,
        PaymentStatus::PaymentProcessing,
        PaymentStatus::Paid,
        PaymentStatus::PaymentFailed,
        PaymentStatus::CheckoutExpired,
        PaymentStatus::Refunded,
        PaymentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Draft => "draft",
            PaymentStatus::CheckoutSent => "checkout_sent",
            PaymentStatus::PaymentProcessing => "payment_processing",
            PaymentStatus::Paid => "paid",
            PaymentStatus::PaymentFailed => "payment_failed",
            PaymentStatus::CheckoutExpired => "checkout_expired",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    /// Paid is not among them: a paid order can still be refunded.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PaymentStatus::PaymentFailed
                | PaymentStatus::CheckoutExpired
                | PaymentStatus::Refunded
                | PaymentStatus::Cancelled
        )
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownStatus;

    fn from_str(value: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| UnknownStatus {
                entity: ENTITY,
                value: value.to_string(),
            })
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    SendCheckout,
    /// The provider has the payment and is working on it.
    Processing,
    Pay,
    Fail,
    Expire,
    Refund,
    Cancel,
}

impl PaymentEvent {
    pub const ALL: &'static [PaymentEvent] = &[
        PaymentEvent::SendCheckout,
        PaymentEvent::Processing,
        PaymentEvent::Pay,
        PaymentEvent::Fail,
        PaymentEvent::Expire,
        PaymentEvent::Refund,
        PaymentEvent::Cancel,
    ];

    /// Reads as "cannot {this} the order".
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentEvent::SendCheckout => "send checkout for",
            PaymentEvent::Processing => "process payment for",
            PaymentEvent::Pay => "pay",
            PaymentEvent::Fail => "fail payment for",
            PaymentEvent::Expire => "expire checkout for",
            PaymentEvent::Refund => "refund",
            PaymentEvent::Cancel => "cancel",
        }
    }
}

/// The decider.
pub fn apply(from: PaymentStatus, event: PaymentEvent) -> Result<PaymentStatus, IllegalTransition> {
    decide(Payment, State::from(from), &event)
        .map(PaymentStatus::from)
        .ok_or_else(|| IllegalTransition {
            entity: ENTITY,
            from: from.as_str(),
            event: event.as_str(),
        })
}

/// The statig machine: it stores nothing, the state is everything.
/// Its generated `State` stays private (`visibility = ""`): callers only see the status.
struct Payment;

#[state_machine(
    initial = "State::draft()",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    visibility = ""
)]
impl Payment {
    #[state]
    fn draft(context: &mut Verdict, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::SendCheckout => context.to(State::checkout_sent()),
            PaymentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    #[state(superstate = "awaiting_payment")]
    fn checkout_sent(context: &mut Verdict, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Processing => context.to(State::payment_processing()),
            PaymentEvent::Expire => context.to(State::checkout_expired()),
            // The last chance to cancel: once the provider is processing, money may be moving.
            PaymentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    #[state(superstate = "awaiting_payment")]
    fn payment_processing(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// The customer has the checkout; the provider's answer settles it either way.
    #[superstate]
    fn awaiting_payment(context: &mut Verdict, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Pay => context.to(State::paid()),
            PaymentEvent::Fail => context.to(State::payment_failed()),
            _ => Super,
        }
    }

    #[state]
    fn paid(context: &mut Verdict, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::Refund => context.to(State::refunded()),
            _ => Super,
        }
    }

    #[state]
    fn payment_failed(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn checkout_expired(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn refunded(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn cancelled(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<PaymentStatus> for State {
    fn from(s: PaymentStatus) -> Self {
        match s {
            PaymentStatus::Draft => State::draft(),
            PaymentStatus::CheckoutSent => State::checkout_sent(),
            PaymentStatus::PaymentProcessing => State::payment_processing(),
            PaymentStatus::Paid => State::paid(),
            PaymentStatus::PaymentFailed => State::payment_failed(),
            PaymentStatus::CheckoutExpired => State::checkout_expired(),
            PaymentStatus::Refunded => State::refunded(),
            PaymentStatus::Cancelled => State::cancelled(),
        }
    }
}

impl From<State> for PaymentStatus {
    fn from(s: State) -> Self {
        match s {
            State::Draft {} => PaymentStatus::Draft,
            State::CheckoutSent {} => PaymentStatus::CheckoutSent,
            State::PaymentProcessing {} => PaymentStatus::PaymentProcessing,
            State::Paid {} => PaymentStatus::Paid,
            State::PaymentFailed {} => PaymentStatus::PaymentFailed,
            State::CheckoutExpired {} => PaymentStatus::CheckoutExpired,
            State::Refunded {} => PaymentStatus::Refunded,
            State::Cancelled {} => PaymentStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PaymentEvent as E;
    use super::PaymentStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const ORDER: Entity<S, E> = Entity {
        name: "order",
        statuses: S::ALL,
        events: E::ALL,
        event_name: E::as_str,
        apply,
    };

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        ORDER.assert_table(&[
            (S::Draft, E::SendCheckout, S::CheckoutSent),
            (S::Draft, E::Cancel, S::Cancelled),
            (S::CheckoutSent, E::Processing, S::PaymentProcessing),
            (S::CheckoutSent, E::Pay, S::Paid),
            (S::CheckoutSent, E::Fail, S::PaymentFailed),
            (S::CheckoutSent, E::Expire, S::CheckoutExpired),
            (S::CheckoutSent, E::Cancel, S::Cancelled),
            (S::PaymentProcessing, E::Pay, S::Paid),
            (S::PaymentProcessing, E::Fail, S::PaymentFailed),
            (S::Paid, E::Refund, S::Refunded),
        ]);
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        ORDER.assert_terminal(S::is_terminal);
        assert!(!S::Paid.is_terminal());
    }

    #[test]
    fn status_tags_round_trip() {
        assert_tags(
            "order",
            S::ALL,
            &[
                "draft",
                "checkout_sent",
                "payment_processing",
                "paid",
                "payment_failed",
                "checkout_expired",
                "refunded",
                "cancelled",
            ],
        );
    }

    #[test]
    fn refusal_reads_as_a_sentence() {
        let err = apply(S::Paid, E::Cancel).expect_err("paid orders cannot be cancelled");
        assert_eq!(err.to_string(), "cannot cancel the order: it is paid");
    }
}
