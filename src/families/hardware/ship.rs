//! `ship`: books the fulfilment's shipments with their courier (the planned first shipment,
//! or everything, plus any an operator drafted), then waits for courier events until every
//! item is delivered. A poll asks the couriers when events stop coming. The compensation
//! cancels what has not gone out.

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::tracking::{Report, apply_reports, event_for};
use super::{Deps, SHIPMENT_DRAFTED, db_error, domain_write};
use crate::domain::hardware::allocation::{self, Ask};
use crate::domain::hardware::shipment::ShipmentEvent;
use crate::engine::action::{Action, Effect, Signal, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{
    FulfillmentView, HardwareOrder, NewShipment, book_shipment_in, draft_shipment_in,
    move_shipment_in,
};
use crate::families::provider_error;
use crate::providers::Error as ProviderError;
use crate::providers::courier::{Address, NewShipment as CourierShipment, Parcel};
use crate::providers::webhooks;

/// Grams per unit, for the parcel the courier prices.
const UNIT_WEIGHT_GRAMS: u32 = 300;

pub(crate) struct Ship(pub Deps);

/// A shipment to book: one the saga drafts now, or a draft already stored.
struct Booking {
    id: Uuid,
    new: Option<NewShipment>,
    courier: String,
    address: Value,
    units: i32,
    key: String,
}

impl Ship {
    async fn view(&self, order: &HardwareOrder) -> Result<FulfillmentView, StepError> {
        fulfillment_of(&self.0, order)
            .await?
            .ok_or_else(|| StepError::permanent("no_fulfillment", "the order has no fulfilment"))
    }

    /// Where the first shipment goes, snapshotted now: the address-book entry or ad-hoc
    /// address the order chose, else the company's default shipping address at this moment.
    async fn destination(&self, order: &HardwareOrder) -> Result<(Option<Uuid>, Value), StepError> {
        let ship_to = &order.options["ship_to"];
        if ship_to["address"].is_object() {
            return Ok((None, ship_to["address"].clone()));
        }
        let chosen = ship_to["address_id"]
            .as_str()
            .and_then(|a| a.parse::<Uuid>().ok());
        let address_id = match chosen {
            Some(a) => a,
            None => self
                .0
                .store
                .company(&order.company_id)
                .await
                .map_err(db_error)?
                .and_then(|c| c.default_shipping_address_id)
                .ok_or_else(|| {
                    StepError::park(
                        "no_shipping_address",
                        format!(
                            "company {} has no default shipping address: set one, then retry the saga",
                            order.company_id
                        ),
                    )
                })?,
        };
        let address = self
            .0
            .store
            .address(address_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                StepError::permanent("bad_address", format!("no address {address_id}"))
            })?;
        Ok((Some(address_id), address.fields().snapshot()))
    }

    /// The first shipment: what the order planned for it, else everything.
    fn plan(order: &HardwareOrder, view: &FulfillmentView) -> Result<Vec<Ask>, StepError> {
        let open: Vec<allocation::Open> = view
            .items
            .iter()
            .map(|i| allocation::Open {
                item_id: i.id,
                sku: i.sku.clone(),
                remaining: i.remaining,
            })
            .collect();
        let Some(planned) = order.options["initial_shipment"].as_array() else {
            return Ok(allocation::rest(&open));
        };
        let mut asks = Vec::new();
        for line in planned {
            let sku = line["sku"].as_str().unwrap_or_default();
            let quantity = line["quantity"].as_i64().unwrap_or(0) as i32;
            let item = open.iter().find(|o| o.sku == sku).ok_or_else(|| {
                StepError::permanent(
                    "bad_plan",
                    format!("initial shipment names unknown SKU {sku}"),
                )
            })?;
            asks.push(Ask {
                item_id: item.item_id,
                quantity,
            });
        }
        allocation::check(&open, &asks)
            .map_err(|e| StepError::permanent("bad_plan", e.to_string()))?;
        Ok(asks)
    }

    /// Books every booking with its courier and returns the outcome carrying the writes.
    async fn book(
        &self,
        ctx: &StepContext,
        order: &HardwareOrder,
        bookings: Vec<Booking>,
        outcome: StepOutcome,
    ) -> Result<StepOutcome, StepError> {
        let courier = &self.0.providers.courier;
        let mut booked = Vec::new();
        let mut out = outcome;
        let total = bookings.len();
        for (done, b) in bookings.into_iter().enumerate() {
            ctx.report
                .relate("shipment", b.id, Some(format!("/v1/shipments/{}", b.id)));
            ctx.report.items(done, total);
            let request = CourierShipment {
                reference: b.key.clone(),
                service: None,
                to: address(order, &b.address)?,
                parcels: vec![Parcel {
                    weight_grams: UNIT_WEIGHT_GRAMS.saturating_mul(b.units.max(1) as u32),
                }],
            };
            let label = courier
                .create_shipment(&b.courier, &request, &b.key)
                .await
                .result
                .map_err(provider_error)?;
            let url = courier.tracking_url(&b.courier, &label.tracking_number);
            out = out.correlate(webhooks::courier::shipment_reference(
                &b.courier,
                &label.tracking_number,
            ));
            booked.push((b.id, b.new, label.tracking_number, url));
        }
        let summary: Vec<Value> = booked
            .iter()
            .map(|(id, _, tracking, url)| json!({ "shipment_id": id, "tracking_number": tracking, "tracking_url": url }))
            .collect();
        if !summary.is_empty() {
            out.output = json!({ "booked": summary });
        }
        let now = ctx.now;
        Ok(out.with_write(domain_write(move |conn| {
            Box::pin(async move {
                for (id, new, tracking, url) in &booked {
                    if let Some(new) = new {
                        draft_shipment_in(conn, new, now).await?;
                    }
                    book_shipment_in(conn, *id, tracking, url.as_deref(), now).await?;
                }
                Ok(())
            })
        })))
    }

    /// Drafts stored by operators, to be booked now.
    fn drafts(ctx: &StepContext, view: &FulfillmentView) -> Vec<Booking> {
        view.shipments
            .iter()
            .filter(|s| s.shipment.status == "draft")
            .map(|s| Booking {
                id: s.shipment.id,
                new: None,
                courier: s.shipment.courier_code.clone(),
                address: s.shipment.address_snapshot.clone(),
                units: s.items.iter().map(|i| i.quantity).sum(),
                key: format!("{}:ship:{}", ctx.saga_id, s.shipment.id),
            })
            .collect()
    }
}

