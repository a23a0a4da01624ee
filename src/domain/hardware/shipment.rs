//! A shipment's lifecycle: drafted, booked with a courier, moving, and delivered or cancelled.

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "shipment";

/// What parsing a stored status that no variant matches returns.
fn unknown(value: &str) -> UnknownStatus {
    UnknownStatus::new(ENTITY, value)
}

/// A shipment's state. The serde tags are a storage contract: never rename them.
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
pub enum ShipmentStatus {
    Draft,
    Ready,
    InTransit,
    Delivered,
    Cancelled,
}

impl ShipmentStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, ShipmentStatus::Delivered | ShipmentStatus::Cancelled)
    }

    /// Items and quantities may change only before the courier is booked: the booking quotes them.
    pub fn editable(self) -> bool {
        self == ShipmentStatus::Draft
    }

    /// Whether its quantities use up what the fulfilment has left to ship: a cancelled shipment
    /// hands them back.
    pub fn counts_against_allocation(self) -> bool {
        self != ShipmentStatus::Cancelled
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
pub enum ShipmentEvent {
    /// The courier is booked and the tracking number known.
    #[strum(serialize = "book")]
    Book,
    #[strum(serialize = "dispatch")]
    Dispatch,
    #[strum(serialize = "deliver")]
    Deliver,
    #[strum(serialize = "cancel")]
    Cancel,
}

impl ShipmentEvent {
    /// Reads as "cannot {this} the shipment".
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The decider.
pub(crate) fn apply(
    from: ShipmentStatus,
    event: ShipmentEvent,
) -> Result<ShipmentStatus, IllegalTransition> {
    decide(Shipment, State::from(from), &event)
        .map(ShipmentStatus::from)
        .ok_or_else(|| IllegalTransition {
            entity: ENTITY,
            from: from.as_str(),
            event: event.as_str(),
        })
}

/// The statig machine: it stores nothing, the state is everything.
/// Its generated `State` stays private (`visibility = ""`): callers only see the status.
struct Shipment;

#[state_machine(
    initial = "State::draft()",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    visibility = ""
)]
impl Shipment {
    #[state]
    fn draft(context: &mut Verdict, event: &ShipmentEvent) -> Outcome<State> {
        match event {
            ShipmentEvent::Book => context.to(State::ready()),
            ShipmentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    #[state(superstate = "booked")]
    fn ready(context: &mut Verdict, event: &ShipmentEvent) -> Outcome<State> {
        match event {
            ShipmentEvent::Dispatch => context.to(State::in_transit()),
            ShipmentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    #[state(superstate = "booked")]
    fn in_transit(event: &ShipmentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    /// With the courier: delivery may come from either state, as couriers sometimes skip the
    /// in-transit scan.
    #[superstate]
    fn booked(context: &mut Verdict, event: &ShipmentEvent) -> Outcome<State> {
        match event {
            ShipmentEvent::Deliver => context.to(State::delivered()),
            _ => Super,
        }
    }

    #[state]
    fn delivered(event: &ShipmentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn cancelled(event: &ShipmentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<ShipmentStatus> for State {
    fn from(s: ShipmentStatus) -> Self {
        match s {
            ShipmentStatus::Draft => State::draft(),
            ShipmentStatus::Ready => State::ready(),
            ShipmentStatus::InTransit => State::in_transit(),
            ShipmentStatus::Delivered => State::delivered(),
            ShipmentStatus::Cancelled => State::cancelled(),
        }
    }
}

impl From<State> for ShipmentStatus {
    fn from(s: State) -> Self {
        match s {
            State::Draft {} => ShipmentStatus::Draft,
            State::Ready {} => ShipmentStatus::Ready,
            State::InTransit {} => ShipmentStatus::InTransit,
            State::Delivered {} => ShipmentStatus::Delivered,
            State::Cancelled {} => ShipmentStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::ShipmentEvent as E;
    use super::ShipmentStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const SHIPMENT: Entity<S, E> = Entity {
        name: "shipment",
        statuses: S::VARIANTS,
        events: E::VARIANTS,
        event_name: E::as_str,
        apply,
    };

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        SHIPMENT.assert_table(&[
            (S::Draft, E::Book, S::Ready),
            (S::Draft, E::Cancel, S::Cancelled),
            (S::Ready, E::Dispatch, S::InTransit),
            (S::Ready, E::Deliver, S::Delivered),
            (S::Ready, E::Cancel, S::Cancelled),
            (S::InTransit, E::Deliver, S::Delivered),
        ]);
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        SHIPMENT.assert_terminal(S::is_terminal);
    }

    #[test]
    fn status_tags_round_trip() {
        assert_tags(
            "shipment",
            S::VARIANTS,
            &["draft", "ready", "in_transit", "delivered", "cancelled"],
        );
    }

    #[test]
    fn only_drafts_are_editable() {
        let editable: Vec<S> = S::VARIANTS
            .iter()
            .copied()
            .filter(|s| s.editable())
            .collect();
        assert_eq!(editable, [S::Draft]);
    }

    #[test]
    fn only_cancelled_shipments_free_their_quantities() {
        let freed: Vec<S> = S::VARIANTS
            .iter()
            .copied()
            .filter(|s| !s.counts_against_allocation())
            .collect();
        assert_eq!(freed, [S::Cancelled]);
    }
}
