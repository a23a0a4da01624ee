//! What the simulator is started with and what `/_sim/config` may change at run time: faults
//! per endpoint, callback URLs, completion delays and controllable outcomes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::providers::ProvidersConfig;

/// The endpoint names faults are keyed by (also the keys of `/_sim/stats`).
pub const ENDPOINTS: &[&str] = &[
    "reseller.create_order",
    "reseller.list_orders",
    "reseller.balance",
    "ishare.fulfill",
    "ishare.verify",
    "payments.create_session",
    "payments.get_session",
    "payments.create_refund",
    "payments.expire_session",
    "payments.create_price",
    "payments.get_price",
    "crm.create_sales_order",
    "crm.provision_licence",
    "crm.cancel_sales_order",
    "courier.create_shipment",
    "courier.get_tracking",
    "courier.cancel_shipment",
    "sms.send",
    "partner.receive",
    "bridge.run_automation",
    "bridge.list_records",
    "bridge.get_record",
    "legacy.receive",
];

/// A fault injected into one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Added before every request to the endpoint (even when `times` is spent).
    pub latency_ms: u64,
    /// Probability (0..=1) of answering `error_status` instead of doing the work.
    pub error_rate: f64,
    /// Status used by `error_rate`; 500 when unset.
    pub error_status: Option<u16>,
    /// Always answer this status instead of doing the work.
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with a faulted answer.
    pub retry_after_secs: Option<u64>,
    /// The faulted answer's body, as hex, instead of the JSON error: bytes a real provider
    /// might send, NUL and invalid UTF-8 included. Invalid hex keeps the JSON error.
    pub body_hex: Option<String>,
    /// Never answer (until shutdown): the client times out. Nothing is done.
    pub hang: bool,
    /// Do the work, then cut the connection instead of answering: an unknown outcome.
    pub drop_response: bool,
    /// Probability (0..=1) of never answering a request, as `hang` does for every one.
    pub hang_rate: f64,
    /// Probability (0..=1) of doing the work and then cutting the connection, as
    /// `drop_response` does for every one.
    pub drop_rate: f64,
    /// Apply `status`/`error_rate`/`hang`/`drop_response` to this many more requests only.
    pub times: Option<u32>,
}

/// How a simulated reseller or AT-iShare order ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Completed,
    Failed,
    /// Stays pending forever (no webhook).
    Pending,
}

/// Where the simulator posts its signed webhooks, per provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Callbacks {
    pub reseller: Option<String>,
    pub ishare: Option<String>,
    pub payments: Option<String>,
    pub courier: Option<String>,
}

impl Callbacks {
    /// Every provider posting to `{base}/{provider}` (`/v1/webhooks` of a sagaflow server).
    pub fn under(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Callbacks {
            reseller: Some(format!("{base}/reseller")),
            ishare: Some(format!("{base}/ishare")),
            payments: Some(format!("{base}/payments")),
            courier: Some(format!("{base}/courier")),
        }
    }
}

/// The simulator's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Credentials the simulator checks and secrets it signs webhooks with; give the clients
    /// the same (see `SimulatorHandle::providers_config`).
    #[serde(skip)]
    pub providers: ProvidersConfig,
    pub faults: BTreeMap<String, Fault>,
    pub callbacks: Callbacks,
    /// Delay before a reseller/AT-iShare order completes and a checkout is paid.
    pub completion_delay_ms: u64,
    /// Delay between courier steps (label → in_transit → delivered).
    pub courier_step_delay_ms: u64,
    /// Outcome of orders whose phone has no entry in `outcomes`.
    pub default_outcome: Outcome,
    /// Outcome per national phone number (`0241234567`).
    pub outcomes: BTreeMap<String, Outcome>,
    /// Wallet balance (GHS) shared by the reseller and AT-iShare.
    pub balance: f64,
    /// Price of one GB, debited per order.
    pub price_per_gb: f64,
    /// Pay each checkout session automatically after `completion_delay_ms`.
    pub checkout_auto_complete: bool,
    /// Move each shipment to in_transit then delivered automatically.
    pub courier_auto_progress: bool,
    /// Processor price id (`price_…`) → unit amount in minor units. A checkout line naming a
    /// price charges its amount, and a price id not listed is refused like Stripe does. Empty:
    /// every price id charges the built-in catalogue price.
    pub prices: BTreeMap<String, i64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            providers: ProvidersConfig::default(),
            faults: BTreeMap::new(),
            callbacks: Callbacks::default(),
            completion_delay_ms: 200,
            courier_step_delay_ms: 200,
            default_outcome: Outcome::Completed,
            outcomes: BTreeMap::new(),
            balance: 10_000.0,
            price_per_gb: 5.0,
            checkout_auto_complete: true,
            courier_auto_progress: true,
            prices: BTreeMap::new(),
        }
    }
}

