//! The demo's hardware orders while they run: drafted and checked out as a buyer would, then
//! the rest of a two-part order drafted as an operator once its first shipment is delivered.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::demo::orders::Credentials;

use super::plans::{SECOND_COURIER, describe_lines, order_body, plan};

/// How an order's checkout went.
#[derive(Debug, Clone)]
pub enum Checkout {
    /// The checkout was sent and the saga started.
    Started { saga_id: Uuid },
    /// The API refused to send it (422): no saga.
    Refused { code: String, message: String },
}

/// The rest of an order shipped in two parts, drafted by the demo as an operator.
#[derive(Debug, Clone, Default)]
struct Rest {
    fulfillment_id: Option<Uuid>,
    drafted: bool,
}

/// One order the demo placed.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub order_id: Uuid,
    pub order_code: String,
    pub label: &'static str,
    pub lines: String,
    pub checkout: Checkout,
    rest: Option<Rest>,
}

/// The hardware orders of one demo run, and the HTTP client and tokens that follow them.
pub struct HardwareBatch {
    http: reqwest::Client,
    base: String,
    operator_token: String,
    pub orders: Vec<PlacedOrder>,
    /// The manual invoice left unpaid, for the overdue run to flag.
    pub(super) unpaid_invoice: Option<String>,
}

/// Places `n` hardware orders and sends their checkouts. Returns once every checkout is sent
/// or refused; the sagas run on.
pub async fn place(
    base_url: &str,
    who: &Credentials<'_>,
    n: usize,
) -> anyhow::Result<HardwareBatch> {
    let mut batch = HardwareBatch {
        http: reqwest::Client::new(),
        base: base_url.trim_end_matches('/').to_string(),
        operator_token: who.operator_token.to_string(),
        orders: Vec::with_capacity(n),
        unpaid_invoice: None,
    };
    super::directory::seed(&batch.http, &batch.base, &batch.operator_token)
        .await
        .context("recording the demo's companies")?;
    batch.unpaid_invoice = Some(
        super::directory::unpaid_invoice(&batch.http, &batch.base, &batch.operator_token)
            .await
            .context("issuing the demo's unpaid invoice")?,
    );
    let run = Uuid::now_v7().simple().to_string();
    for i in 0..n {
        let placed = batch
            .place_one(who.shop_token, &format!("demo-{run}-hardware-{i}"), i)
            .await
            .with_context(|| format!("hardware order {i}"))?;
        batch.orders.push(placed);
    }
    // Its company is the first order's: with no orders there is none to agree a price with.
    if n > 0 {
        super::agreement::seed(&batch.http, &batch.base, who.operator_token)
            .await
            .context("the demo price agreement")?;
    }
    Ok(batch)
}

/// A response's status and JSON body (`null` when it has none).
async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn uuid_at(body: &Value, key: &str) -> anyhow::Result<Uuid> {
    body[key]
        .as_str()
        .with_context(|| format!("no {key} in {body}"))?
        .parse()
        .with_context(|| format!("{key} is not a UUID in {body}"))
}

impl HardwareBatch {
    /// The sagas started, one per order whose checkout was sent.
    pub fn saga_ids(&self) -> Vec<Uuid> {
        self.orders
            .iter()
            .filter_map(|o| match o.checkout {
                Checkout::Started { saga_id } => Some(saga_id),
                Checkout::Refused { .. } => None,
            })
            .collect()
    }

    async fn place_one(
        &self,
        shop_token: &str,
        key: &str,
        i: usize,
    ) -> anyhow::Result<PlacedOrder> {
        let plan = plan(i);
        let url = format!("{}/v1/orders", self.base);
        let res = self
            .http
            .post(&url)
            .bearer_auth(shop_token)
            .header("Idempotency-Key", key)
            .json(&order_body(i, plan))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let (status, order) = answer(res).await;
        if !status.is_success() {
            bail!("POST {url} answered {status}: {order}");
        }
        let order_id = uuid_at(&order, "id")?;
        let checkout = self.send_checkout(shop_token, order_id).await?;
        Ok(PlacedOrder {
            order_id,
            order_code: order["order_code"].as_str().unwrap_or("?").to_string(),
            label: plan.label,
            lines: describe_lines(plan),
            checkout,
            rest: (!plan.initial.is_empty()).then(Rest::default),
        })
    }

