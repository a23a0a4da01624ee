//! `sagaflow demo`: the provider simulator, a full node (API, worker, scheduler, outbox relay)
//! and a batch of sagas that take every path — success, retry, wait for a signal,
//! compensation, park and a failed undo — started over HTTP, with a progress bar and a
//! summary per workflow. Hardware orders (`hardware/` here) run beside them: paid and
//! shipped by the simulator, one in two shipments, one refused at checkout.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use sagaflow::app::{App, Role};
use sagaflow::config::{Settings, TokenEntry};
use sagaflow::embedded::EmbeddedPostgres;
use sagaflow::simulator::ConfigPatch;
mod hardware;
mod orders;

use hardware as demo_hardware;
use hardware::HardwareReport;
use orders::{Credentials, start_batch};

/// The simulator-only partner API key configured for the demo partner account.
const DEMO_PARTNER_KEY: &str = "sim_partner_api_key";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many sagas to start.
    #[arg(long, default_value_t = 60)]
    pub sagas: usize,
    /// How many data-bundle and partner orders to place besides.
    #[arg(long, default_value_t = 20)]
    pub orders: usize,
    /// How many hardware orders to place: most run end to end, one has two lines, one ships
    /// in two parts and one is refused at checkout for an unsynced price.
    #[arg(long, default_value_t = 6)]
    pub hardware: usize,
    /// Give up waiting after this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Stop after the batch and its summary, instead of serving the console until Ctrl-C.
    #[arg(long)]
    pub exit_after_batch: bool,
    /// Without DATABASE_URL the demo runs on a private PostgreSQL of its own, in a fresh
    /// temporary directory removed afterwards; this directory is used (and kept) instead.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Keep the private cluster's directory after the demo (its path is printed).
    #[arg(long)]
    pub keep: bool,
}

/// The demo's own database when DATABASE_URL is not set: a private cluster, stopped when the
/// demo ends and its directory removed unless kept.
struct Private {
    cluster: Option<EmbeddedPostgres>,
    dir: std::path::PathBuf,
    remove: bool,
}

impl Private {
    async fn start(args: &DemoArgs) -> anyhow::Result<Self> {
        let (dir, remove) = match &args.data_dir {
            Some(dir) => (dir.clone(), false),
            None => (
                std::env::temp_dir().join(format!("sagaflow-demo-{:016x}", rand::random::<u64>())),
                !args.keep,
            ),
        };
        let cluster = sagaflow::embedded::start_with_database(&dir, "sagaflow").await?;
        Ok(Self {
            cluster: Some(cluster),
            dir,
            remove,
        })
    }

    fn url(&self) -> String {
        self.cluster
            .as_ref()
            .map(|c| c.url("sagaflow"))
            .unwrap_or_default()
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        drop(self.cluster.take()); // stops the server before its directory goes
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            println!(
                "the demo's PostgreSQL data is kept in {}",
                self.dir.display()
            );
        }
    }
}

/// One kind of saga the demo starts: a workflow, an input script and what the demo expects.
struct Scenario {
    workflow: &'static str,
    input: Value,
    /// Signal to send once the saga waits for it.
    signal: Option<&'static str>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            workflow: "sample_six",
            input: json!({}),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "reserve": { "fail_times": 1 } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "wait": true } } }),
            signal: Some(sagaflow::families::sample::DELIVERED),
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "fail": "permanent" } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample_park",
            input: json!({ "steps": { "inspect": { "fail": "park" } } }),
            signal: None,
        },
        Scenario {
            workflow: "sample",
            input: json!({ "steps": { "deliver": { "fail": "permanent" } }, "compensations": { "reserve": { "fail": "permanent" } } }),
            signal: None,
        },
    ]
}

