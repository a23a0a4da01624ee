//! The CLI's HTTP client: the server URL and token from flags or `SAGAFLOW_URL` /
//! `SAGAFLOW_TOKEN`, and API errors turned into readable messages.

use anyhow::{Context, bail};
use reqwest::{Method, Response};
use serde_json::Value;

/// Where the server is and who we are.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// Base URL of a running sagaflow server.
    #[arg(
        long,
        env = "SAGAFLOW_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// API token (viewer to read, operator to act).
    #[arg(long, env = "SAGAFLOW_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(c: &Connection) -> anyhow::Result<Self> {
        let Some(token) = c.token.clone().filter(|t| !t.is_empty()) else {
            bail!("no token: pass --token or set SAGAFLOW_TOKEN");
        };
        Ok(Self {
            http: reqwest::Client::builder().build()?,
            base: c.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends a request and returns the response when it succeeded.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Response> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let msg = body["error"]["message"].as_str().unwrap_or("no details");
        let code = body["error"]["code"].as_str().unwrap_or("error");
        bail!("{status}: {code}: {msg}")
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        Ok(self.send(method, path, body).await?.json().await?)
    }
}
