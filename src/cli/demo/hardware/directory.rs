//! The demo's company directory: two companies, each with contacts in their roles and an
//! address book whose first entry is the default for shipping and billing. Orders name the
//! companies only; the directory supplies the billing contact and the addresses. Recorded
//! through the operator's routes; a company already there (a kept database) is left as it is.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The demo's companies: id, name, legacy id, payment terms (days).
pub(super) const COMPANIES: [(&str, &str, &str, i64); 2] = [
    ("DEMO-CO-0", "Demo Sensors Ltd", "legacy-1001", 0),
    ("DEMO-CO-1", "Northwind Instruments", "legacy-1002", 30),
];

/// Contacts of company `n`: first name, last name, e-mail, roles.
fn contacts(n: usize) -> [(&'static str, &'static str, String, Vec<&'static str>); 2] {
    [
        (
            "Ada",
            "Lovelace",
            format!("ada@co{n}.demo.example"),
            vec!["billing", "executive"],
        ),
        (
            "Grace",
            "Hopper",
            format!("grace@co{n}.demo.example"),
            vec!["shipping", "operations", "technical"],
        ),
    ]
}

/// Addresses of company `n`; the first becomes the default for shipping and billing.
fn addresses(n: usize) -> [Value; 2] {
    let street = ["1 King St W", "200 Bay St"][n % 2];
    [
        json!({ "label": "Head office", "line1": street, "city": "Toronto", "region": "ON",
                "postal_code": "M5H 1A1", "country": "CA", "validation_status": "valid",
                "default_shipping": true, "default_billing": true }),
        json!({ "label": "Warehouse", "line1": "45 Industrial Rd", "city": "Mississauga",
                "region": "ON", "postal_code": "L5T 2H6", "country": "CA" }),
    ]
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let res = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = res.status();
    Ok((status, res.json().await.unwrap_or(Value::Null)))
}

/// Drafts and issues a manual invoice for the prepaid company, which nobody pays: due on
/// issue, the overdue run (every few seconds in the demo) flags it. Returns its id.
pub(super) async fn unpaid_invoice(
    http: &reqwest::Client,
    base: &str,
    operator: &str,
) -> anyhow::Result<String> {
    let (company, ..) = COMPANIES[0];
    let body = json!({
        "company_id": company,
        "lines": [
            { "description": "Site survey", "unit_amount_minor": 25_000 },
            { "description": "Installation", "quantity": 2, "unit_amount_minor": 12_500 },
        ],
        "notes": "Raised by the demo and left unpaid",
    });
    let (status, draft) = post(http, base, operator, "/v1/invoices", &body).await?;
    if status != StatusCode::CREATED {
        bail!("POST /v1/invoices answered {status}: {draft}");
    }
    let id = draft["id"]
        .as_str()
        .with_context(|| format!("no invoice id in {draft}"))?
        .to_string();
    let path = format!("/v1/invoices/{id}/issue");
    let (status, issued) = post(http, base, operator, &path, &json!({})).await?;
    if status != StatusCode::OK {
        bail!("POST {path} answered {status}: {issued}");
    }
    Ok(id)
}

/// Records the demo's companies with their contacts and addresses.
pub(super) async fn seed(http: &reqwest::Client, base: &str, operator: &str) -> anyhow::Result<()> {
    for (n, (id, name, mirror, terms)) in COMPANIES.into_iter().enumerate() {
        let company = json!({ "id": id, "name": name, "company_mirror_id": mirror,
                              "payment_terms_days": terms });
        let (status, body) = post(http, base, operator, "/v1/companies", &company).await?;
        match status {
            StatusCode::CREATED => {}
            // Seeded by an earlier run on this database.
            StatusCode::CONFLICT => continue,
            _ => bail!("POST /v1/companies answered {status}: {body}"),
        }
        for (first, last, email, roles) in contacts(n) {
            let contact =
                json!({ "first_name": first, "last_name": last, "email": email, "roles": roles });
            let path = format!("/v1/companies/{id}/contacts");
            let (status, body) = post(http, base, operator, &path, &contact).await?;
            if status != StatusCode::CREATED {
                bail!("POST {path} answered {status}: {body}");
            }
        }
        for address in addresses(n) {
            let path = format!("/v1/companies/{id}/addresses");
            let (status, body) = post(http, base, operator, &path, &address).await?;
            if status != StatusCode::CREATED {
                bail!("POST {path} answered {status}: {body}");
            }
        }
    }
    Ok(())
}
