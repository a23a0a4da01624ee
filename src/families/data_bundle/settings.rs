//! `[bundles]`: the data-bundle catalogue seeded at start-up, how fulfilment treats a low
//! provider balance, and how often the balance watch reads it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::phone::Network;

/// What to do when the reseller's balance cannot cover an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LowBalance {
    /// Try again after `low_balance_retry` (counts as a retry of the fulfil step).
    Wait,
    /// Hold the saga for an operator to top the balance up and retry it.
    Park,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BundleSettings {
    /// Below this reseller balance (GHS) an order is not submitted.
    pub low_balance_threshold: f64,
    pub on_low_balance: LowBalance,
    /// How long to wait before trying again when `on_low_balance = "wait"`.
    #[serde(with = "crate::config::duration")]
    pub low_balance_retry: Duration,
    /// The catalogue: one package per network and size. Upserted at start-up.
    pub packages: Vec<PackageSeed>,
    /// When the balance watch reads the reseller's balance (a cron schedule, seconds first),
    /// so the balance gauge and its alert stay fresh with no orders flowing. Unset: no watch.
    pub balance_poll: Option<String>,
}

impl Default for BundleSettings {
    fn default() -> Self {
        Self {
            low_balance_threshold: 0.0,
            on_low_balance: LowBalance::Wait,
            low_balance_retry: Duration::from_secs(15 * 60),
            packages: Vec::new(),
            balance_poll: None,
        }
    }
}

/// One catalogue entry; its id is `<network>-<size>gb` in lower case (`mtn-5gb`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PackageSeed {
    pub network: Network,
    pub size_gb: u32,
    /// Price in GHS.
    pub price: f64,
}

impl PackageSeed {
    pub fn id(&self) -> String {
        package_id(self.network, self.size_gb)
    }
}

/// The catalogue id of a network and size.
pub fn package_id(network: Network, size_gb: u32) -> String {
    format!("{}-{size_gb}gb", network.as_str().to_ascii_lowercase())
}
