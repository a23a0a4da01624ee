//! What `serve` refuses to start with outside dev mode: a real provider's URL still carrying
//! the simulator's credentials (anyone who read this repository could sign its webhooks), and
//! an API bound beyond loopback with no token configured (every route would answer 401, or a
//! later token change would open it by surprise). The error names every key still to set.

use std::net::IpAddr;

use crate::config::Settings;
use crate::providers::ProvidersConfig;
use crate::providers::config::{
    BridgeConfig, CourierConfig, CrmConfig, IshareConfig, LegacyForwardConfig,
    PartnerWebhooksConfig, PaymentsConfig, ResellerConfig, SmsConfig,
};
use crate::providers::secret::Secret;

/// The settings keys to set before this node may serve on `bound` (the API's address, and
/// the metrics address if any). Empty when it is safe, or in dev mode.
pub fn unsafe_settings(settings: &Settings, bound: &[IpAddr]) -> Vec<String> {
    if settings.server.dev_mode {
        return Vec::new();
    }
    let mut keys = simulator_credentials(&settings.providers);
    if bound.iter().any(|ip| !ip.is_loopback()) && settings.auth.tokens.is_empty() {
        keys.push("auth.tokens".into());
    }
    keys
}

/// Whether a base URL is a simulator's: the simulator runs on this host, real providers never.
fn is_simulator(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Every credential still at its simulator default on a provider whose URL is not the
/// simulator's, as `providers.<section>.<key>`.
fn simulator_credentials(p: &ProvidersConfig) -> Vec<String> {
    let mut keys = Vec::new();
    let mut check = |section: &str, url: &str, secrets: &[(&str, &Secret, &Secret)]| {
        if is_simulator(url) {
            return;
        }
        for (key, set, default) in secrets {
            if set.expose() == default.expose() {
                keys.push(format!("providers.{section}.{key}"));
            }
        }
    };
    let (r, i, pay) = (
        ResellerConfig::default(),
        IshareConfig::default(),
        PaymentsConfig::default(),
    );
    check(
        "reseller",
        &p.reseller.base_url,
        &[
            ("api_key", &p.reseller.api_key, &r.api_key),
            (
                "webhook_secret",
                &p.reseller.webhook_secret,
                &r.webhook_secret,
            ),
        ],
    );
    check(
        "ishare",
        &p.ishare.base_url,
        &[
            ("api_key", &p.ishare.api_key, &i.api_key),
            ("api_secret", &p.ishare.api_secret, &i.api_secret),
            (
                "webhook_secret",
                &p.ishare.webhook_secret,
                &i.webhook_secret,
            ),
        ],
    );
    check(
        "payments",
        &p.payments.base_url,
        &[
            ("secret_key", &p.payments.secret_key, &pay.secret_key),
            (
                "webhook_secret",
                &p.payments.webhook_secret,
                &pay.webhook_secret,
            ),
        ],
    );
    let crm = CrmConfig::default();
    check(
        "crm",
        &p.crm.base_url,
        &[("access_token", &p.crm.access_token, &crm.access_token)],
    );
    let sms = SmsConfig::default();
    check(
        "sms",
        &p.sms.base_url,
        &[("api_key", &p.sms.api_key, &sms.api_key)],
    );
    let bridge = BridgeConfig::default();
    check(
        "bridge",
        &p.bridge.base_url,
        &[("api_key", &p.bridge.api_key, &bridge.api_key)],
    );
    // Forwarding off sends nothing, so its secret does not matter.
    if p.legacy_forward.enabled {
        let forward = LegacyForwardConfig::default();
        check(
            "legacy_forward",
            &p.legacy_forward.url,
            &[("secret", &p.legacy_forward.secret, &forward.secret)],
        );
    }
    let couriers = CourierConfig::default();
    for (code, carrier) in &p.courier.carriers {
        // A carrier added in config has no simulator default: its keys are its own.
        let Some(default) = couriers.carriers.get(code) else {
            continue;
        };
        check(
            &format!("courier.carriers.{code}"),
            &carrier.base_url,
            &[
                ("api_key", &carrier.api_key, &default.api_key),
                (
                    "webhook_secret",
                    &carrier.webhook_secret,
                    &default.webhook_secret,
                ),
            ],
        );
    }
    let partners = PartnerWebhooksConfig::default();
    for (name, partner) in &p.partner_webhooks.partners {
        let Some(default) = partners.partners.get(name) else {
            continue;
        };
        check(
            &format!("partner_webhooks.partners.{name}"),
            &partner.url,
            &[("secret", &partner.secret, &default.secret)],
        );
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_urls_are_loopback_ones() {
        assert!(is_simulator("http://127.0.0.1:8081"));
        assert!(is_simulator("http://localhost:9/x"));
        assert!(is_simulator("http://[::1]:8081"));
        assert!(!is_simulator("https://api.stripe.com"));
        assert!(!is_simulator("http://10.0.0.5:8081"));
        assert!(!is_simulator("not a url"));
    }
}
