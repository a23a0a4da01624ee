//! Couriers (USPS, DHL, ChitChat, Canada Post and any other configured as data): create a
//! shipment with its label and tracking number, read tracking, and cancel a shipment that has
//! not been picked up yet.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::{CarrierConfig, CourierConfig};
use super::error::Error;
use super::exchange::Attempt;
use super::ishare::encode_segment;
use super::transport::{JSON, Transport};

/// A delivery address, snapshotted on the shipment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// One parcel of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    pub weight_grams: u32,
}

/// What a shipment is created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewShipment {
    /// Our shipment reference.
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub to: Address,
    pub parcels: Vec<Parcel>,
}

/// A created shipment and its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: String,
    pub tracking_number: String,
    #[serde(default)]
    pub label_url: Option<String>,
    /// `label_created`, `in_transit`, `out_for_delivery`, `delivered`, `exception`, `returned`,
    /// `cancelled`.
    pub status: String,
}

/// One tracking event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub status: String,
    pub occurred_at: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Tracking of one shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    pub tracking_number: String,
    pub status: String,
    #[serde(default)]
    pub events: Vec<TrackingEvent>,
}

/// The error code of cancelling a shipment the courier already picked up: a permanent
/// [`Error::InvalidState`] with this reason.
pub const ALREADY_IN_TRANSIT: &str = "already_in_transit";

#[derive(Debug, Clone)]
struct Carrier {
    config: CarrierConfig,
    transport: Transport,
}

/// Client of every configured courier, by code.
#[derive(Debug, Clone)]
pub struct CourierClient {
    carriers: BTreeMap<String, Carrier>,
}

impl CourierClient {
    pub fn new(cfg: &CourierConfig) -> Result<Self, Error> {
        let mut carriers = BTreeMap::new();
        for (code, carrier) in &cfg.carriers {
            let mut transport = Transport::new(
                "courier",
                &carrier.base_url,
                cfg.timeout,
                [carrier.api_key.expose(), carrier.webhook_secret.expose()],
            )?;
            transport.provider_label = format!("courier:{code}");
            transport.state_reasons = &[ALREADY_IN_TRANSIT];
            carriers.insert(
                code.to_ascii_lowercase(),
                Carrier {
                    config: carrier.clone(),
                    transport,
                },
            );
        }
        Ok(CourierClient { carriers })
    }

    /// Configured courier codes with their display names.
    pub fn carriers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.carriers
            .iter()
            .map(|(code, c)| (code.as_str(), c.config.name.as_str()))
    }

    /// The public tracking link for a tracking number.
    pub fn tracking_url(&self, courier: &str, tracking_number: &str) -> Option<String> {
        let carrier = self.carriers.get(&courier.to_ascii_lowercase())?;
        Some(
            carrier
                .config
                .tracking_url_template
                .replace("{tracking_number}", &encode_segment(tracking_number)),
        )
    }

    fn carrier(&self, courier: &str) -> Result<&Carrier, Error> {
        self.carriers
            .get(&courier.to_ascii_lowercase())
            .ok_or_else(|| Error::Config(format!("unknown courier {courier:?}")))
    }

    /// `POST {base}/v1/shipments`: buys the label and returns the tracking number.
    pub async fn create_shipment(
        &self,
        courier: &str,
        shipment: &NewShipment,
        idempotency_key: &str,
    ) -> Attempt<Shipment> {
        let carrier = match self.carrier(courier) {
            Ok(carrier) => carrier,
            Err(e) => return Attempt::local("courier", "create_shipment", e),
        };
        let body = match serde_json::to_string(shipment) {
            Ok(body) => body,
            Err(e) => {
                return Attempt::local("courier", "create_shipment", Error::Config(e.to_string()));
            }
        };
        let key = carrier.config.api_key.expose();
        carrier
            .transport
            .call(
                "create_shipment",
                Method::POST,
                "/v1/shipments",
                Some((body, JSON)),
                Some(idempotency_key),
                |b| {
                    b.bearer_auth(key)
                        .header("Idempotency-Key", idempotency_key)
                },
            )
            .await
    }

    /// `GET {base}/v1/shipments/{tracking_number}/tracking`.
    pub async fn get_tracking(&self, courier: &str, tracking_number: &str) -> Attempt<Tracking> {
        let carrier = match self.carrier(courier) {
            Ok(carrier) => carrier,
            Err(e) => return Attempt::local("courier", "get_tracking", e),
        };
        let path = format!("/v1/shipments/{}/tracking", encode_segment(tracking_number));
        let key = carrier.config.api_key.expose();
        carrier
            .transport
            .call("get_tracking", Method::GET, &path, None, None, |b| {
                b.bearer_auth(key)
            })
            .await
    }

    /// `POST {base}/v1/shipments/{tracking_number}/cancel`: voids the label of a shipment not
    /// yet picked up; answers its tracking, status `cancelled` (cancelling twice is fine). A
    /// shipment already moving fails with [`Error::InvalidState`] and reason
    /// [`ALREADY_IN_TRANSIT`].
    pub async fn cancel_shipment(
        &self,
        courier: &str,
        tracking_number: &str,
        idempotency_key: &str,
    ) -> Attempt<Tracking> {
        let carrier = match self.carrier(courier) {
            Ok(carrier) => carrier,
            Err(e) => return Attempt::local("courier", "cancel_shipment", e),
        };
        let path = format!("/v1/shipments/{}/cancel", encode_segment(tracking_number));
        let key = carrier.config.api_key.expose();
        carrier
            .transport
            .call(
                "cancel_shipment",
                Method::POST,
                &path,
                None,
                Some(idempotency_key),
                |b| {
                    b.bearer_auth(key)
                        .header("Idempotency-Key", idempotency_key)
                },
            )
            .await
    }
}

impl CourierClient {
    /// Puts the shared provider gates in front of every carrier's calls.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        for carrier in self.carriers.values_mut() {
            carrier.transport.gates = Some(gates.clone());
        }
    }
}
