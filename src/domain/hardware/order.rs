//! An order's payment lifecycle: checkout, payment, and the ways it ends.

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "order";

/// What parsing a stored status that no variant matches returns.
fn unknown(value: &str) -> UnknownStatus {
    UnknownStatus::new(ENTITY, value)
}

/// An order's payment state. The serde tags are a storage contract: never rename them.
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
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Paid is not among them (a paid order can still be refunded), nor a failed or expired
    /// checkout (a new checkout recovers the payment, or support closes the order).
    pub fn is_terminal(self) -> bool {
        matches!(self, PaymentStatus::Refunded | PaymentStatus::Cancelled)
    }

    /// A failed or expired checkout: the order waits for a new checkout or to be closed.
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            PaymentStatus::PaymentFailed | PaymentStatus::CheckoutExpired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
pub enum PaymentEvent {
    #[strum(serialize = "send checkout for")]
    SendCheckout,
    /// The provider has the payment and is working on it.
    #[strum(serialize = "process payment for")]
    Processing,
    #[strum(serialize = "pay")]
    Pay,
    #[strum(serialize = "fail payment for")]
    Fail,
    #[strum(serialize = "expire checkout for")]
    Expire,
    #[strum(serialize = "refund")]
    Refund,
    #[strum(serialize = "cancel")]
    Cancel,
}

impl PaymentEvent {
    /// Reads as "cannot {this} the order".
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The decider.
pub(crate) fn apply(
    from: PaymentStatus,
    event: PaymentEvent,
) -> Result<PaymentStatus, IllegalTransition> {
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

    #[state(superstate = "recoverable")]
    fn payment_failed(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state(superstate = "recoverable")]
    fn checkout_expired(event: &PaymentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// The checkout did not end in a payment: a new checkout recovers it (a new session under
    /// a new saga), or support closes the order.
    #[superstate]
    fn recoverable(context: &mut Verdict, event: &PaymentEvent) -> Outcome<State> {
        match event {
            PaymentEvent::SendCheckout => context.to(State::checkout_sent()),
            PaymentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
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
    use strum::VariantArray;

    use super::PaymentEvent as E;
    use super::PaymentStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const ORDER: Entity<S, E> = Entity {
        name: "order",
        statuses: S::VARIANTS,
        events: E::VARIANTS,
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
            (S::PaymentFailed, E::SendCheckout, S::CheckoutSent),
            (S::PaymentFailed, E::Cancel, S::Cancelled),
            (S::CheckoutExpired, E::SendCheckout, S::CheckoutSent),
            (S::CheckoutExpired, E::Cancel, S::Cancelled),
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
            S::VARIANTS,
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
