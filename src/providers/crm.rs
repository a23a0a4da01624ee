//! The Zoho-style CRM: create a sales order, provision its licence (activation reference and
//! expiry date), and cancel the sales order as the compensation.

use chrono::NaiveDate;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::config::CrmConfig;
use super::error::Error;
use super::exchange::Attempt;
use super::ishare::encode_segment;
use super::transport::{JSON, Transport};

/// The customer a sales order is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// What a sales order is created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSalesOrder {
    /// The partner's order id.
    pub reference: String,
    pub customer: Customer,
    pub product_id: String,
    /// `1_MONTH`, `12_MONTHS`…
    pub tenure: String,
    pub quantity: u32,
}

/// A sales order in the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesOrder {
    pub id: String,
    /// `confirmed` or `cancelled`.
    pub status: String,
    #[serde(default)]
    pub reference: Option<String>,
}

/// A provisioned licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Licence {
    pub activation_reference: String,
    pub expires_on: NaiveDate,
    pub sales_order_id: String,
}

#[derive(Debug, Serialize)]
struct ProvisionBody<'a> {
    product_id: &'a str,
    tenure: &'a str,
}

/// Client of the CRM API.
#[derive(Debug, Clone)]
pub struct CrmClient {
    transport: Transport,
    access_token: String,
}

impl CrmClient {
    pub fn new(cfg: &CrmConfig) -> Result<Self, Error> {
        let transport = Transport::new(
            "crm",
            &cfg.base_url,
            cfg.timeout,
            [cfg.access_token.expose()],
        )?;
        Ok(CrmClient {
            transport,
            access_token: cfg.access_token.expose().to_string(),
        })
    }

    fn auth(&self, b: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
        let b = b.header(
            "Authorization",
            format!("Zoho-oauthtoken {}", self.access_token),
        );
        match key {
            Some(key) => b.header("Idempotency-Key", key),
            None => b,
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        body: Option<String>,
        idempotency_key: &str,
    ) -> Attempt<T> {
        self.transport
            .call(
                endpoint,
                Method::POST,
                path,
                Some((body.unwrap_or_else(|| "{}".into()), JSON)),
                Some(idempotency_key),
                |b| self.auth(b, Some(idempotency_key)),
            )
            .await
    }

    /// `POST /crm/v1/sales_orders`.
    pub async fn create_sales_order(
        &self,
        order: &NewSalesOrder,
        idempotency_key: &str,
    ) -> Attempt<SalesOrder> {
        match serde_json::to_string(order) {
            Ok(body) => {
                self.post(
                    "create_sales_order",
                    "/crm/v1/sales_orders",
                    Some(body),
                    idempotency_key,
                )
                .await
            }
            Err(e) => Attempt::local("crm", "create_sales_order", Error::Config(e.to_string())),
        }
    }

    /// `POST /crm/v1/sales_orders/{id}/licences`: one licence per sales order.
    pub async fn provision_licence(
        &self,
        sales_order_id: &str,
        product_id: &str,
        tenure: &str,
        idempotency_key: &str,
    ) -> Attempt<Licence> {
        let body = ProvisionBody { product_id, tenure };
        let path = format!(
            "/crm/v1/sales_orders/{}/licences",
            encode_segment(sales_order_id)
        );
        match serde_json::to_string(&body) {
            Ok(body) => {
                self.post("provision_licence", &path, Some(body), idempotency_key)
                    .await
            }
            Err(e) => Attempt::local("crm", "provision_licence", Error::Config(e.to_string())),
        }
    }

    /// `POST /crm/v1/sales_orders/{id}/cancel`; cancelling twice is not an error.
    pub async fn cancel_sales_order(
        &self,
        sales_order_id: &str,
        idempotency_key: &str,
    ) -> Attempt<SalesOrder> {
        let path = format!(
            "/crm/v1/sales_orders/{}/cancel",
            encode_segment(sales_order_id)
        );
        self.post("cancel_sales_order", &path, None, idempotency_key)
            .await
    }
}

impl CrmClient {
    /// Puts the shared provider gates in front of every call.
    pub(crate) fn gate(&mut self, gates: &std::sync::Arc<super::gates::Gates>) {
        self.transport.gates = Some(gates.clone());
    }
}
