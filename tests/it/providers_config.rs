//! Provider settings load from `config/default.toml`, match the built-in defaults, take
//! environment-style overrides, and never print a secret.

use sagaflow::Settings;
use sagaflow::providers::ProvidersConfig;
use sagaflow::providers::config::WebhookAdapter;

#[test]
fn default_toml_matches_the_built_in_defaults() {
    let loaded = Settings::defaults().expect("defaults load").providers;
    let built_in = ProvidersConfig::default();
    assert_eq!(
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(&built_in).unwrap()
    );
    assert_eq!(loaded.courier.carriers.len(), 4);
    assert_eq!(
        loaded.courier.carriers["dhl"].webhook_adapter,
        WebhookAdapter::Envelope
    );
    assert!(
        loaded
            .payments
            .base_url
            .starts_with("http://127.0.0.1:8081")
    );
}

#[test]
fn debug_redacts_every_secret() {
    let cfg = ProvidersConfig::default();
    let text = format!("{cfg:?}");
    for secret in [
        cfg.reseller.api_key.expose(),
        cfg.reseller.webhook_secret.expose(),
        cfg.ishare.api_secret.expose(),
        cfg.payments.secret_key.expose(),
        cfg.payments.webhook_secret.expose(),
        cfg.crm.access_token.expose(),
        cfg.sms.api_key.expose(),
        cfg.courier.carriers["usps"].webhook_secret.expose(),
        cfg.partner_webhooks.partners["t2mobile"].secret.expose(),
        cfg.bridge.api_key.expose(),
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(text.contains("<redacted>"));
}

#[test]
fn partial_sections_keep_their_defaults() {
    let cfg: ProvidersConfig = toml::from_str(
        r#"
        [payments]
        secret_key = "sk_test_override"
        timeout = "2s"
        "#,
    )
    .unwrap();
    assert_eq!(cfg.payments.secret_key.expose(), "sk_test_override");
    assert_eq!(cfg.payments.timeout, std::time::Duration::from_secs(2));
    assert_eq!(cfg.payments.webhook_secret.expose(), "whsec_simulator");
    assert_eq!(cfg.reseller.api_key.expose(), "sim_reseller_key");
}
