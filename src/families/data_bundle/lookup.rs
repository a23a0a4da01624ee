//! Routing by network and asking a provider about one of our references: the lookup that runs
//! before every retry and after every unknown outcome, so a bundle is never delivered twice.

use chrono::{DateTime, Utc};

use super::{Deps, OrderInput};
use crate::domain::phone::{Network, PhoneNumber};
use crate::engine::action::StepError;
use crate::providers::reseller::NewOrder;
use crate::providers::webhooks::{self, Inbound};

/// Which provider delivers a network's bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// MTN and Telecel.
    Reseller,
    /// AirtelTigo.
    Ishare,
}

impl Route {
    pub(crate) fn for_network(network: Network) -> Self {
        match network {
            Network::AirtelTigo => Route::Ishare,
            _ => Route::Reseller,
        }
    }

    /// The provider's inbound contract: its name, its webhook's signal and correlation keys.
    pub fn contract(self) -> &'static Inbound {
        match self {
            Route::Reseller => &webhooks::reseller::CONTRACT,
            Route::Ishare => &webhooks::ishare::CONTRACT,
        }
    }

    pub fn provider(self) -> &'static str {
        self.contract().name
    }

    /// The reference the provider's webhooks name.
    pub fn correlation(self, external_id: &str) -> String {
        (self.contract().reference)(external_id)
    }
}

/// A provider's view of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Completed,
    Failed(String),
}

impl Status {
    pub fn parse(status: &str, message: Option<&str>) -> Self {
        match status {
            "completed" | "success" | "delivered" => Status::Completed,
            "failed" | "error" => Status::Failed(message.unwrap_or("failed").to_string()),
            _ => Status::Pending,
        }
    }
}

/// An order the provider knows under our reference.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The provider's own id (the reseller's order id; for AT-iShare our reference).
    pub external_id: String,
    pub status: Status,
}

/// Builds the reseller order for a reference.
pub(crate) fn reseller_order(order: &OrderInput, phone: &PhoneNumber, reference: &str) -> NewOrder {
    NewOrder {
        phone: phone.clone(),
        network: order.network,
        size_gb: order.size_gb,
        reference: Some(reference.to_string()),
    }
}

/// Asks the provider whether `reference` was placed. An error here is retryable: without an
/// answer we must not submit again.
pub(crate) async fn lookup(
    deps: &Deps,
    route: Route,
    order: &OrderInput,
    phone: &PhoneNumber,
    reference: &str,
    since: DateTime<Utc>,
) -> Result<Option<Found>, StepError> {
    let unverified = |e: crate::providers::Error| {
        StepError::retryable(
            "lookup_failed",
            format!("could not check {} order history: {e}", route.provider()),
        )
    };
    match route {
        Route::Reseller => {
            let attempt = deps
                .providers
                .reseller
                .find_order(&reseller_order(order, phone, reference), since)
                .await;
            Ok(attempt.result.map_err(unverified)?.map(|o| Found {
                external_id: o.id.to_string(),
                status: Status::parse(&o.status, o.message.as_deref()),
            }))
        }
        Route::Ishare => {
            let attempt = deps.providers.ishare.verify_fulfillment(reference).await;
            Ok(attempt.result.map_err(unverified)?.map(|f| Found {
                external_id: f.reference.clone(),
                status: Status::parse(
                    f.status.as_deref().unwrap_or("pending"),
                    f.message.as_deref(),
                ),
            }))
        }
    }
}
