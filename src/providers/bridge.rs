//! The legacy device/asset bridge: runs one named automation (sensor provisioning, replacement,
//! return) for an order line; JSON with a Bearer key and an `Idempotency-Key`, with a timeout
//! per call because automations differ widely in how long they take. It also serves the
//! legacy system's companies, assets and devices, read page by page, which the legacy mirrors
//! copy.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::BridgeConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::transport::{JSON, Transport};
use crate::domain::legacy::{Entity, LegacyRecord};

/// Records per page when listing a legacy collection.
pub const PAGE_SIZE: usize = 100;

/// One page of a legacy collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordPage {
    pub records: Vec<LegacyRecord>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The most pages one listing reads, so a bridge that keeps answering with a cursor cannot keep
/// a step running for ever.
const MAX_PAGES: usize = 1000;

/// One automation to run. The whole struct is the request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationRequest {
    /// Our reference, also sent as the `Idempotency-Key`: the same reference runs once.
    pub reference: String,
    /// `sensor_vendor_first_time`, `sensor_partner_first_time`, `sensor_vendor_replacement`,
    /// `sensor_partner_replacement` or `sensor_return`.
    pub scenario: String,
    pub order_id: String,
    pub sku: String,
    pub quantity: i32,
    /// Scenario-specific details, passed through as they are.
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// What the bridge answers for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationResult {
    pub id: String,
    /// `completed`.
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}

/// Client of the device/asset bridge.
#[derive(Debug, Clone)]
pub struct BridgeClient {
    transport: Transport,
    api_key: String,
}

impl BridgeClient {
    pub fn new(cfg: &BridgeConfig) -> Result<Self, Error> {
        let transport =
            Transport::new("bridge", &cfg.base_url, cfg.timeout, [cfg.api_key.expose()])?;
        Ok(BridgeClient {
            transport,
            api_key: cfg.api_key.expose().to_string(),
        })
    }

    /// `POST /bridge/v1/automations` with `Idempotency-Key: <reference>`. `timeout` bounds this
    /// call (it replaces the section's `timeout`); running out of it is a retryable
    /// [`Error::Timeout`] whose outcome is unknown.
    pub async fn run_automation(
        &self,
        req: &AutomationRequest,
        timeout: Duration,
    ) -> Attempt<AutomationResult> {
        let body = match serde_json::to_string(req) {
            Ok(body) => body,
            Err(e) => {
                return Attempt::local("bridge", "run_automation", Error::Config(e.to_string()));
            }
        };
        let key = req.reference.as_str();
        let mut attempt = self
            .transport
            .call(
                "run_automation",
                Method::POST,
                "/bridge/v1/automations",
                Some((body, JSON)),
                Some(key),
                |b| {
                    b.bearer_auth(&self.api_key)
                        .header("Idempotency-Key", key)
                        .timeout(timeout)
                },
            )
            .await;
        // The transport names its own configured timeout; this call ran under its own.
        if let Err(Error::Timeout { after, .. }) = &mut attempt.result {
            *after = timeout;
        }
        attempt
    }

    /// `GET /bridge/v1/{collection}?limit=&cursor=`: one page.
    pub async fn list_page(&self, entity: Entity, cursor: Option<&str>) -> Attempt<RecordPage> {
        let mut query = vec![("limit", PAGE_SIZE.to_string())];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        let path = format!(
            "/bridge/v1/{}?{}",
            entity.collection(),
            serde_urlencoded::to_string(&query).unwrap_or_default()
        );
        self.transport
            .call("list_records", Method::GET, &path, None, None, |b| {
                b.bearer_auth(&self.api_key)
            })
            .await
    }

    /// Every record of a collection, page by page; the first failed page is the error.
    pub async fn list_all(&self, entity: Entity) -> Result<Vec<LegacyRecord>, Error> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.list_page(entity, cursor.as_deref()).await.result?;
            out.extend(page.records);
            match page.next_cursor.filter(|c| !c.is_empty()) {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
        Err(Error::UnknownOutcome {
            provider: "bridge",
            message: format!(
                "the {} listing did not end after {MAX_PAGES} pages",
                entity.collection()
            ),
        })
    }

    /// `GET /bridge/v1/{collection}/{id}`: `None` when the bridge holds no such record.
    pub async fn get_record(
        &self,
        entity: Entity,
        id: &str,
    ) -> Result<Option<LegacyRecord>, Error> {
        let path = format!(
            "/bridge/v1/{}/{}",
            entity.collection(),
            super::ishare::encode_segment(id)
        );
        match self
            .transport
            .call("get_record", Method::GET, &path, None, None, |b| {
                b.bearer_auth(&self.api_key)
            })
            .await
            .result
        {
            Ok(record) => Ok(Some(record)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl BridgeClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
