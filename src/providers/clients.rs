//! Every provider client built once from `[providers]`, for the steps to share.

use super::bridge::BridgeClient;
use super::config::ProvidersConfig;
use super::courier::CourierClient;
use super::crm::CrmClient;
use super::error::Error;
use super::ishare::IshareClient;
use super::legacy_forward::LegacyForwardClient;
use super::partner_webhooks::PartnerWebhookClient;
use super::payments::PaymentsClient;
use super::reseller::ResellerClient;
use super::sms::SmsClient;

/// All provider clients; cheap to clone (each holds a pooled `reqwest::Client`).
#[derive(Debug, Clone)]
pub struct Providers {
    pub reseller: ResellerClient,
    pub ishare: IshareClient,
    pub payments: PaymentsClient,
    pub crm: CrmClient,
    pub courier: CourierClient,
    pub sms: SmsClient,
    pub partner_webhooks: PartnerWebhookClient,
    pub bridge: BridgeClient,
    pub legacy_forward: LegacyForwardClient,
}

impl Providers {
    pub fn from_config(cfg: &ProvidersConfig) -> Result<Self, Error> {
        Ok(Providers {
            reseller: ResellerClient::new(&cfg.reseller)?,
            ishare: IshareClient::new(&cfg.ishare)?,
            payments: PaymentsClient::new(&cfg.payments)?,
            crm: CrmClient::new(&cfg.crm)?,
            courier: CourierClient::new(&cfg.courier)?,
            sms: SmsClient::new(&cfg.sms)?,
            partner_webhooks: PartnerWebhookClient::new(&cfg.partner_webhooks)?,
            bridge: BridgeClient::new(&cfg.bridge)?,
            legacy_forward: LegacyForwardClient::new(&cfg.legacy_forward)?,
        })
    }

    /// The same clients with every call passing through `gates`.
    pub fn with_gates(mut self, gates: &std::sync::Arc<super::gates::Gates>) -> Self {
        self.reseller.gate(gates);
        self.ishare.gate(gates);
        self.payments.gate(gates);
        self.crm.gate(gates);
        self.courier.gate(gates);
        self.sms.gate(gates);
        self.partner_webhooks.gate(gates);
        self.bridge.gate(gates);
        self.legacy_forward.gate(gates);
        self
    }
}
