//! `sagaflow demo`: the provider simulator, a full node (API, worker, scheduler, outbox relay)
//! and a batch of sagas that take every path — success, retry, wait for a signal,
//! compensation, park and a failed undo — started over HTTP, with a progress bar and a
//! summary per workflow. Hardware orders (`hardware/` here) run beside them: paid and
//! shipped by the simulator, one in two shipments, one refused at checkout. Then it keeps
//! serving, with a trickle of new orders, until Ctrl-C.
//!
//! It is quiet: logs go to `demo.log` in its directory (`home`), the terminal shows the
//! progress bar, the summary and once what it serves where. `-v` streams the logs instead.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use sagaflow::app::{App, Role};
use sagaflow::config::{Settings, TokenEntry};
use sagaflow::simulator::ConfigPatch;
mod hardware;
mod home;
mod orders;
mod scenarios;
mod trickle;

use hardware as demo_hardware;
use hardware::HardwareReport;
use home::{Private, State};
use orders::{Credentials, start_batch};
use scenarios::scenarios;

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
    /// While serving after the batch, start no new orders.
    #[arg(long)]
    pub no_trickle: bool,
    /// Stream the logs to the terminal instead of the log file.
    #[arg(short, long)]
    pub verbose: bool,
    /// Say whether a demo is running, what it serves where and where its files are; then exit.
    #[arg(long)]
    pub status: bool,
    /// The demo's directory: its log, its state and, without DATABASE_URL, its private
    /// PostgreSQL. Default: `$XDG_DATA_HOME/sagaflow/demo` (`~/.local/share/...`), or
    /// `/var/lib/sagaflow/demo` as root.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep the private PostgreSQL's data after the demo; the next demo on the directory
    /// reuses it. Without it the data is removed when the demo ends (the logs stay).
    #[arg(long)]
    pub keep: bool,
}

const SETTLED: &[&str] = &["completed", "compensated", "cancelled", "failed", "parked"];

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data_dir.clone().unwrap_or_else(home::default_dir);
    if args.status {
        return Ok(home::status(&dir));
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the demo's directory {}", dir.display()))?;
    let log = dir.join("demo.log");
    if args.verbose {
        sagaflow::telemetry::init_tracing();
    } else {
        let file = std::fs::File::create(&log)
            .with_context(|| format!("creating the demo's log {}", log.display()))?;
        sagaflow::telemetry::init_tracing_to_file(file);
    }
    let sim = sagaflow::simulator::start(sagaflow::simulator::SimulatorConfig::default())
        .await
        .context("starting the provider simulator")?;
    let mut settings = Settings::load().context("loading settings")?;
    let private = if std::env::var_os("DATABASE_URL").is_none() {
        let private = Private::start(&dir, args.keep).await?;
        settings.database.url = private.url();
        Some(private)
    } else {
        None
    };
    let database = redact_password(&settings.database.url);
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
    let app = App::build(settings).await.context("starting sagaflow")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    sim.set_webhook_base(&format!("{base}/v1/webhooks"));
    let shutdown = CancellationToken::new();
    let node = tokio::spawn(app.serve_on(Some(listener), Role::All, shutdown.clone()));
    let state = State {
        pid: std::process::id(),
        console: format!("{base}/ui"),
        operator_token: operator_token.clone(),
        api: base.clone(),
        simulator: sim.base_url().to_string(),
        database,
        log: log.clone(),
        cluster: private.as_ref().map(|p| p.data_dir().to_path_buf()),
    };
    state.write(&dir)?;
    println!(
        "sagaflow demo: placing a batch of sagas and orders (logs: {})",
        log.display()
    );

    let http = reqwest::Client::new();
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let kinds = scenarios();
    let mut started = Vec::with_capacity(args.sagas);
    for i in 0..args.sagas {
        let key = format!("demo-{run_id}-{i}");
        let business_key = format!("demo-{i}");
        let id = scenarios::start(
            &http,
            &base,
            &shop_token,
            &key,
            &business_key,
            &kinds[i % kinds.len()],
        )
        .await?;
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
            if let (Some(signal), "waiting") = (kind.and_then(|k| kinds[k].signal), status)
                && signalled.insert(id.clone())
            {
                http.post(format!("{base}/v1/sagas/{id}/signals/{signal}"))
                        .bearer_auth(&operator_token)
                        .header("Idempotency-Key", format!("demo-{id}"))
                        .json(&json!({ "status": "delivered", "by": "demo courier", "reason": "the demo courier delivered it" }))
                        .send()
                        .await?;
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
    println!();
    if args.exit_after_batch {
        println!("the demo ran on:\n{}", state.describe(false));
    } else {
        println!(
            "the demo keeps serving until Ctrl-C (`sagaflow demo --status` shows this again):\n{}",
            state.describe(true)
        );
        let trickle = async {
            if args.no_trickle {
                std::future::pending::<()>().await
            } else {
                trickle::run(base.clone(), who).await
            }
        };
        tokio::select! {
            signal = tokio::signal::ctrl_c() => signal?,
            () = trickle => {}
        }
    }
    State::remove(&dir);
    shutdown.cancel();
    node.await??;
    drop(private);
    Ok(if finished.len() == started.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The database URL with any password masked, for printing.
fn redact_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
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
