//! Applying what couriers report to shipments: which lifecycle event a courier status means,
//! and what the ship step does next once a batch of reports is applied (keep waiting, move on
//! when everything is delivered, or fail when a courier cancelled).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::metrics as m;
use super::{Deps, db_error, domain_write};
use crate::domain::hardware::fulfillment::FulfillmentEvent;
use crate::domain::hardware::shipment::{self, ShipmentEvent, ShipmentStatus};
use crate::engine::action::{StepError, StepOutcome};
use crate::families::hardware::store::{
    FulfillmentView, move_fulfillment_in, move_shipment_in, queue_automation_in,
};

/// The shipment event a normalised courier status means; `None` for statuses that only go on
/// the timeline (label created, exception, returned).
pub(crate) fn event_for(status: &str) -> Option<ShipmentEvent> {
    match status {
        "in_transit" | "out_for_delivery" => Some(ShipmentEvent::Dispatch),
        "delivered" => Some(ShipmentEvent::Deliver),
        "cancelled" => Some(ShipmentEvent::Cancel),
        _ => None,
    }
}

/// One courier report about one shipment.
pub(crate) struct Report {
    pub shipment_id: Uuid,
    pub event: ShipmentEvent,
    pub detail: Value,
}

/// Applies reports to the fulfilment as it stands and decides the step's outcome. Reports the
/// shipment's state does not accept (a late duplicate, an in-transit scan after delivery) are
/// dropped: the courier's own record stays on the timeline.
pub(crate) fn apply_reports(
    deps: &Deps,
    view: &FulfillmentView,
    reports: Vec<Report>,
    now: DateTime<Utc>,
) -> Result<StepOutcome, StepError> {
    let mut status: HashMap<Uuid, ShipmentStatus> = HashMap::new();
    for s in &view.shipments {
        let parsed = s.shipment.status.parse().map_err(db_error)?;
        status.insert(s.shipment.id, parsed);
    }
    let mut applied = Vec::new();
    let mut cancelled = Vec::new();
    let mut delivery_seconds = Vec::new();
    for report in reports {
        let Some(from) = status.get(&report.shipment_id).copied() else {
            continue;
        };
        let Ok(to) = shipment::apply(from, report.event) else {
            continue;
        };
        if to == from {
            continue;
        }
        status.insert(report.shipment_id, to);
        if to == ShipmentStatus::Cancelled {
            cancelled.push(report.shipment_id);
        }
        if to == ShipmentStatus::Delivered {
            delivery_seconds.extend(delivery_time(view, report.shipment_id, now));
        }
        applied.push(report);
    }
    let remaining: i32 = view.items.iter().map(|i| i.remaining).sum();
    let live: Vec<ShipmentStatus> = status
        .values()
        .copied()
        .filter(|s| *s != ShipmentStatus::Cancelled)
        .collect();
    let everything_delivered = cancelled.is_empty()
        && remaining == 0
        && !live.is_empty()
        && live.iter().all(|s| *s == ShipmentStatus::Delivered);
    let fulfillment_id = view.fulfillment.id;
    let max_attempts = deps.settings.max_attempts();
    let summary: Vec<Value> = applied
        .iter()
        .map(|r| json!({ "shipment_id": r.shipment_id, "event": r.event.as_str() }))
        .collect();
    let write = domain_write(move |conn| {
        Box::pin(async move {
            for r in &applied {
                move_shipment_in(conn, r.shipment_id, r.event, r.detail.clone(), now).await?;
                if r.event == ShipmentEvent::Deliver {
                    queue_automation_in(conn, r.shipment_id, &max_attempts, now).await?;
                }
            }
            if everything_delivered {
                move_fulfillment_in(conn, fulfillment_id, FulfillmentEvent::AllDelivered, now)
                    .await?;
            }
            Ok(())
        })
    });
    let outcome = if let Some(first) = cancelled.first() {
        let seq = view
            .shipments
            .iter()
            .find(|s| s.shipment.id == *first)
            .map_or(0, |s| s.shipment.seq);
        StepOutcome::failed(StepError::permanent(
            "shipment_cancelled",
            format!("the courier cancelled shipment {seq} ({first})"),
        ))
    } else if everything_delivered {
        StepOutcome::done(json!({ "delivered": true, "applied": summary }))
    } else {
        StepOutcome::pending()
    };
    // Counted once the delivery has committed: a checkpoint that fails and runs again must
    // not count the same delivery twice.
    Ok(outcome.with_write(write).on_commit(move || {
        for secs in delivery_seconds {
            metrics::histogram!(m::SHIPMENT_DELIVERY_SECONDS).record(secs);
        }
    }))
}

/// Seconds from a shipment becoming ready to its delivery, when it has a ready time.
fn delivery_time(view: &FulfillmentView, id: Uuid, now: DateTime<Utc>) -> Option<f64> {
    let shipped = view
        .shipments
        .iter()
        .find(|s| s.shipment.id == id)
        .and_then(|s| s.shipment.ready_at)?;
    Some((now - shipped).num_milliseconds().max(0) as f64 / 1000.0)
}