#[async_trait]
impl Action for Ship {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let view = self.view(&order).await?;
        let mut bookings = Self::drafts(ctx, &view);
        if view.shipments.is_empty() {
            let asks = Self::plan(&order, &view)?;
            let (address_id, address) = self.destination(&order).await?;
            let id = Uuid::now_v7();
            bookings.push(Booking {
                id,
                new: Some(NewShipment {
                    id,
                    fulfillment_id: view.fulfillment.id,
                    address_id,
                    address: address.clone(),
                    courier_code: order.courier_code.clone(),
                    asks: asks.clone(),
                    created_by: "saga".into(),
                }),
                courier: order.courier_code.clone(),
                address,
                units: asks.iter().map(|a| a.quantity).sum(),
                key: format!("{}:1", ctx.idempotency_key),
            });
        }
        let mut waiting = StepOutcome::wait(json!({}));
        // Shipments booked before (an operator retry of this step) keep being tracked.
        for s in &view.shipments {
            if let Some(tracking) = &s.shipment.tracking_number {
                waiting = waiting.correlate(webhooks::courier::shipment_reference(
                    &s.shipment.courier_code,
                    tracking,
                ));
            }
        }
        self.book(ctx, &order, bookings, waiting).await
    }

    async fn on_signal(
        &self,
        ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let view = self.view(&order).await?;
        if signal.name == SHIPMENT_DRAFTED {
            let drafts = Self::drafts(ctx, &view);
            return self.book(ctx, &order, drafts, StepOutcome::pending()).await;
        }
        let tracking = signal.payload["tracking_number"]
            .as_str()
            .unwrap_or_default();
        let status = signal.payload["status"].as_str().unwrap_or_default();
        let carrier = signal.payload["courier"].as_str().unwrap_or_default();
        // An event moves a shipment only when it names both the shipment's own carrier and
        // its tracking number: another carrier's secret cannot speak for this one.
        let shipment = view.shipments.iter().find(|s| {
            s.shipment.tracking_number.as_deref() == Some(tracking)
                && s.shipment.courier_code.eq_ignore_ascii_case(carrier)
        });
        let reports = match (shipment, event_for(status)) {
            (Some(s), Some(event)) => vec![Report {
                shipment_id: s.shipment.id,
                event,
                detail: json!({
                    "tracking_number": tracking,
                    "courier_status": status,
                    "occurred_at": signal.payload["occurred_at"],
                    "source": signal.payload.get("source").cloned().unwrap_or(json!("courier")),
                }),
            }],
            _ => Vec::new(),
        };
        apply_reports(&self.0, &view, reports, ctx.now)
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey {
            provider: "courier",
        }
    }
}

/// The poll: asks each courier for the shipments still moving.
pub(crate) struct Track(pub Deps);

