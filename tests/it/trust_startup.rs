//! `serve` refuses unsafe defaults outside dev mode: the simulator's credentials on a real
//! provider URL, and a public bind with no API token. The error names every key to set.

use tokio_util::sync::CancellationToken;

use sagaflow::app::{Error, Role};

use crate::support;

async fn serve(settings: sagaflow::config::Settings) -> Result<(), Error> {
    let t = support::app_with(settings, |_| {}).await;
    let stop = CancellationToken::new();
    stop.cancel();
    t.app.serve(Role::Api, stop).await
}

#[tokio::test]
async fn production_start_up_refuses_simulator_secrets_and_an_open_public_bind() {
    let mut settings = support::settings().await;
    settings.providers.payments.base_url = "https://api.stripe.com".into();
    settings
        .providers
        .courier
        .carriers
        .get_mut("dhl")
        .unwrap()
        .base_url = "https://express.api.dhl.com".into();
    settings.server.bind = "0.0.0.0:0".into();
    let tokens = std::mem::take(&mut settings.auth.tokens);
    let err = serve(settings.clone()).await.expect_err("refused");
    let Error::Unsafe(keys) = &err else {
        panic!("{err}");
    };
    assert_eq!(
        keys,
        &[
            "providers.payments.secret_key",
            "providers.payments.webhook_secret",
            "providers.courier.carriers.dhl.api_key",
            "providers.courier.carriers.dhl.webhook_secret",
            "auth.tokens",
        ]
    );
    assert!(
        err.to_string()
            .contains("providers.payments.webhook_secret"),
        "{err}"
    );

    // Real credentials and a token: it serves.
    let mut fixed = settings.clone();
    fixed.providers.payments.secret_key = "sk_live_real".into();
    fixed.providers.payments.webhook_secret = "whsec_real".into();
    let dhl = fixed.providers.courier.carriers.get_mut("dhl").unwrap();
    dhl.api_key = "dhl-key".into();
    dhl.webhook_secret = "dhl-secret".into();
    fixed.auth.tokens = tokens;
    serve(fixed).await.expect("safe settings serve");

    // Dev mode allows both.
    let mut dev = settings;
    dev.server.dev_mode = true;
    serve(dev).await.expect("dev mode serves");
}

#[tokio::test]
async fn the_simulator_on_loopback_needs_nothing_set() {
    let mut settings = support::settings().await;
    settings.auth.tokens.clear();
    serve(settings)
        .await
        .expect("a developer's loopback node serves");
}
