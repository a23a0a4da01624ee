//! The end of the demo's hardware run: each order read back over HTTP and shown as one row of
//! the summary.

use std::fmt;

use sagaflow::domain::money::Minor;

use super::batch::{Checkout, HardwareBatch, PlacedOrder};

impl HardwareBatch {
    /// Reads every order back for the summary.
    pub async fn report(&self) -> anyhow::Result<HardwareReport> {
        let mut rows = Vec::with_capacity(self.orders.len());
        for order in &self.orders {
            rows.push(self.report_row(order).await?);
        }
        let overdue = match &self.unpaid_invoice {
            Some(id) => Some(self.overdue_line(id).await?),
            None => None,
        };
        Ok(HardwareReport { rows, overdue })
    }

    /// The unpaid invoice once the overdue run has flagged it (it runs every few seconds in
    /// the demo), or as it stands after a short wait.
    async fn overdue_line(&self, id: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let inv = self.get(&format!("/v1/invoices/{id}")).await?;
            let flagged = inv["overdue_at"].as_str();
            if flagged.is_some() || tokio::time::Instant::now() > deadline {
                let company = inv["company_id"].as_str().unwrap_or("-");
                let number = inv["number"].as_str().unwrap_or("-");
                let balance = Minor(inv["balance_minor"].as_i64().unwrap_or(0));
                return Ok(match flagged {
                    Some(at) => format!(
                        "overdue invoice: {number} for {company}, {balance} {} due since {}, flagged overdue at {at} (GET /v1/invoices?overdue=true, /v1/invoices/{id}.pdf)",
                        inv["currency"].as_str().unwrap_or("").to_uppercase(),
                        inv["due_at"].as_str().unwrap_or("-"),
                    ),
                    None => format!(
                        "invoice {number} for {company} is unpaid but not yet flagged overdue"
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
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
    /// The demo's unpaid manual invoice, as the overdue run left it.
    pub overdue: Option<String>,
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
        if let Some(line) = &self.overdue {
            writeln!(f, "  {line}")?;
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
