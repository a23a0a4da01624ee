//! Shipments and their items: drafted under the allocation guardrail, booked with a courier
//! (tracking number and link), then moved by courier events; a cancelled shipment gives its
//! quantities back to the fulfilment.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::directory::{
    AddressFields, AddressRow, Defaults, insert_address_in, set_defaults_in, touch_address_in,
};
use super::events::{DomainEvent, emit_in};
use super::fulfillment::{move_fulfillment_in, open_items_in};
use super::{decide, lock_status};
use crate::domain::hardware::allocation::{self, Ask};
use crate::domain::hardware::fulfillment::{FulfillmentEvent, FulfillmentStatus};
use crate::domain::hardware::shipment::{self, ShipmentEvent, ShipmentStatus};
use crate::store::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ShipmentRow {
    pub id: Uuid,
    pub fulfillment_id: Uuid,
    pub seq: i32,
    pub status: String,
    /// The address-book entry it goes to; `None` for an ad-hoc destination.
    pub address_id: Option<Uuid>,
    /// Where it goes, as it was when the shipment was made or last edited.
    pub address_snapshot: Value,
    pub courier_code: String,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub in_transit_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ShipmentItemRow {
    pub id: Uuid,
    pub fulfillment_item_id: Uuid,
    pub sku: String,
    pub quantity: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShipmentView {
    #[serde(flatten)]
    pub shipment: ShipmentRow,
    pub items: Vec<ShipmentItemRow>,
}

/// A shipment to draft.
#[derive(Debug, Clone)]
pub struct NewShipment {
    pub id: Uuid,
    pub fulfillment_id: Uuid,
    /// The address-book entry, or `None` for an ad-hoc destination.
    pub address_id: Option<Uuid>,
    pub address: Value,
    pub courier_code: String,
    pub asks: Vec<Ask>,
    /// `saga` or `operator:<name>`.
    pub created_by: String,
}

const COLUMNS: &str = "id, fulfillment_id, seq, status, address_id, address_snapshot, courier_code, tracking_number,
    tracking_url, created_by, created_at, ready_at, in_transit_at, delivered_at, cancelled_at, updated_at";

impl Store {
    pub(crate) async fn shipment_view(&self, id: Uuid) -> Result<Option<ShipmentView>> {
        let mut conn = self.pool().acquire().await?;
        let Some(shipment) = shipment_in(&mut conn, id).await? else {
            return Ok(None);
        };
        let items = shipment_items_in(&mut conn, id).await?;
        Ok(Some(ShipmentView { shipment, items }))
    }

    /// Changes a draft's destination (an address-book entry or ad-hoc) or courier; anything
    /// past draft is refused.
    pub(crate) async fn edit_draft_shipment(
        &self,
        id: Uuid,
        destination: Option<(Option<Uuid>, &Value)>,
        courier_code: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ShipmentRow> {
        let mut tx = self.pool().begin().await?;
        let from: ShipmentStatus = lock_status(&mut tx, "shipments", id).await?;
        if !from.editable() {
            return Err(Error::Conflict(format!(
                "cannot edit the shipment: it is {}",
                from.as_str()
            )));
        }
        sqlx::query(
            "UPDATE shipments SET address_snapshot = coalesce($2, address_snapshot),
                 address_id = CASE WHEN $2 IS NULL THEN address_id ELSE $5 END,
                 courier_code = coalesce($3, courier_code), updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(destination.map(|d| d.1))
        .bind(courier_code)
        .bind(now)
        .bind(destination.and_then(|d| d.0))
        .execute(&mut *tx)
        .await?;
        if let Some((Some(address), _)) = destination {
            touch_address_in(&mut tx, address, now).await?;
        }
        let row = shipment_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }
}

impl Store {
    /// Saves a shipment's ad-hoc destination to its company's address book and points the
    /// shipment at the new entry. A destination already in the book, or an exact duplicate
    /// of a live entry, is a conflict.
    pub(crate) async fn save_shipment_address(
        &self,
        id: Uuid,
        label: Option<&str>,
        defaults: Defaults,
        now: DateTime<Utc>,
    ) -> Result<(ShipmentRow, AddressRow)> {
        use crate::domain::hardware::directory::ValidationStatus;
        let mut tx = self.pool().begin().await?;
        let row: Option<(Option<Uuid>, Value, String)> = sqlx::query_as(
            "SELECT s.address_id, s.address_snapshot, o.company_id FROM shipments s
             JOIN fulfillment_orders f ON f.id = s.fulfillment_id
             JOIN hardware_orders o ON o.id = f.order_id
             WHERE s.id = $1 FOR UPDATE OF s",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let (linked, snapshot, company) = row.ok_or(Error::NotFound)?;
        if let Some(address) = linked {
            return Err(Error::Conflict(format!(
                "the shipment's destination is already in the address book ({address})"
            )));
        }
        let fields = AddressFields::from_snapshot(&snapshot).ok_or_else(|| {
            Error::Corrupt(format!("shipment {id} has an incomplete address snapshot"))
        })?;
        let address = insert_address_in(
            &mut tx,
            &company,
            &fields,
            label,
            ValidationStatus::Unvalidated,
            now,
        )
        .await?;
        sqlx::query("UPDATE shipments SET address_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(address.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        touch_address_in(&mut tx, address.id, now).await?;
        set_defaults_in(&mut tx, &company, address.id, defaults, now).await?;
        let shipment = shipment_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        let address = super::directory::address_in(&mut tx, address.id)
            .await?
            .ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok((shipment, address))
    }
}

pub(crate) async fn shipment_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ShipmentRow>, sqlx::Error> {
    sqlx::query_as::<_, ShipmentRow>(&format!("SELECT {COLUMNS} FROM shipments WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub(crate) async fn shipment_items_in(
    conn: &mut PgConnection,
    shipment_id: Uuid,
) -> Result<Vec<ShipmentItemRow>, sqlx::Error> {
    sqlx::query_as::<_, ShipmentItemRow>(
        "SELECT si.id, si.fulfillment_item_id, fi.sku, si.quantity
         FROM shipment_items si JOIN fulfillment_items fi ON fi.id = si.fulfillment_item_id
         WHERE si.shipment_id = $1 ORDER BY fi.sku",
    )
    .bind(shipment_id)
    .fetch_all(conn)
    .await
}

/// Every shipment of a fulfilment with its items, in the order they were made.
pub(crate) async fn shipments_of_in(
    conn: &mut PgConnection,
    fulfillment_id: Uuid,
) -> Result<Vec<ShipmentView>, sqlx::Error> {
    let rows = sqlx::query_as::<_, ShipmentRow>(&format!(
        "SELECT {COLUMNS} FROM shipments WHERE fulfillment_id = $1 ORDER BY seq"
    ))
    .bind(fulfillment_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for shipment in rows {
        let items = shipment_items_in(conn, shipment.id).await?;
        out.push(ShipmentView { shipment, items });
    }
    Ok(out)
}

/// Drafts a shipment: the fulfilment must still be open, and every quantity must fit what its
/// item has left (checked under row locks, and again by the column's CHECK).
pub(crate) async fn draft_shipment_in(
    conn: &mut PgConnection,
    new: &NewShipment,
    now: DateTime<Utc>,
) -> Result<ShipmentRow> {
    let status: FulfillmentStatus =
        lock_status(conn, "fulfillment_orders", new.fulfillment_id).await?;
    if status.is_terminal() {
        return Err(Error::Conflict(format!(
            "cannot add a shipment to the fulfillment: it is {}",
            status.as_str()
        )));
    }
    let open = open_items_in(conn, new.fulfillment_id).await?;
    allocation::check(&open, &new.asks).map_err(|e| Error::Conflict(e.to_string()))?;
    let (order_id, seq): (Uuid, i32) = sqlx::query_as(
        "SELECT f.order_id, coalesce((SELECT max(seq) FROM shipments WHERE fulfillment_id = f.id), 0) + 1
         FROM fulfillment_orders f WHERE f.id = $1",
    )
    .bind(new.fulfillment_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO shipments (id, fulfillment_id, seq, status, address_id, address_snapshot,
             courier_code, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $8)",
    )
    .bind(new.id)
    .bind(new.fulfillment_id)
    .bind(seq)
    .bind(new.address_id)
    .bind(&new.address)
    .bind(&new.courier_code)
    .bind(&new.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if let Some(address) = new.address_id {
        touch_address_in(conn, address, now).await?;
    }
    let mut lines = Vec::with_capacity(new.asks.len());
    for ask in &new.asks {
        sqlx::query(
            "INSERT INTO shipment_items (id, shipment_id, fulfillment_item_id, quantity) VALUES ($1, $2, $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(new.id)
        .bind(ask.item_id)
        .bind(ask.quantity)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE fulfillment_items SET remaining = remaining - $2 WHERE id = $1")
            .bind(ask.item_id)
            .bind(ask.quantity)
            .execute(&mut *conn)
            .await?;
        let sku = open
            .iter()
            .find(|o| o.item_id == ask.item_id)
            .map(|o| o.sku.clone());
        lines.push(json!({ "sku": sku, "quantity": ask.quantity }));
    }
    let event = DomainEvent {
        event_type: "shipment.drafted",
        aggregate_id: new.id,
        order_id,
        payload: json!({ "seq": seq, "courier": new.courier_code, "items": lines, "by": new.created_by }),
        source_module: "shipments",
    };
    emit_in(conn, &event, now).await?;
    shipment_in(conn, new.id).await?.ok_or(Error::NotFound)
}

/// The courier booked a draft: tracking number and link, `shipment.ready`, and the fulfilment
/// moves to awaiting shipment.
pub async fn book_shipment_in(
    conn: &mut PgConnection,
    id: Uuid,
    tracking_number: &str,
    tracking_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let from: ShipmentStatus = lock_status(conn, "shipments", id).await?;
    if decide(
        from,
        ShipmentEvent::Book,
        shipment::apply,
        ShipmentStatus::Ready,
    )?
    .is_none()
    {
        return Ok(());
    }
    let (fulfillment_id, order_id, courier): (Uuid, Uuid, String) = sqlx::query_as(
        "UPDATE shipments s SET status = 'ready', tracking_number = $2, tracking_url = $3, ready_at = $4,
             updated_at = $4
         FROM fulfillment_orders f WHERE s.id = $1 AND f.id = s.fulfillment_id
         RETURNING s.fulfillment_id, f.order_id, s.courier_code",
    )
    .bind(id)
    .bind(tracking_number)
    .bind(tracking_url)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let event = DomainEvent {
        event_type: "shipment.ready",
        aggregate_id: id,
        order_id,
        payload: json!({ "courier": courier, "tracking_number": tracking_number, "tracking_url": tracking_url }),
        source_module: "shipments",
    };
    emit_in(conn, &event, now).await?;
    move_fulfillment_in(conn, fulfillment_id, FulfillmentEvent::ShipmentReady, now).await?;
    Ok(())
}

fn target(event: ShipmentEvent) -> ShipmentStatus {
    match event {
        ShipmentEvent::Book => ShipmentStatus::Ready,
        ShipmentEvent::Dispatch => ShipmentStatus::InTransit,
        ShipmentEvent::Deliver => ShipmentStatus::Delivered,
        ShipmentEvent::Cancel => ShipmentStatus::Cancelled,
    }
}

/// Moves a booked shipment on a courier event (or an operator's word): timestamps, the event
/// `shipment.<status>`, the fulfilment's own move, and on cancellation the quantities go back.
/// `None` when the shipment already was there.
pub async fn move_shipment_in(
    conn: &mut PgConnection,
    id: Uuid,
    event: ShipmentEvent,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<Option<ShipmentStatus>> {
    let from: ShipmentStatus = lock_status(conn, "shipments", id).await?;
    let Some(to) = decide(from, event, shipment::apply, target(event))? else {
        return Ok(None);
    };
    let stamp = match to {
        ShipmentStatus::InTransit => "in_transit_at",
        ShipmentStatus::Delivered => "delivered_at",
        ShipmentStatus::Cancelled => "cancelled_at",
        ShipmentStatus::Ready => "ready_at",
        ShipmentStatus::Draft => "updated_at",
    };
    let (fulfillment_id, order_id): (Uuid, Uuid) = sqlx::query_as(&format!(
        "UPDATE shipments s SET status = $2, {stamp} = $3, updated_at = $3
         FROM fulfillment_orders f WHERE s.id = $1 AND f.id = s.fulfillment_id
         RETURNING s.fulfillment_id, f.order_id"
    ))
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if to == ShipmentStatus::Cancelled {
        sqlx::query(
            "UPDATE fulfillment_items fi SET remaining = fi.remaining + si.quantity
             FROM shipment_items si WHERE si.shipment_id = $1 AND fi.id = si.fulfillment_item_id",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    let event_type = match to {
        ShipmentStatus::Draft => "shipment.drafted",
        ShipmentStatus::Ready => "shipment.ready",
        ShipmentStatus::InTransit => "shipment.in_transit",
        ShipmentStatus::Delivered => "shipment.delivered",
        ShipmentStatus::Cancelled => "shipment.cancelled",
    };
    let mut payload = json!({ "from": from.as_str() });
    if let (Some(p), Value::Object(d)) = (payload.as_object_mut(), detail) {
        p.extend(d);
    }
    let record = DomainEvent {
        event_type,
        aggregate_id: id,
        order_id,
        payload,
        source_module: "shipments",
    };
    emit_in(conn, &record, now).await?;
    if to == ShipmentStatus::InTransit {
        move_fulfillment_in(
            conn,
            fulfillment_id,
            FulfillmentEvent::ShipmentInTransit,
            now,
        )
        .await?;
    }
    Ok(Some(to))
}
