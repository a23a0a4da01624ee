//! Provider settings: base URLs, credentials and timeouts, loaded from `[providers]`.
//!
//! Every default points at the built-in simulator (`sagaflow simulate`, port 8081) with
//! simulator-only credentials; production values come from `SAGAFLOW_PROVIDERS__…` variables.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::gates::LimitsConfig;
use super::secret::Secret;

/// Where `sagaflow simulate` listens by default; every default base URL points here.
pub const SIMULATOR_URL: &str = "http://127.0.0.1:8081";

/// Settings for every provider client; each section points at the built-in simulator by default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProvidersConfig {
    /// Accepted clock difference for timestamped webhook signatures (Stripe uses 300 s).
    #[serde(with = "crate::config::duration")]
    pub signature_tolerance: Duration,
    pub reseller: ResellerConfig,
    pub ishare: IshareConfig,
    pub payments: PaymentsConfig,
    pub crm: CrmConfig,
    pub courier: CourierConfig,
    pub sms: SmsConfig,
    pub partner_webhooks: PartnerWebhooksConfig,
    pub bridge: BridgeConfig,
    pub legacy_forward: LegacyForwardConfig,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            signature_tolerance: Duration::from_secs(300),
            reseller: ResellerConfig::default(),
            ishare: IshareConfig::default(),
            payments: PaymentsConfig::default(),
            crm: CrmConfig::default(),
            courier: CourierConfig::default(),
            sms: SmsConfig::default(),
            partner_webhooks: PartnerWebhooksConfig::default(),
            bridge: BridgeConfig::default(),
            legacy_forward: LegacyForwardConfig::default(),
        }
    }
}

impl ProvidersConfig {
    /// Every provider's limits, under the name its calls, metrics and the API use.
    pub fn limits(&self) -> Vec<(&'static str, &LimitsConfig)> {
        vec![
            ("reseller", &self.reseller.limits),
            ("ishare", &self.ishare.limits),
            ("payments", &self.payments.limits),
            ("crm", &self.crm.limits),
            ("courier", &self.courier.limits),
            ("sms", &self.sms.limits),
            ("partner_webhooks", &self.partner_webhooks.limits),
            ("bridge", &self.bridge.limits),
            ("legacy_forward", &self.legacy_forward.limits),
        ]
    }

    /// The same settings with every base URL (and courier tracking link and partner URL)
    /// moved to `base`; tests use it to aim the clients at a simulator on a random port.
    pub(crate) fn with_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.reseller.base_url = base.to_string();
        self.ishare.base_url = base.to_string();
        self.payments.base_url = base.to_string();
        self.crm.base_url = base.to_string();
        self.sms.base_url = base.to_string();
        self.bridge.base_url = base.to_string();
        self.legacy_forward.url = format!("{base}/legacy/webhooks/payments");
        for (code, carrier) in &mut self.courier.carriers {
            carrier.base_url = format!("{base}/courier/{code}");
            carrier.tracking_url_template =
                format!("{base}/courier/{code}/track/{{tracking_number}}");
        }
        for (name, partner) in &mut self.partner_webhooks.partners {
            partner.url = format!("{base}/partner/{name}/webhooks");
        }
        self
    }
}

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