    /// Sends the checkout: 202 starts the saga, 422 is the strict-pricing refusal.
    async fn send_checkout(&self, shop_token: &str, order_id: Uuid) -> anyhow::Result<Checkout> {
        let url = format!("{}/v1/orders/{order_id}/send-checkout", self.base);
        let res = self
            .http
            .post(&url)
            .bearer_auth(shop_token)
            .json(&json!({}))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        match answer(res).await {
            (StatusCode::ACCEPTED, body) => Ok(Checkout::Started {
                saga_id: uuid_at(&body, "saga_id")?,
            }),
            (StatusCode::UNPROCESSABLE_ENTITY, body) => Ok(Checkout::Refused {
                code: body["error"]["code"].as_str().unwrap_or("?").to_string(),
                message: body["error"]["message"].as_str().unwrap_or("").to_string(),
            }),
            (status, body) => bail!("POST {url} answered {status}: {body}"),
        }
    }

    /// GET as the operator; the JSON body of a 200.
    pub(super) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let res = self
            .http
            .get(&url)
            .bearer_auth(&self.operator_token)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        match answer(res).await {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => bail!("GET {url} answered {status}: {body}"),
        }
    }

    /// Drafts the rest of each two-part order once its first shipment is delivered. Called
    /// while the demo waits; does nothing for an order not that far yet.
    pub async fn ship_the_rest(&mut self) -> anyhow::Result<()> {
        for i in 0..self.orders.len() {
            let order = &self.orders[i];
            let (Some(rest), Checkout::Started { .. }) = (&order.rest, &order.checkout) else {
                continue;
            };
            if rest.drafted {
                continue;
            }
            let (order_id, known) = (order.order_id, rest.fulfillment_id);
            let Some(fulfillment_id) = self.fulfillment_of(order_id, known).await? else {
                continue;
            };
            let drafted = self.draft_rest(fulfillment_id).await?;
            if let Some(rest) = self.orders[i].rest.as_mut() {
                rest.fulfillment_id = Some(fulfillment_id);
                rest.drafted = drafted;
            }
        }
        Ok(())
    }

    /// The order's fulfilment, once it has one.
    async fn fulfillment_of(
        &self,
        order: Uuid,
        known: Option<Uuid>,
    ) -> anyhow::Result<Option<Uuid>> {
        if known.is_some() {
            return Ok(known);
        }
        let view = self.get(&format!("/v1/orders/{order}")).await?;
        if view["fulfillment_id"].is_null() {
            return Ok(None);
        }
        uuid_at(&view, "fulfillment_id").map(Some)
    }

    /// Drafts a shipment of everything not yet shipped once a first shipment is delivered;
    /// true when drafted (or when nothing is left).
    async fn draft_rest(&self, fulfillment: Uuid) -> anyhow::Result<bool> {
        let view = self.get(&format!("/v1/fulfillments/{fulfillment}")).await?;
        let delivered = view["shipments"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["status"] == "delivered"));
        if !delivered {
            return Ok(false);
        }
        let items: Vec<Value> = view["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["remaining"].as_i64().unwrap_or(0) > 0)
            .map(|i| json!({ "sku": i["sku"], "quantity": i["remaining"] }))
            .collect();
        if items.is_empty() {
            return Ok(true);
        }
        let url = format!("{}/v1/fulfillments/{fulfillment}/shipments", self.base);
        let res = self
            .http
            .post(&url)
            .bearer_auth(&self.operator_token)
            .json(&json!({ "items": items, "courier": SECOND_COURIER }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        match answer(res).await {
            (status, _) if status.is_success() => Ok(true),
            (status, body) => bail!("POST {url} answered {status}: {body}"),
        }
    }
}