/// A change to the running simulator (`POST /_sim/config`); absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigPatch {
    /// Faults to set; `null` removes the endpoint's fault.
    pub faults: BTreeMap<String, Option<Fault>>,
    /// Remove every fault first.
    pub clear_faults: bool,
    /// Callback URLs to set (each field replaces when present).
    pub callbacks: Option<CallbacksPatch>,
    pub completion_delay_ms: Option<u64>,
    pub courier_step_delay_ms: Option<u64>,
    pub default_outcome: Option<Outcome>,
    /// Outcomes to set per phone; `null` removes one.
    pub outcomes: BTreeMap<String, Option<Outcome>>,
    pub balance: Option<f64>,
    pub price_per_gb: Option<f64>,
    pub checkout_auto_complete: Option<bool>,
    pub courier_auto_progress: Option<bool>,
    /// Prices to set per price id; `null` removes one.
    pub prices: BTreeMap<String, Option<i64>>,
}

/// Callback URLs to change; an empty string clears one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksPatch {
    pub reseller: Option<String>,
    pub ishare: Option<String>,
    pub payments: Option<String>,
    pub courier: Option<String>,
}

impl SimulatorConfig {
    /// Applies a patch; refuses unknown endpoint names and non-positive prices (nothing changes).
    pub(crate) fn apply(&mut self, patch: ConfigPatch) -> Result<(), String> {
        if let Some(unknown) = patch
            .faults
            .keys()
            .find(|k| !ENDPOINTS.contains(&k.as_str()))
        {
            return Err(format!("unknown endpoint {unknown:?}"));
        }
        if let Some((id, _)) = patch
            .prices
            .iter()
            .find(|(_, amount)| amount.is_some_and(|a| a <= 0))
        {
            return Err(format!("price {id:?} must be a positive amount"));
        }
        if patch.clear_faults {
            self.faults.clear();
        }
        for (endpoint, fault) in patch.faults {
            match fault {
                Some(fault) => {
                    self.faults.insert(endpoint, fault);
                }
                None => {
                    self.faults.remove(&endpoint);
                }
            }
        }
        if let Some(cb) = patch.callbacks {
            let set = |slot: &mut Option<String>, value: Option<String>| {
                if let Some(value) = value {
                    *slot = (!value.is_empty()).then_some(value);
                }
            };
            set(&mut self.callbacks.reseller, cb.reseller);
            set(&mut self.callbacks.ishare, cb.ishare);
            set(&mut self.callbacks.payments, cb.payments);
            set(&mut self.callbacks.courier, cb.courier);
        }
        if let Some(v) = patch.completion_delay_ms {
            self.completion_delay_ms = v;
        }
        if let Some(v) = patch.courier_step_delay_ms {
            self.courier_step_delay_ms = v;
        }
        if let Some(v) = patch.default_outcome {
            self.default_outcome = v;
        }
        for (phone, outcome) in patch.outcomes {
            match outcome {
                Some(outcome) => {
                    self.outcomes.insert(phone, outcome);
                }
                None => {
                    self.outcomes.remove(&phone);
                }
            }
        }
        if let Some(v) = patch.balance {
            self.balance = v;
        }
        if let Some(v) = patch.price_per_gb {
            self.price_per_gb = v;
        }
        if let Some(v) = patch.checkout_auto_complete {
            self.checkout_auto_complete = v;
        }
        if let Some(v) = patch.courier_auto_progress {
            self.courier_auto_progress = v;
        }
        for (id, amount) in patch.prices {
            match amount {
                Some(amount) => {
                    self.prices.insert(id, amount);
                }
                None => {
                    self.prices.remove(&id);
                }
            }
        }
        Ok(())
    }
}
