//! The simulator's in-memory provider data: orders, fulfilments, sessions, refunds, sales
//! orders, licences, shipments, messages, bridge automation runs, processor prices and the
//! legacy records behind the bridge.

use std::collections::BTreeMap;

use serde_json::Value;

use super::bridge::AutomationRun;
use crate::domain::legacy::{Entity, LegacyRecord};
use crate::providers::courier::{Shipment, TrackingEvent};
use crate::providers::crm::{Licence, SalesOrder};
use crate::providers::ishare::Fulfillment;
use crate::providers::payments::{CheckoutSession, Price, Refund};
use crate::providers::reseller::ResellerOrder;

/// A shipment and where it is.
#[derive(Debug, Clone)]
pub(crate) struct ShipmentRecord {
    pub courier: String,
    pub shipment: Shipment,
    pub events: Vec<TrackingEvent>,
}

/// An AT-iShare fulfilment with the order details the webhook repeats.
#[derive(Debug, Clone)]
pub(crate) struct IshareRecord {
    pub fulfillment: Fulfillment,
    pub phone: String,
    pub size_gb: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Records {
    next_id: u64,
    pub reseller_orders: BTreeMap<i64, ResellerOrder>,
    pub ishare: BTreeMap<String, IshareRecord>,
    pub sessions: BTreeMap<String, CheckoutSession>,
    /// Each session's `success_url` and `cancel_url`, where the hosted page sends the customer.
    pub return_urls: BTreeMap<String, (String, String)>,
    /// Refunded amount per payment intent.
    pub refunded: BTreeMap<String, i64>,
    pub refunds: BTreeMap<String, Refund>,
    /// Prices created through `POST /v1/prices`, by id.
    pub prices: BTreeMap<String, Price>,
    pub sales_orders: BTreeMap<String, SalesOrder>,
    /// Licence per sales order id.
    pub licences: BTreeMap<String, Licence>,
    pub shipments: BTreeMap<String, ShipmentRecord>,
    pub sms: BTreeMap<String, Value>,
    /// Bridge automations, in the order they ran.
    pub automations: Vec<AutomationRun>,
    /// The legacy system's companies, assets and devices, by id.
    pub legacy: BTreeMap<Entity, BTreeMap<String, LegacyRecord>>,
    /// Payment events the legacy service received from sagaflow's fan-out, oldest first.
    pub legacy_forwards: Vec<Value>,
}

impl Records {
    /// Empty, numbering from the current time in microseconds: a simulator restarted against
    /// the same database must not hand out a session, event or licence id the last one did,
    /// as no real provider would (event ids are deduplicated, references are unique).
    pub fn fresh() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Records {
            next_id: micros,
            ..Self::default()
        }
    }

    /// A fresh number, unique across every kind of record.
    pub fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
