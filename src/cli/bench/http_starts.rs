//! Starts over HTTP for the end-to-end run: this node's own router served on a local port,
//! called by keep-alive clients holding a service token made up for the run.

use anyhow::{Context, bail};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use sagaflow::api::auth::hash_token;
use sagaflow::config::{Settings, TokenEntry};

/// The token the bench's clients start sagas with, added to the settings before the app is
/// built; random per run, and only ever valid on the bench's scratch node.
pub(super) fn add_service_token(settings: &mut Settings) -> String {
    let token = format!("bench-{:032x}", rand::random::<u128>());
    settings.auth.tokens.push(TokenEntry {
        name: "bench".into(),
        role: "service".into(),
        sha256: hash_token(&token),
    });
    token
}

/// One client's way to `POST /v1/sagas`; each clone is given its own keep-alive connection
/// pool, as separate callers would have.
pub(super) struct HttpStarter {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Clone for HttpStarter {
    fn clone(&self) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: self.url.clone(),
            token: self.token.clone(),
        }
    }
}

impl HttpStarter {
    pub(super) async fn start(&self, workflow: &str, key: &str) -> anyhow::Result<()> {
        let resp = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({ "workflow": workflow, "input": {}, "business_key": key }))
            .send()
            .await
            .context("POST /v1/sagas")?;
        let status = resp.status();
        if status != reqwest::StatusCode::ACCEPTED {
            let body = resp.text().await.unwrap_or_default();
            bail!("POST /v1/sagas answered {status}: {body}");
        }
        Ok(())
    }
}

/// Serves `router` on 127.0.0.1 at a free port until `stop`; returns a starter aimed at it.
pub(super) async fn serve_api(
    router: axum::Router,
    token: String,
    stop: CancellationToken,
) -> anyhow::Result<HttpStarter> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(HttpStarter {
        client: reqwest::Client::new(),
        url: format!("http://{addr}/v1/sagas"),
        token,
    })
}
