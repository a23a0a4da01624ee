//! Hardware orders for `sagaflow demo`, placed over HTTP as a buyer and an operator would: most
//! run end to end, one has two lines, one ships in two parts and one is refused at checkout
//! for an unsynced price.
//!
//! A service token drafts each order (`POST /v1/orders`) and sends its checkout
//! (`POST /v1/orders/{id}/send-checkout`); the simulator pays the checkout and moves parcels
//! by itself. An order whose `initial_shipment` covers only part of it waits for an operator:
//! once its first shipment is delivered, the demo drafts the rest with an operator token
//! (`POST /v1/fulfillments/{id}/shipments`). [`HardwareBatch::report`] reads each order back.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::orders::Credentials;
use sagaflow::domain::money::Minor;
use sagaflow::families::hardware::store::PriceSeed;

/// `(sku, quantity, scenario)` of an order line.
type Line = (&'static str, i32, &'static str);

/// One kind of order the demo places.
struct Plan {
    /// What the order shows, for the summary.
    label: &'static str,
    lines: &'static [Line],
    /// `(sku, quantity)` booked first; empty ships everything at once.
    initial: &'static [(&'static str, i32)],
    courier: &'static str,
}

/// Orders that run end to end with one line, taken in turn.
const SINGLE: &[Plan] = &[
    Plan {
        label: "one line",
        lines: &[("SENSOR-T1", 2, "sensor_vendor_first_time")],
        initial: &[],
        courier: "dhl",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-H2", 3, "sensor_partner_first_time")],
        initial: &[],
        courier: "usps",
    },
    Plan {
        label: "one line",
        lines: &[("GATEWAY-G1", 1, "sensor_vendor_replacement")],
        initial: &[],
        courier: "chitchat",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-T1", 1, "sensor_partner_replacement")],
        initial: &[],
        courier: "canadapost",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-H2", 2, "sensor_return")],
        initial: &[],
        courier: "dhl",
    },
];

const TWO_LINES: Plan = Plan {
    label: "two lines",
    lines: &[
        ("SENSOR-T1", 3, "sensor_vendor_first_time"),
        ("GATEWAY-G1", 1, "sensor_partner_first_time"),
    ],
    initial: &[],
    courier: "dhl",
};

const IN_TWO_PARTS: Plan = Plan {
    label: "two shipments",
    lines: &[("SENSOR-T1", 5, "sensor_vendor_replacement")],
    initial: &[("SENSOR-T1", 2)],
    courier: "usps",
};

/// SENSOR-X9's processor price is not synced: strict pricing refuses the checkout.
const UNSYNCED: Plan = Plan {
    label: "unsynced price",
    lines: &[("SENSOR-X9", 2, "sensor_return")],
    initial: &[],
    courier: "dhl",
};

/// The courier the rest of a two-part order goes with.
const SECOND_COURIER: &str = "canadapost";

/// The `i`th order of a batch: the special ones early so a small batch still shows them, the
/// one-line ones in turn around them.
fn plan(i: usize) -> &'static Plan {
    match i {
        1 => &TWO_LINES,
        2 => &IN_TWO_PARTS,
        3 => &UNSYNCED,
        _ => &SINGLE[i.saturating_sub(3) % SINGLE.len()],
    }
}

/// What the simulated processor charges per price id: every synced price-book entry at its
/// amount, so a checkout is charged what the order says (and an unsynced id is refused).
pub fn simulator_prices(book: &[PriceSeed]) -> BTreeMap<String, Option<i64>> {
    book.iter()
        .filter(|e| e.synced)
        .filter_map(|e| {
            let id = e.processor_price_id.clone()?;
            let amount = Minor::from_major(e.unit_amount)?;
            Some((id, Some(amount.0)))
        })
        .collect()
}

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
    };
    let run = Uuid::now_v7().simple().to_string();
    for i in 0..n {
        let placed = batch
            .place_one(who.shop_token, &format!("demo-{run}-hardware-{i}"), i)
            .await
            .with_context(|| format!("hardware order {i}"))?;
        batch.orders.push(placed);
    }
    Ok(batch)
}

/// The body of `POST /v1/orders` for the `i`th order.
fn order_body(i: usize, plan: &Plan) -> Value {
    let address = json!({
        "line1": "1 King St W", "city": "Toronto", "region": "ON",
        "postal_code": "M5H 1A1", "country": "CA",
    });
    let company = i % 3;
    let mut body = json!({
        "company": { "id": format!("DEMO-CO-{company}"), "name": format!("Demo Sensors {company}") },
        "billing_contact": { "name": "Ada Lovelace", "email": "ada@demo.example" },
        "billing_address": address,
        "shipping_address": address,
        "region": "CA",
        "currency": "usd",
        "courier": plan.courier,
        "lines": plan.lines.iter()
            .map(|(sku, quantity, scenario)| json!({ "sku": sku, "quantity": quantity, "scenario": scenario }))
            .collect::<Vec<_>>(),
    });
    if !plan.initial.is_empty() {
        body["initial_shipment"] = plan
            .initial
            .iter()
            .map(|(sku, quantity)| json!({ "sku": sku, "quantity": quantity }))
            .collect();
    }
    body
}