#[async_trait]
impl Action for Track {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let view = Ship(self.0.clone()).view(&order).await?;
        let courier = &self.0.providers.courier;
        let mut reports = Vec::new();
        for s in &view.shipments {
            let (Some(tracking), "ready" | "in_transit") =
                (&s.shipment.tracking_number, s.shipment.status.as_str())
            else {
                continue;
            };
            let answer = courier
                .get_tracking(&s.shipment.courier_code, tracking)
                .await
                .result
                .map_err(provider_error)?;
            let status = webhooks::normalise_courier_status(&answer.status);
            // A courier may report delivered without the in-transit scan we missed.
            let events: Vec<ShipmentEvent> = match (s.shipment.status.as_str(), event_for(&status))
            {
                ("ready", Some(ShipmentEvent::Deliver)) => {
                    vec![ShipmentEvent::Dispatch, ShipmentEvent::Deliver]
                }
                (_, Some(e)) => vec![e],
                (_, None) => Vec::new(),
            };
            for event in events {
                reports.push(Report {
                    shipment_id: s.shipment.id,
                    event,
                    detail: json!({ "tracking_number": tracking, "courier_status": status, "source": "poll" }),
                });
            }
        }
        apply_reports(&self.0, &view, reports, ctx.now)
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

/// Cancels every shipment that has not gone out: booked ones at their courier first. One the
/// courier already picked up fails the compensation, for an operator to settle.
pub(crate) struct CancelShipments(pub Deps);

#[async_trait]
impl Action for CancelShipments {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let Some(view) = fulfillment_of(&self.0, &order).await? else {
            return Ok(StepOutcome::done(json!({ "cancelled": [] })));
        };
        let courier = &self.0.providers.courier;
        let mut cancel = Vec::new();
        for s in &view.shipments {
            match (s.shipment.status.as_str(), &s.shipment.tracking_number) {
                ("draft", _) => cancel.push(s.shipment.id),
                ("ready", Some(tracking)) => {
                    let key = format!("{}:{}", ctx.idempotency_key, s.shipment.id);
                    match courier
                        .cancel_shipment(&s.shipment.courier_code, tracking, &key)
                        .await
                        .result
                    {
                        Ok(_) => cancel.push(s.shipment.id),
                        Err(e @ ProviderError::InvalidState { .. }) => {
                            return Err(StepError::permanent(
                                "shipment_gone_out",
                                format!("shipment {} cannot be cancelled: {e}", s.shipment.seq),
                            ));
                        }
                        Err(e) => return Err(provider_error(e)),
                    }
                }
                ("in_transit", _) => {
                    return Err(StepError::permanent(
                        "shipment_gone_out",
                        format!(
                            "cannot cancel shipment {}: it is in_transit",
                            s.shipment.seq
                        ),
                    ));
                }
                _ => {}
            }
        }
        let now = ctx.now;
        let ids = cancel.clone();
        Ok(
            StepOutcome::done(json!({ "cancelled": cancel })).with_write(domain_write(
                move |conn| {
                    Box::pin(async move {
                        for id in &ids {
                            let detail = json!({ "reason": "order undone" });
                            move_shipment_in(conn, *id, ShipmentEvent::Cancel, detail, now).await?;
                        }
                        Ok(())
                    })
                },
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey {
            provider: "courier",
        }
    }
}

/// The order's fulfilment with its items and shipments, if it has one.
async fn fulfillment_of(
    deps: &Deps,
    order: &HardwareOrder,
) -> Result<Option<FulfillmentView>, StepError> {
    let store = &deps.store;
    let Some(f) = store
        .fulfillment_for_order(order.id)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    store.fulfillment_view(f.id).await.map_err(db_error)
}

/// The courier's address from a stored snapshot; the contact name falls back to the billing
/// contact, then the company.
fn address(order: &HardwareOrder, snapshot: &Value) -> Result<Address, StepError> {
    let text = |k: &str| snapshot[k].as_str().map(str::to_string);
    let name = text("name")
        .or_else(|| {
            order
                .billing_contact
                .as_ref()
                .and_then(|c| c["name"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| order.company_id.clone());
    match (
        text("line1"),
        text("city"),
        text("postal_code"),
        text("country"),
    ) {
        (Some(line1), Some(city), Some(postal_code), Some(country)) => Ok(Address {
            name,
            line1,
            line2: text("line2"),
            city,
            region: text("region"),
            postal_code,
            country,
        }),
        _ => Err(StepError::permanent(
            "bad_address",
            "the shipping address lacks line1, city, postal_code or country",
        )),
    }
}