/// The MTN-style data reseller (`X-API-KEY`, `/api/orders`, `/api/balance`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ResellerConfig {
    pub base_url: String,
    /// Sent as `X-API-KEY` on every call.
    pub api_key: Secret,
    /// Key of the `X-Webhook-Signature: sha256=…` HMAC. Resellers of this kind often sign with
    /// the API key itself; then set both to the same value.
    pub webhook_secret: Secret,
    /// Whole-request timeout, connect included.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for ResellerConfig {
    fn default() -> Self {
        ResellerConfig {
            base_url: SIMULATOR_URL.into(),
            api_key: "sim_reseller_key".into(),
            webhook_secret: "sim_reseller_webhook_secret".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// AT-iShare, the AirtelTigo data reseller (request signing with a key and a secret).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct IshareConfig {
    pub base_url: String,
    /// Sent as `X-ISHARE-KEY`.
    pub api_key: Secret,
    /// Signs each request (`X-ISHARE-SIGNATURE`); never sent.
    pub api_secret: Secret,
    /// Key of the inbound `X-ISHARE-SIGNATURE: t=…,v1=…` webhook signature.
    pub webhook_secret: Secret,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for IshareConfig {
    fn default() -> Self {
        IshareConfig {
            base_url: SIMULATOR_URL.into(),
            api_key: "sim_ishare_key".into(),
            api_secret: "sim_ishare_secret".into(),
            webhook_secret: "sim_ishare_webhook_secret".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// The Stripe-compatible payment processor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PaymentsConfig {
    /// `https://api.stripe.com` in production; the simulator by default.
    pub base_url: String,
    /// `sk_test_…` / `sk_live_…`, sent as a Bearer token.
    pub secret_key: Secret,
    /// The whole `whsec_…` string; its bytes key the `Stripe-Signature` HMAC.
    pub webhook_secret: Secret,
    /// Optional `Stripe-Version` header; the account default applies when absent.
    pub api_version: Option<String>,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            base_url: SIMULATOR_URL.into(),
            secret_key: "sk_test_simulator".into(),
            webhook_secret: "whsec_simulator".into(),
            api_version: None,
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// The Zoho-style CRM that holds sales orders and licences.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CrmConfig {
    pub base_url: String,
    /// Sent as `Authorization: Zoho-oauthtoken <token>`.
    pub access_token: Secret,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            base_url: SIMULATOR_URL.into(),
            access_token: "sim_crm_token".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// How a courier's inbound tracking webhook is shaped; see `docs/providers.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAdapter {
    /// `{"event_id","tracking_number","status","occurred_at"}`.
    Flat,
    /// `{"event":{"id","type"},"data":{"trackingNumber","statusCode","timestamp"}}`.
    Envelope,
}

/// One courier, configured as data.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CarrierConfig {
    /// Display name (`USPS`, `DHL`, `ChitChat`, `Canada Post`).
    pub name: String,
    /// Base of the courier's shipment API.
    pub base_url: String,
    /// Sent as a Bearer token.
    pub api_key: Secret,
    /// Key of the inbound `X-Courier-Signature: t=…,v1=…` signature.
    pub webhook_secret: Secret,
    /// Public tracking link; `{tracking_number}` is replaced.
    pub tracking_url_template: String,
    pub webhook_adapter: WebhookAdapter,
}

/// The courier section: a shared timeout and the carriers by code (`usps`, `dhl`, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CourierConfig {
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    pub carriers: BTreeMap<String, CarrierConfig>,
    /// `[providers.courier.limits]`: shared by every carrier.
    pub limits: LimitsConfig,
}

impl Default for CourierConfig {
    fn default() -> Self {
        let carrier = |code: &str, name: &str, adapter| {
            (
                code.to_string(),
                CarrierConfig {
                    name: name.into(),
                    base_url: format!("{SIMULATOR_URL}/courier/{code}"),
                    api_key: Secret::new(format!("sim_{code}_key")),
                    webhook_secret: Secret::new(format!("sim_{code}_webhook_secret")),
                    tracking_url_template: format!(
                        "{SIMULATOR_URL}/courier/{code}/track/{{tracking_number}}"
                    ),
                    webhook_adapter: adapter,
                },
            )
        };
        CourierConfig {
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
            carriers: BTreeMap::from([
                carrier("usps", "USPS", WebhookAdapter::Flat),
                carrier("dhl", "DHL", WebhookAdapter::Envelope),
                carrier("chitchat", "ChitChat", WebhookAdapter::Flat),
                carrier("canadapost", "Canada Post", WebhookAdapter::Envelope),
            ]),
        }
    }
}

/// The SMS gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SmsConfig {
    pub base_url: String,
    /// Sent as a Bearer token.
    pub api_key: Secret,
    /// Sender name shown on the handset.
    pub sender_id: String,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            base_url: SIMULATOR_URL.into(),
            api_key: "sim_sms_key".into(),
            sender_id: "sagaflow".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// One partner that receives signed webhooks.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PartnerConfig {
    pub url: String,
    /// Key of the outbound `X-Signature: t=…,v1=…` HMAC.
    pub secret: Secret,
}

/// Outbound partner webhooks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PartnerWebhooksConfig {
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    pub user_agent: String,
    /// Partners by name (`t2mobile`).
    pub partners: BTreeMap<String, PartnerConfig>,
    /// `[providers.partner_webhooks.limits]`.
    pub limits: LimitsConfig,
}

impl Default for PartnerWebhooksConfig {
    fn default() -> Self {
        PartnerWebhooksConfig {
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
            user_agent: "sagaflow-webhooks/1".into(),
            partners: BTreeMap::from([(
                "t2mobile".to_string(),
                PartnerConfig {
                    url: format!("{SIMULATOR_URL}/partner/t2mobile/webhooks"),
                    secret: "sim_partner_secret".into(),
                },
            )]),
        }
    }
}

/// The legacy device/asset bridge that runs automations (sensor provisioning, returns).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BridgeConfig {
    pub base_url: String,
    /// Sent as a Bearer token.
    pub api_key: Secret,
    /// Default whole-request timeout; `run_automation` takes its own per call.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            base_url: SIMULATOR_URL.into(),
            api_key: "sim_bridge_key".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}

/// The legacy service that still receives the payment processor's events: every verified
/// payment webhook is forwarded to `url` through the outbox, signed with `secret`
/// (`X-Signature: t=…,v1=…`, as partner webhooks are). Off unless `enabled`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LegacyForwardConfig {
    pub enabled: bool,
    pub url: String,
    pub secret: Secret,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// `[providers.<name>.limits]`: rate, concurrency and breaker, shared across nodes.
    pub limits: LimitsConfig,
}

impl Default for LegacyForwardConfig {
    fn default() -> Self {
        LegacyForwardConfig {
            enabled: false,
            url: format!("{SIMULATOR_URL}/legacy/webhooks/payments"),
            secret: "sim_legacy_forward_secret".into(),
            timeout: ten_seconds(),
            limits: LimitsConfig::default(),
        }
    }
}