const SETTLED: &[&str] = &["completed", "compensated", "cancelled", "failed", "parked"];

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let sim = sagaflow::simulator::start(sagaflow::simulator::SimulatorConfig::default())
        .await
        .context("starting the provider simulator")?;
    let mut settings = Settings::load().context("loading settings")?;
    let private = if std::env::var_os("DATABASE_URL").is_none() {
        let private = Private::start(&args).await?;
        settings.database.url = private.url();
        Some(private)
    } else {
        None
    };
    settings.providers = sim.providers_config();
    // The simulated processor charges the synced price-book prices and refuses other ids.
    sim.configure(ConfigPatch {
        prices: demo_hardware::simulator_prices(
            &settings
                .section::<sagaflow::families::hardware::HardwareSettings>("hardware")?
                .price_book,
        ),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("configuring the simulator's prices: {e}"))?;
    // Tokens for this run only: a shop that starts sagas and an operator that watches them.
    let shop_token = format!("demo-shop-{:032x}", rand::random::<u128>());
    let operator_token = format!("demo-operator-{:032x}", rand::random::<u128>());
    for (name, role, token) in [
        ("demo-shop", "service", &shop_token),
        ("demo-operator", "operator", &operator_token),
    ] {
        settings.auth.tokens.push(TokenEntry {
            name: name.into(),
            role: role.into(),
            sha256: sagaflow::api::auth::hash_token(token),
        });
    }
    settings.worker.poll_interval = Duration::from_millis(100);
    // The daily overdue run every five seconds, so the demo's unpaid invoice shows flagged.
    settings.cron.insert(
        "invoice_overdue".into(),
        sagaflow::config::CronJob {
            schedule: "*/5 * * * * *".into(),
            workflow: "invoice_overdue".into(),
            input: Value::Null,
        },
    );
    let app = App::build(settings)
        .await
        .context("starting sagaflow (is PostgreSQL up? scripts/demo starts it)")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    sim.set_webhook_base(&format!("{base}/v1/webhooks"));
    let shutdown = CancellationToken::new();
    let node = tokio::spawn(app.serve_on(Some(listener), Role::All, shutdown.clone()));
    println!(
        "sagaflow demo: API on {base}, simulator on {}",
        sim.base_url()
    );
    println!("console: {base}/ui  (operator token for this run: {operator_token})");

    let http = reqwest::Client::new();
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let kinds = scenarios();
    let mut started = Vec::with_capacity(args.sagas);
    for i in 0..args.sagas {
        let s = &kinds[i % kinds.len()];
        let res = http
            .post(format!("{base}/v1/sagas"))
            .bearer_auth(&shop_token)
            .header("Idempotency-Key", format!("demo-{run_id}-{i}"))
            .json(&json!({ "workflow": s.workflow, "input": s.input, "business_key": format!("demo-{i}") }))
            .send()
            .await?;
        if res.status() != reqwest::StatusCode::ACCEPTED {
            bail!(
                "start failed: {} {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        let body: Value = res.json().await?;
        let id = body["saga_id"]
            .as_str()
            .context("start answered without a saga id")?
            .to_string();
        started.push((id, Some(i % kinds.len())));
    }
    let who = Credentials {
        shop_token: &shop_token,
        operator_token: &operator_token,
        partner_key: DEMO_PARTNER_KEY,
    };
    for id in start_batch(&base, &who, args.orders)
        .await
        .context("placing the demo orders")?
    {
        started.push((id.to_string(), None));
    }
    let mut hardware = demo_hardware::place(&base, &who, args.hardware)
        .await
        .context("placing the demo hardware orders")?;
    started.extend(hardware.saga_ids().iter().map(|id| (id.to_string(), None)));

    let bar = ProgressBar::new(started.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} settled {msg}",
    )?);
    let deadline = Instant::now() + args.timeout;
    let mut finished: BTreeMap<String, Value> = BTreeMap::new();
    let mut signalled = std::collections::HashSet::new();
    while finished.len() < started.len() {
        if Instant::now() > deadline {
            bar.abandon_with_message("timed out");
            break;
        }
        for (id, kind) in &started {
            if finished.contains_key(id) {
                continue;
            }
            let saga: Value = http
                .get(format!("{base}/v1/sagas/{id}"))
                .bearer_auth(&operator_token)
                .send()
                .await?
                .json()
                .await?;
            let status = saga["status"].as_str().unwrap_or_default();
            if let (Some(signal), "waiting") = (kind.and_then(|k| kinds[k].signal), status) {
                if signalled.insert(id.clone()) {
                    http.post(format!("{base}/v1/sagas/{id}/signals/{signal}"))
                        .bearer_auth(&operator_token)
                        .header("Idempotency-Key", format!("demo-{id}"))
                        .json(&json!({ "status": "delivered", "by": "demo courier", "reason": "the demo courier delivered it" }))
                        .send()
                        .await?;
                }
            }
            if SETTLED.contains(&status) {
                finished.insert(id.clone(), saga);
                bar.inc(1);
            }
        }
        hardware
            .ship_the_rest()
            .await
            .context("shipping the rest of a hardware order")?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    let report = hardware
        .report()
        .await
        .context("reading the hardware orders back")?;
    print_summary(&started, &finished);
    print_hardware(&report);
    if !args.exit_after_batch {
        println!();
        println!("the demo keeps running until Ctrl-C:");
        println!("  console         {base}/ui");
        println!("  operator token  {operator_token}");
        tokio::signal::ctrl_c().await?;
    }
    shutdown.cancel();
    node.await??;
    drop(private);
    Ok(if finished.len() == started.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_hardware(report: &HardwareReport) {
    if !report.rows.is_empty() {
        print!("\n{report}");
    }
}

fn print_summary(started: &[(String, Option<usize>)], finished: &BTreeMap<String, Value>) {
    #[derive(Default)]
    struct Row {
        counts: BTreeMap<String, usize>,
        durations: Vec<f64>,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (id, _) in started {
        let Some(saga) = finished.get(id) else {
            *rows
                .entry("(unsettled)".into())
                .or_default()
                .counts
                .entry("unsettled".into())
                .or_default() += 1;
            continue;
        };
        let row = rows
            .entry(saga["workflow"].as_str().unwrap_or("?").to_string())
            .or_default();
        *row.counts
            .entry(saga["status"].as_str().unwrap_or("?").into())
            .or_default() += 1;
        let at = |k: &str| {
            saga[k]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
        };
        if let (Some(a), Some(b)) = (at("created_at"), at("updated_at")) {
            row.durations
                .push((b - a).num_microseconds().unwrap_or_default() as f64 / 1000.0);
        }
    }
    let cols = ["completed", "compensated", "parked", "failed", "unsettled"];
    println!(
        "\n{:<22} {:>9} {:>11} {:>7} {:>7} {:>9} {:>10} {:>10}",
        "workflow", cols[0], cols[1], cols[2], cols[3], cols[4], "p50 ms", "p99 ms"
    );
    for (workflow, mut row) in rows {
        row.durations.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if row.durations.is_empty() {
                0.0
            } else {
                row.durations[((row.durations.len() - 1) as f64 * p).round() as usize]
            }
        };
        let n = |c: &str| row.counts.get(c).copied().unwrap_or(0);
        println!(
            "{:<22} {:>9} {:>11} {:>7} {:>7} {:>9} {:>10.1} {:>10.1}",
            workflow,
            n(cols[0]),
            n(cols[1]),
            n(cols[2]),
            n(cols[3]),
            n(cols[4]),
            pct(0.5),
            pct(0.99)
        );
    }
    println!(
        "\nParked and failed sagas wait for an operator: POST /v1/sagas/{{id}}/retry|resume|cancel with a reason."
    );
}
