//! `[hardware]`: the price book, strict pricing, checkout and courier defaults, and the
//! automation policy of each scenario.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::families::hardware::store::PriceSeed;

/// The scenarios an automation step can run (the bridge knows these five).
pub const SCENARIOS: &[&str] = &[
    "sensor_vendor_first_time",
    "sensor_partner_first_time",
    "sensor_vendor_replacement",
    "sensor_partner_replacement",
    "sensor_return",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HardwareSettings {
    /// Refuse a checkout whose lines the processor cannot charge by a synced price id.
    pub strict_prices: bool,
    /// Courier for orders that name none (a key of `[providers.courier.carriers]`).
    pub default_courier: String,
    pub default_currency: String,
    /// How long the processor keeps a checkout session open. The checkout step's wait in
    /// `workflows/hardware_order.toml` should outlast it a little, then poll.
    #[serde(with = "crate::config::duration")]
    pub checkout_expires_after: Duration,
    /// Where the processor sends the customer after paying, and after giving up: the billing
    /// portal's payment page (`/portal/checkout/{CHECKOUT_SESSION_ID}`), for an order's
    /// checkout and for an invoice paid from the portal alike. The processor fills in the
    /// session id.
    pub success_url: String,
    pub cancel_url: String,
    /// Where the server is reached from outside: the start of a portal link.
    pub portal_base_url: String,
    /// How long a portal link may wait to be opened (it opens once).
    #[serde(with = "crate::config::duration")]
    pub portal_link_ttl: Duration,
    /// A portal session ends after this long unused…
    #[serde(with = "crate::config::duration")]
    pub portal_session_idle: Duration,
    /// …and this long after the link was opened, however busy.
    #[serde(with = "crate::config::duration")]
    pub portal_session_absolute: Duration,
    /// Policy per scenario; scenarios not listed get [`ScenarioPolicy::default`].
    pub scenarios: BTreeMap<String, ScenarioPolicy>,
    /// Upserted into the price book at start-up.
    pub price_book: Vec<PriceSeed>,
}

impl Default for HardwareSettings {
    fn default() -> Self {
        Self {
            strict_prices: true,
            default_courier: "dhl".into(),
            default_currency: "usd".into(),
            checkout_expires_after: Duration::from_secs(60 * 60),
            success_url: "http://127.0.0.1:8080/portal/checkout/{CHECKOUT_SESSION_ID}".into(),
            cancel_url:
                "http://127.0.0.1:8080/portal/checkout/{CHECKOUT_SESSION_ID}?outcome=cancelled"
                    .into(),
            portal_base_url: "http://127.0.0.1:8080".into(),
            portal_link_ttl: Duration::from_secs(15 * 60),
            portal_session_idle: Duration::from_secs(30 * 60),
            portal_session_absolute: Duration::from_secs(4 * 60 * 60),
            scenarios: BTreeMap::new(),
            price_book: Vec::new(),
        }
    }
}

impl HardwareSettings {
    /// The policy of a scenario, defaults filled in.
    pub fn policy(&self, scenario: &str) -> ScenarioPolicy {
        self.scenarios.get(scenario).cloned().unwrap_or_default()
    }

    /// The portal session limits, as the store checks them.
    pub(crate) fn portal_session_limits(&self) -> crate::store::SessionLimits {
        let span =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1));
        crate::store::SessionLimits {
            idle: span(self.portal_session_idle),
            absolute: span(self.portal_session_absolute),
        }
    }

    /// Attempt limits by scenario, for queueing automation steps.
    pub fn max_attempts(&self) -> BTreeMap<String, u32> {
        SCENARIOS
            .iter()
            .map(|s| (s.to_string(), self.policy(s).max_attempts))
            .collect()
    }
}

/// How an automation scenario is run and what an operator does when it gives up.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ScenarioPolicy {
    pub max_attempts: u32,
    #[serde(with = "crate::config::duration")]
    pub retry_delay: Duration,
    /// Longest one bridge call may take.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// What the manual fallback is, shown to the operator with the failed step.
    pub fallback: String,
}

impl Default for ScenarioPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            retry_delay: Duration::from_secs(10 * 60),
            timeout: Duration::from_secs(30),
            fallback: "Register the devices by hand in the legacy device console".into(),
        }
    }
}
