//! A fulfilment's lifecycle, driven by its shipments: preparing, shipping, done or cancelled.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::{IllegalTransition, UnknownStatus, Verdict, decide};

const ENTITY: &str = "fulfillment";

/// A fulfilment's state. The serde tags are a storage contract: never rename them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    ReadyToPrepare,
    AwaitingShipment,
    InTransit,
    Completed,
    Cancelled,
}

impl FulfillmentStatus {
    pub const ALL: &'static [FulfillmentStatus] = &[
        FulfillmentStatus::ReadyToPrepare,
        FulfillmentStatus::AwaitingShipment,
        FulfillmentStatus::InTransit,
        FulfillmentStatus::Completed,
        FulfillmentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FulfillmentStatus::ReadyToPrepare => "ready_to_prepare",
            FulfillmentStatus::AwaitingShipment => "awaiting_shipment",
            FulfillmentStatus::InTransit => "in_transit",
            FulfillmentStatus::Completed => "completed",
            FulfillmentStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            FulfillmentStatus::Completed | FulfillmentStatus::Cancelled
        )
    }
}

impl FromStr for FulfillmentStatus {
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

impl fmt::Display for FulfillmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FulfillmentEvent {
    /// A shipment was booked with a courier.
    ShipmentReady,
    ShipmentInTransit,
    /// Every shipment the fulfilment needs has been delivered.
    AllDelivered,
    Cancel,
}

impl FulfillmentEvent {
    pub const ALL: &'static [FulfillmentEvent] = &[
        FulfillmentEvent::ShipmentReady,
        FulfillmentEvent::ShipmentInTransit,
        FulfillmentEvent::AllDelivered,
        FulfillmentEvent::Cancel,
    ];

    /// Reads as "cannot {this} the fulfillment".
    pub fn as_str(self) -> &'static str {
        match self {
            FulfillmentEvent::ShipmentReady => "ready a shipment for",
            FulfillmentEvent::ShipmentInTransit => "dispatch a shipment for",
            FulfillmentEvent::AllDelivered => "complete",
            FulfillmentEvent::Cancel => "cancel",
        }
    }
}

/// The decider.
pub fn apply(
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
    use super::FulfillmentEvent as E;
    use super::FulfillmentStatus as S;
    use super::*;
    use crate::domain::hardware::testing::{Entity, assert_tags};

    const FULFILLMENT: Entity<S, E> = Entity {
        name: "fulfillment",
        statuses: S::ALL,
        events: E::ALL,
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
            S::ALL,
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
