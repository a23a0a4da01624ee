//! Who created the order a fulfilment, shipment or invoice belongs to: the tenant a service
//! token must be to see it (`api::tenancy`).

use uuid::Uuid;

use crate::store::{Result, Store};

/// A row that hangs off a hardware order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OrderPart {
    Fulfillment,
    Shipment,
    Invoice,
}

impl Store {
    /// The `created_by` of the order `id` belongs to; `None` when there is no such row.
    pub(crate) async fn hardware_owner(&self, part: OrderPart, id: Uuid) -> Result<Option<String>> {
        let sql = match part {
            OrderPart::Fulfillment => {
                "SELECT o.created_by FROM fulfillment_orders f
                 JOIN hardware_orders o ON o.id = f.order_id WHERE f.id = $1"
            }
            OrderPart::Shipment => {
                "SELECT o.created_by FROM shipments s
                 JOIN fulfillment_orders f ON f.id = s.fulfillment_id
                 JOIN hardware_orders o ON o.id = f.order_id WHERE s.id = $1"
            }
            OrderPart::Invoice => {
                "SELECT o.created_by FROM invoices i
                 JOIN hardware_orders o ON o.id = i.order_id WHERE i.id = $1"
            }
        };
        Ok(sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The company of the order a shipment belongs to.
    pub(crate) async fn company_of_shipment(&self, id: Uuid) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT o.company_id FROM shipments s
             JOIN fulfillment_orders f ON f.id = s.fulfillment_id
             JOIN hardware_orders o ON o.id = f.order_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Whether the service `service` has placed an order for `company`: what lets a shop's
    /// service ask for that company's billing portal link.
    pub(crate) async fn company_ordered_by(&self, company: &str, service: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM hardware_orders WHERE company_id = $1 AND created_by = $2)",
        )
        .bind(company)
        .bind(service)
        .fetch_one(self.pool())
        .await?)
    }
}
