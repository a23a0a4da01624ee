//! `sagaflow sagas list|show|retry|resume|cancel|bulk|export`: the ops API from a terminal.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection};
use super::render;

#[derive(Debug, clap::Args)]
pub struct SagasArgs {
    #[command(flatten)]
    pub conn: Connection,
    #[command(subcommand)]
    pub command: SagasCommand,
}

/// The search filters every listing command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    #[arg(long)]
    pub workflow: Option<String>,
    /// One status or several, comma-separated (failed,parked = needs attention).
    #[arg(long)]
    pub status: Option<String>,
    /// Business key, order code or partner orderId.
    #[arg(long)]
    pub key: Option<String>,
    /// Phone number in any usual form.
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub network: Option<String>,
    /// Created at or after (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Created before (RFC 3339 or YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// The step currently running.
    #[arg(long)]
    pub step: Option<String>,
    /// The last error's code.
    #[arg(long)]
    pub error_code: Option<String>,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("workflow", &self.workflow),
            ("status", &self.status),
            ("business_key", &self.key),
            ("phone", &self.phone),
            ("network", &self.network),
            ("created_from", &self.from),
            ("created_to", &self.to),
            ("step", &self.step),
            ("error_code", &self.error_code),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }

    fn json(&self) -> Value {
        Value::Object(
            self.pairs()
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect(),
        )
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SagasCommand {
    /// List sagas as a table.
    List {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// `oldest` for oldest first.
        #[arg(long)]
        order: Option<String>,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Print the raw JSON page.
        #[arg(long)]
        json: bool,
    },
    /// Show one saga: its state and its history as a timeline.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Retry a saga's current step (or compensation).
    Retry {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a parked or failed saga after fixing it by hand.
    Resume {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Cancel a saga, compensating what it did.
    Cancel {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Act on many sagas through a server-side job, with a progress bar.
    Bulk {
        /// retry, resume or cancel.
        action: String,
        #[command(flatten)]
        filters: Filters,
        /// Exact saga ids instead of filters (repeatable).
        #[arg(long = "id")]
        ids: Vec<String>,
        #[arg(long)]
        reason: String,
        /// Only print what would be touched.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stream the matching sagas as CSV to standard output.
    Export {
        #[command(flatten)]
        filters: Filters,
        /// CSV is the only format; the flag makes scripts read clearly.
        #[arg(long, default_value_t = true)]
        csv: bool,
    },
}

pub async fn sagas(args: SagasArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.conn)?;
    match args.command {
        SagasCommand::List {
            filters,
            limit,
            order,
            cursor,
            json,
        } => {
            let mut q = filters.pairs();
            q.push(("limit", limit.to_string()));
            if let Some(o) = order {
                q.push(("order", o));
            }
            if let Some(c) = cursor {
                q.push(("cursor", c));
            }
            let page = client
                .json(
                    Method::GET,
                    &format!("/v1/sagas?{}", serde_urlencoded::to_string(&q)?),
                    None,
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                let items = page["items"].as_array().cloned().unwrap_or_default();
                println!("{}", render::saga_table(&items));
                if let Some(c) = page["next_cursor"].as_str() {
                    println!("more: --cursor {c}");
                }
            }
        }
        SagasCommand::Show { id, json } => {
            let saga = client
                .json(Method::GET, &format!("/v1/sagas/{id}"), None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&saga)?);
            } else {
                print!("{}", render::saga_detail(&saga));
            }
        }
        SagasCommand::Retry { id, reason } => act(&client, &id, "retry", &reason).await?,
        SagasCommand::Resume { id, reason } => act(&client, &id, "resume", &reason).await?,
        SagasCommand::Cancel { id, reason } => act(&client, &id, "cancel", &reason).await?,
        SagasCommand::Bulk {
            action,
            filters,
            ids,
            reason,
            dry_run,
        } => {
            let mut body = json!({ "action": action, "reason": reason, "dry_run": dry_run });
            if ids.is_empty() {
                body["filter"] = filters.json();
            } else {
                body["ids"] = json!(ids);
            }
            let res = client
                .json(Method::POST, "/v1/sagas/bulk", Some(&body))
                .await?;
            if dry_run {
                println!("would {action} {} saga(s):", res["total"]);
                for id in res["ids"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    println!("  {}", id.as_str().unwrap_or_default());
                }
            } else {
                let job = res["job_id"]
                    .as_str()
                    .context("the server returned no job id")?
                    .to_string();
                watch(&client, &job).await?;
            }
        }
        SagasCommand::Export { filters, .. } => {
            let res = client
                .send(
                    Method::GET,
                    &format!(
                        "/v1/sagas/export.csv?{}",
                        serde_urlencoded::to_string(filters.pairs())?
                    ),
                    None,
                )
                .await?;
            let mut res = res;
            let mut out = std::io::stdout();
            while let Some(chunk) = res.chunk().await? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn act(client: &Client, id: &str, action: &str, reason: &str) -> anyhow::Result<()> {
    let res = client
        .json(
            Method::POST,
            &format!("/v1/sagas/{id}/{action}"),
            Some(&json!({ "reason": reason })),
        )
        .await?;
    println!(
        "{action}: saga {id} is now {}",
        res["status"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// Polls a bulk job until it finishes, drawing its progress.
async fn watch(client: &Client, job: &str) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let p = client
            .json(Method::GET, &format!("/v1/jobs/{job}"), None)
            .await?;
        let total = p["total"].as_u64().unwrap_or(0);
        let done = p["done"].as_u64().unwrap_or(0);
        let failed = p["failed"].as_u64().unwrap_or(0);
        bar.set_length(total);
        bar.set_position(done + failed);
        bar.set_message(format!("{done} done, {failed} failed"));
        if p["status"] == "completed" || p["status"] == "failed" || done + failed >= total {
            bar.finish();
            println!("job {job}: {done} done, {failed} failed of {total}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
