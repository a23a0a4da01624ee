//! A fulfilment's lifecycle, driven by its shipments: preparing, shipping, done or cancelled.

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "fulfillment";

/// What parsing a stored status that no variant matches returns.
fn unknown(value: &str) -> UnknownStatus {
    UnknownStatus::new(ENTITY, value)
}

/// A fulfilment's state. The serde tags are a storage contract: never rename them.
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
pub enum FulfillmentStatus {
    ReadyToPrepare,
    AwaitingShipment,
    InTransit,
    Completed,
    Cancelled,
}

impl FulfillmentStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            FulfillmentStatus::Completed | FulfillmentStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
pub enum FulfillmentEvent {
    /// A shipment was booked with a courier.
    #[strum(serialize = "ready a shipment for")]
    ShipmentReady,
    #[strum(serialize = "dispatch a shipment for")]
    ShipmentInTransit,
    /// Every shipment the fulfilment needs has been delivered.
    #[strum(serialize = "complete")]
    AllDelivered,
    #[strum(serialize = "cancel")]
    Cancel,
}

impl FulfillmentEvent {
    /// Reads as "cannot {this} the fulfillment".
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The decider.
pub(crate) fn apply(
    from: FulfillmentStatus,
    event: FulfillmentEvent,
) -> Result<FulfillmentStatus, IllegalTransition> {
    decide(Fulfillment, State::from(from), &event)
        .map(FulfillmentStatus::from)
        .ok_or_else(|| IllegalTransition {
            entity: ENTITY,
            from: from.as_str(),
            event: event.as_str(),
        })
}

/// The statig machine: it stores nothing, the state is everything.
/// Its generated `State` stays private (`visibility = ""`): callers only see the status.
struct Fulfillment;

#[state_machine(
    initial = "State::ready_to_prepare()",
    state(derive(Debug, Clone)),
    superstate(derive(Debug)),
    visibility = ""
)]
impl Fulfillment {
    #[state]
    fn ready_to_prepare(context: &mut Verdict, event: &FulfillmentEvent) -> Outcome<State> {
        match event {
            FulfillmentEvent::ShipmentReady => context.to(State::awaiting_shipment()),
            FulfillmentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    #[state(superstate = "shipping")]
    fn awaiting_shipment(context: &mut Verdict, event: &FulfillmentEvent) -> Outcome<State> {
        match event {
            FulfillmentEvent::ShipmentReady => context.to(State::awaiting_shipment()),
            FulfillmentEvent::Cancel => context.to(State::cancelled()),
            _ => Super,
        }
    }

    /// Goods on the road cannot be called back, so there is no cancel here.
    #[state(superstate = "shipping")]
    fn in_transit(context: &mut Verdict, event: &FulfillmentEvent) -> Outcome<State> {
        match event {
            // Another shipment readied while one is moving: the fulfilment stays in transit.
            FulfillmentEvent::ShipmentReady => context.to(State::in_transit()),
            _ => Super,
        }
    }

    /// At least one shipment exists: couriers' scans move the fulfilment on.
    #[superstate]
    fn shipping(context: &mut Verdict, event: &FulfillmentEvent) -> Outcome<State> {
        match event {
            FulfillmentEvent::ShipmentInTransit => context.to(State::in_transit()),
            FulfillmentEvent::AllDelivered => context.to(State::completed()),
            _ => Super,
        }
    }

    #[state]
    fn completed(event: &FulfillmentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn cancelled(event: &FulfillmentEvent) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<FulfillmentStatus> for State {
    fn from(s: FulfillmentStatus) -> Self {
        match s {
            FulfillmentStatus::ReadyToPrepare => State::ready_to_prepare(),
            FulfillmentStatus::AwaitingShipment => State::awaiting_shipment(),
            FulfillmentStatus::InTransit => State::in_transit(),
            FulfillmentStatus::Completed => State::completed(),
            FulfillmentStatus::Cancelled => State::cancelled(),
        }
    }
}

impl From<State> for FulfillmentStatus {
    fn from(s: State) -> Self {
        match s {
            State::ReadyToPrepare {} => FulfillmentStatus::ReadyToPrepare,
            State::AwaitingShipment {} => FulfillmentStatus::AwaitingShipment,
            State::InTransit {} => FulfillmentStatus::InTransit,
            State::Completed {} => FulfillmentStatus::Completed,
            State::Cancelled {} => FulfillmentStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::FulfillmentEvent as E;
    use super::FulfillmentStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const FULFILLMENT: Entity<S, E> = Entity {
        name: "fulfillment",
        statuses: S::VARIANTS,
        events: E::VARIANTS,
        event_name: E::as_str,
        apply,
    };

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        FULFILLMENT.assert_table(&[
            (S::ReadyToPrepare, E::ShipmentReady, S::AwaitingShipment),
            (S::ReadyToPrepare, E::Cancel, S::Cancelled),
            (S::AwaitingShipment, E::ShipmentReady, S::AwaitingShipment),
            (S::AwaitingShipment, E::ShipmentInTransit, S::InTransit),
            (S::AwaitingShipment, E::AllDelivered, S::Completed),
            (S::AwaitingShipment, E::Cancel, S::Cancelled),
            (S::InTransit, E::ShipmentReady, S::InTransit),
            (S::InTransit, E::ShipmentInTransit, S::InTransit),
            (S::InTransit, E::AllDelivered, S::Completed),
        ]);
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        FULFILLMENT.assert_terminal(S::is_terminal);
    }

    #[test]
    fn status_tags_round_trip() {
        assert_tags(
            "fulfillment",
            S::VARIANTS,
            &[
                "ready_to_prepare",
                "awaiting_shipment",
                "in_transit",
                "completed",
                "cancelled",
            ],
        );
    }

    #[test]
    fn goods_in_transit_cannot_be_cancelled() {
        let err = apply(S::InTransit, E::Cancel).expect_err("in transit");
        assert_eq!(
            err.to_string(),
            "cannot cancel the fulfillment: it is in_transit"
        );
    }
}