/// `2× SENSOR-T1, 1× GATEWAY-G1`.
fn describe_lines(plan: &Plan) -> String {
    plan.lines
        .iter()
        .map(|(sku, quantity, _)| format!("{quantity}× {sku}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    async fn get(&self, path: &str) -> anyhow::Result<Value> {
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

    /// Reads every order back for the summary.
    pub async fn report(&self) -> anyhow::Result<HardwareReport> {
        let mut rows = Vec::with_capacity(self.orders.len());
        for order in &self.orders {
            rows.push(self.report_row(order).await?);
        }
        Ok(HardwareReport { rows })
    }

    async fn report_row(&self, order: &PlacedOrder) -> anyhow::Result<ReportRow> {
        let view = self.get(&format!("/v1/orders/{}", order.order_id)).await?;
        let shipments = match view["fulfillment_id"].as_str() {
            Some(f) => self.get(&format!("/v1/fulfillments/{f}")).await?["shipments"]
                .as_array()
                .map_or(0, Vec::len),
            None => 0,
        };
        let steps = view["automation_steps"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let text = |k: &str| view[k].as_str().unwrap_or("-").to_string();
        Ok(ReportRow {
            order_code: view["order_code"]
                .as_str()
                .unwrap_or(&order.order_code)
                .to_string(),
            label: order.label,
            lines: order.lines.clone(),
            checkout: order.checkout.clone(),
            saga_status: text("saga_status"),
            payment_status: text("payment_status"),
            fulfillment_status: text("fulfillment_status"),
            shipments,
            automation_done: steps.iter().filter(|s| s["status"] == "succeeded").count(),
            automation_steps: steps.len(),
            invoice_number: view["invoice_number"].as_str().map(str::to_string),
            invoice_status: text("invoice_status"),
            balance_minor: view["balance_minor"].as_i64().unwrap_or(0),
        })
    }
}

/// One order as it ended.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub order_code: String,
    pub label: &'static str,
    pub lines: String,
    pub checkout: Checkout,
    pub saga_status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub shipments: usize,
    pub automation_done: usize,
    pub automation_steps: usize,
    pub invoice_number: Option<String>,
    pub invoice_status: String,
    pub balance_minor: i64,
}

/// The hardware orders of a demo run as they ended.
#[derive(Debug, Clone)]
pub struct HardwareReport {
    pub rows: Vec<ReportRow>,
}

impl HardwareReport {
    /// Orders whose saga completed.
    pub fn completed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.saga_status == "completed")
            .count()
    }

    /// Checkouts refused, with no saga.
    pub fn refused(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.checkout, Checkout::Refused { .. }))
            .count()
    }

    /// Invoice numbers issued, in order.
    pub fn invoices(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter_map(|r| r.invoice_number.as_deref())
            .collect()
    }
}

impl fmt::Display for HardwareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent = self.rows.len() - self.refused();
        writeln!(
            f,
            "hardware orders: {} placed, {sent} checked out, {} completed, {} checkout refused",
            self.rows.len(),
            self.completed(),
            self.refused()
        )?;
        writeln!(
            f,
            "  {:<20} {:<15} {:<28} {:<10} {:<8} {:<18} {:>5} {:>6}  invoice",
            "order", "kind", "lines", "saga", "payment", "fulfilment", "ships", "autom."
        )?;
        for row in &self.rows {
            write_row(f, row)?;
        }
        let invoices = self.invoices();
        if !invoices.is_empty() {
            writeln!(f, "  invoices issued: {}", invoices.join(", "))?;
        }
        Ok(())
    }
}

fn write_row(f: &mut fmt::Formatter<'_>, row: &ReportRow) -> fmt::Result {
    let head = format!(
        "  {:<20} {:<15} {:<28}",
        row.order_code, row.label, row.lines
    );
    if let Checkout::Refused { code, message } = &row.checkout {
        return writeln!(f, "{head} checkout refused (422 {code}): {message}");
    }
    let invoice = match &row.invoice_number {
        Some(n) => format!(
            "{n} ({}, balance {})",
            row.invoice_status,
            Minor(row.balance_minor)
        ),
        None => "-".into(),
    };
    writeln!(
        f,
        "{head} {:<10} {:<8} {:<18} {:>5} {:>6}  {invoice}",
        row.saga_status,
        row.payment_status,
        row.fulfillment_status,
        row.shipments,
        format!("{}/{}", row.automation_done, row.automation_steps),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_batch_of_six_shows_every_kind_and_mostly_completes() {
        let labels: Vec<_> = (0..6).map(|i| plan(i).label).collect();
        assert_eq!(
            labels,
            [
                "one line",
                "two lines",
                "two shipments",
                "unsynced price",
                "one line",
                "one line"
            ]
        );
        // One-line orders take turns: a different scenario each.
        let scenarios: BTreeSet<_> = [0, 4, 5, 6, 7].map(|i| plan(i).lines[0].2).into();
        assert_eq!(scenarios.len(), 5);
        // The two-part order ships part of its only line first.
        let body = order_body(2, plan(2));
        assert_eq!(body["initial_shipment"][0]["quantity"], 2);
        assert_eq!(body["lines"][0]["quantity"], 5);
        assert!(order_body(0, plan(0)).get("initial_shipment").is_none());
    }

    #[test]
    fn the_simulator_charges_synced_prices_in_minor_units_only() {
        let seed = |id: &str, amount: f64, synced: bool| PriceSeed {
            id: id.into(),
            sku: "S".into(),
            name: "S".into(),
            region: None,
            currency: "usd".into(),
            unit_amount: amount,
            processor_price_id: Some(format!("price_{id}")),
            synced,
        };
        let prices = simulator_prices(&[seed("a", 159.0, true), seed("b", 229.0, false)]);
        assert_eq!(
            prices,
            BTreeMap::from([("price_a".to_string(), Some(15900))])
        );
    }
}
