//! The randomized chaos run: data-bundle orders to distinct numbers and many to one number,
//! hardware orders and partner orders, run by two `sagaflow serve --role worker` processes
//! that are each SIGKILLed twice while orders are in flight, against a PostgreSQL of the
//! test's own that is restarted immediately (crash-style) once, with the simulator failing,
//! dropping and hanging provider calls.
//!
//! Effects are counted where they happen: at the simulator, per business order across every
//! reference, and in the wallet ledgers. `SAGAFLOW_CHAOS_ORDERS` sets the number of
//! data-bundle orders (120 by default, for CI; the full run uses 2000), of which a tenth, at
//! most 200, go to one phone number.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use sagaflow::app::App;
use sagaflow::providers::config::ProvidersConfig;
use sagaflow::simulator::{self, ConfigPatch, Fault, SimulatorConfig, SimulatorHandle};

use crate::support::Process as Worker;
use crate::support::private_pg::PrivatePostgres;
use crate::support::{self, SERVICE_TOKEN, bearer};

const LEASE: &str = "2s";
const PROVIDER_TIMEOUT: &str = "2s";

/// What every worker process is started with: the database, short leases and provider
/// timeouts, and every provider (partner webhooks included) at this test's simulator.
fn worker_env(db: &str, providers: &ProvidersConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), db.into()),
        ("SAGAFLOW_WORKER__LEASE".into(), LEASE.into()),
        ("SAGAFLOW_WORKER__POLL_INTERVAL".into(), "200ms".into()),
        ("SAGAFLOW_WORKER__SHUTDOWN_TIMEOUT".into(), "2s".into()),
        ("SAGAFLOW_DATABASE__ACQUIRE_TIMEOUT".into(), "3s".into()),
        ("RUST_LOG".into(), "error".into()),
    ];
    env.extend(crate::support::providers::node_env(providers));
    for p in [
        "RESELLER", "ISHARE", "PAYMENTS", "CRM", "SMS", "BRIDGE", "COURIER",
    ] {
        env.push((
            format!("SAGAFLOW_PROVIDERS__{p}__TIMEOUT"),
            PROVIDER_TIMEOUT.into(),
        ));
    }
    // Automation retries wait seconds, not the production ten minutes, like the workflows'.
    for scenario in sagaflow::families::hardware::SCENARIOS {
        let key = format!("SAGAFLOW_HARDWARE__SCENARIOS__{}", scenario.to_uppercase());
        env.push((format!("{key}__MAX_ATTEMPTS"), "5".into()));
        env.push((format!("{key}__RETRY_DELAY"), "2s".into()));
        env.push((format!("{key}__TIMEOUT"), PROVIDER_TIMEOUT.into()));
        env.push((format!("{key}__FALLBACK"), "by hand".into()));
    }
    env
}

fn spawn(env: &[(String, String)]) -> Worker {
    crate::support::workers::spawn_worker(env)
}

/// 10% 500s, 5% dropped after the work was done and 2% hangs on every effectful endpoint.
fn faults(sim: &SimulatorHandle) {
    let endpoints = [
        "reseller.create_order",
        "ishare.fulfill",
        "payments.create_session",
        "payments.create_refund",
        "crm.create_sales_order",
        "crm.provision_licence",
        "bridge.run_automation",
        "sms.send",
    ];
    for e in endpoints {
        sim.set_fault(
            e,
            Some(Fault {
                error_rate: 0.10,
                drop_rate: 0.05,
                hang_rate: 0.02,
                ..Fault::default()
            }),
        )
        .unwrap();
    }
}

/// The workflow files with every retry delay and wait cut to seconds (a minute becomes a
/// second, at most ten): retries and polls happen within the run, in the same order as in
/// production.
fn quick_workflows() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/workflows")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // A step's own timeout stays: it bounds one provider call, which is not any faster.
        let quick: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("timeout") {
                    l.to_string()
                } else {
                    shorten(l)
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join(path.file_name().unwrap()), quick).unwrap();
    }
    dir
}

/// Rewrites every quoted duration (`"5m"`, `"1h"`, `"60s"`) to a sixtieth, between 1 and 10
/// seconds.
fn shorten(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find('"') else {
            break;
        };
        let inner = &rest[..close];
        let secs = inner
            .strip_suffix('s')
            .and_then(|n| n.parse::<u64>().ok())
            .or_else(|| {
                inner
                    .strip_suffix('m')
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|n| n * 60)
            })
            .or_else(|| {
                inner
                    .strip_suffix('h')
                    .and_then(|n| n.parse::<u64>().ok())
                    .map(|n| n * 3600)
            });
        match secs {
            Some(secs) => out.push_str(&format!("{}s", (secs / 60).clamp(1, 10))),
            None => out.push_str(inner),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

struct Load {
    /// Data-bundle orders to numbers of their own.
    distinct: usize,
    /// Data-bundle orders to one number.
    same: usize,
    hardware: usize,
    partner: usize,
}

impl Load {
    fn from_env() -> Self {
        let bundles: usize = std::env::var("SAGAFLOW_CHAOS_ORDERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(120);
        let same = (bundles / 10).clamp(1, 200);
        Self {
            distinct: bundles - same,
            same,
            hardware: (bundles / 40).max(3),
            partner: (bundles / 40).max(3),
        }
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// Posts as a shop's backend does: a 5xx or a lost connection (the database restarting
    /// under the API) is sent again under the same idempotency key, for up to a minute.
    async fn post(&self, path: &str, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        let start = Instant::now();
        loop {
            let sent = self
                .http
                .post(format!("{}{path}", self.base))
                .header("authorization", bearer(token))
                .header("idempotency-key", key)
                .json(body)
                .send()
                .await;
            let last = match sent {
                Ok(res) if !res.status().is_server_error() => {
                    let status = res.status();
                    return (status, res.json().await.unwrap_or(Value::Null));
                }
                Ok(res) => format!("{}", res.status()),
                Err(e) => e.to_string(),
            };
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{path} kept failing: {last}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The answer to a start: `first` when it was taken, or 200 when [`Api::post`] sent it again
/// after an answer lost to a restart and the server replayed the one it had recorded.
fn first_or_replay(status: StatusCode, first: StatusCode) -> bool {
    status == first || status == StatusCode::OK
}

/// A valid MTN number of its own for order `i`, or an AirtelTigo one for every fourth.
fn phone(i: usize) -> String {
    if i % 4 == 3 {
        format!("026{:07}", i)
    } else {
        format!("024{:07}", i)
    }
}

async fn place_bundle(api: &Api, i: usize, phone: &str) -> Uuid {
    let user = Uuid::now_v7();
    let (s, b) = api
        .post(
            &format!("/v1/wallets/{user}/top-ups"),
            SERVICE_TOKEN,
            "seed",
            &json!({ "amount": 50.0 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let network = if phone.starts_with("026") {
        "AirtelTigo"
    } else {
        "MTN"
    };
    let (s, b) = api
        .post(
            "/v1/orders/data-bundles",
            SERVICE_TOKEN,
            &format!("bundle-{i}"),
            &json!({ "user_id": user, "network": network, "size": "1GB", "phone_number": phone }),
        )
        .await;
    assert!(first_or_replay(s, StatusCode::ACCEPTED), "{s} {b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

async fn place_hardware(api: &Api, i: usize) -> Uuid {
    let body =
        crate::support::hardware::order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]);
    let (s, b) = api
        .post("/v1/orders", SERVICE_TOKEN, &format!("hw-{i}"), &body)
        .await;
    assert!(first_or_replay(s, StatusCode::CREATED), "{s} {b}");
    let order = b["id"].as_str().unwrap().to_string();
    let (s, b) = api
        .post(
            &format!("/v1/orders/{order}/send-checkout"),
            SERVICE_TOKEN,
            &format!("hw-send-{i}"),
            &json!({}),
        )
        .await;
    assert!(first_or_replay(s, StatusCode::ACCEPTED), "{s} {b}");
    b["saga_id"].as_str().unwrap().parse().unwrap()
}

async fn place_partner(api: &Api, i: usize) {
    let body = json!({
        "orderId": format!("T2M-CHAOS-{i}"),
        "productId": "OFFICE-PRO",
        "customerId": format!("CUST-{i}"),
        "customerName": "Ama Mensah",
        "customerEmail": "ama@example.com",
        "customerPhone": "+233241234567",
        "tenure": "12_MONTHS",
    });
    let (s, b) = api
        .post(
            "/v1/partner/fulfilment",
            "sim_partner_api_key",
            &format!("T2M-CHAOS-{i}"),
            &body,
        )
        .await;
    assert!(first_or_replay(s, StatusCode::ACCEPTED), "{s} {b}");
}

/// Effects per business order at `endpoint`, for the sagas in `of`.
fn per_order(sim: &SimulatorHandle, endpoint: &str) -> BTreeMap<String, u64> {
    sim.stats()
        .orders
        .get(endpoint)
        .cloned()
        .unwrap_or_default()
}

/// What a doubled order went through, for the failure message: the references the provider
/// acted on, and the saga's history with each event's time, so the two actions can be placed
/// against the kills and the restart.
async fn timelines(
    pool: &sqlx::PgPool,
    sim: &SimulatorHandle,
    endpoint: &str,
    doubled: &[(String, u64)],
) -> String {
    let stats = sim.stats();
    let mut out = String::new();
    for (order, _) in doubled {
        let keys: Vec<(&String, &u64)> = stats
            .endpoints
            .get(endpoint)
            .map(|e| {
                e.deliveries
                    .iter()
                    .filter(|(k, _)| simulator::business_order(k) == order)
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&format!("order {order}: {endpoint} acted for {keys:?}\n"));
        let Ok(id) = order.parse::<Uuid>() else {
            continue;
        };
        let events: Vec<String> = sqlx::query_scalar(
            "SELECT concat_ws(' ', to_char(created_at, 'HH24:MI:SS.MS'), seq, step, kind, attempt, detail::text)
             FROM saga_events WHERE saga_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        for e in events {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

async fn scalar(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_killed_twice_and_a_database_restart_lose_and_double_nothing() {
    let load = Load::from_env();
    let pg = Arc::new(PrivatePostgres::start());
    let db = pg.create_database("sagaflow_chaos").await;

    let sim = simulator::start(SimulatorConfig {
        completion_delay_ms: 150,
        courier_step_delay_ms: 150,
        checkout_auto_complete: true,
        courier_auto_progress: true,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    // The processor charges each synced price id its price-book amount, as in the hardware
    // tests; the reseller's wallet covers every order.
    sim.configure(ConfigPatch {
        balance: Some(1e9),
        prices: crate::support::hardware::price_book(),
        ..Default::default()
    })
    .unwrap();
    let workflows = quick_workflows();

    // The API: in this process, with the wall clock, never killed; the simulator's webhooks
    // come back to it.
    let mut settings = support::settings_on(db.clone());
    settings.workflows.dir = workflows.path().to_path_buf();
    settings.database.max_connections = 30;
    settings.database.acquire_timeout = Duration::from_secs(3);
    settings.providers = sim.providers_config();
    settings.providers.signature_tolerance = Duration::from_secs(3600);
    settings
        .edit_section(
            "partner",
            |p: &mut sagaflow::families::partner::PartnerSettings| {
                p.rate_limit_per_minute = 100_000
            },
        )
        .unwrap();
    let providers = settings.providers.clone();
    let app = App::build(settings).await.expect("build the API");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    sim.set_webhook_base(&format!("{base}/v1/webhooks"));
    let api = Api {
        base,
        http: reqwest::Client::new(),
    };

    // The company the hardware orders are for, recorded before anything is killed.
    for (path, body) in crate::support::hardware::acme_requests() {
        let (s, b) = api
            .post(path, crate::support::OPERATOR_TOKEN, path, &body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    }

    let mut env = worker_env(&db, &providers);
    env.push((
        "SAGAFLOW_WORKFLOWS__DIR".into(),
        workflows.path().display().to_string(),
    ));
    let mut workers = [spawn(&env), spawn(&env)];
    faults(&sim);

    // Orders go in while the chaos runs: two kills of each worker and one database restart.
    let placing = async {
        let mut sagas = Vec::new();
        let bundles = futures::stream::iter(0..load.distinct + load.same)
            .map(|i| {
                let to = if i < load.distinct {
                    phone(i)
                } else {
                    "0241999999".to_string()
                };
                let api = &api;
                async move { place_bundle(api, i, &to).await }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        sagas.extend(bundles);
        for i in 0..load.hardware {
            sagas.push(place_hardware(&api, i).await);
        }
        for i in 0..load.partner {
            place_partner(&api, i).await;
        }
        sagas
    };
    let chaos = async {
        let mut kills = 0;
        for round in 0..4 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let w = round % 2;
            eprintln!(
                "{} kill worker {w}",
                chrono::Utc::now().format("%H:%M:%S%.3f")
            );
            workers[w].0.kill().expect("SIGKILL a worker");
            workers[w].0.wait().unwrap();
            kills += 1;
            tokio::time::sleep(Duration::from_millis(300)).await;
            workers[w] = spawn(&env);
            if round == 1 {
                let pg = pg.clone();
                eprintln!(
                    "{} restart the database",
                    chrono::Utc::now().format("%H:%M:%S%.3f")
                );
                tokio::task::spawn_blocking(move || pg.restart_immediately())
                    .await
                    .unwrap();
                eprintln!(
                    "{} the database is back",
                    chrono::Utc::now().format("%H:%M:%S%.3f")
                );
            }
        }
        kills
    };
    let (bundle_and_hw, kills) = tokio::join!(placing, chaos);
    assert_eq!(kills, 4, "each worker was killed twice");
    let started = Instant::now();

    let pool = app.store().pool().clone();
    let total = (load.distinct + load.same + load.hardware + load.partner) as i64;
    let settle_within = Duration::from_secs(120 + total as u64 / 4);
    loop {
        let open = scalar(
            &pool,
            "SELECT count(*) FROM sagas WHERE status NOT IN ('completed', 'compensated', 'cancelled', 'failed', 'parked')",
        )
        .await;
        if open == 0 {
            break;
        }
        if started.elapsed() > settle_within {
            let stuck: Vec<String> = sqlx::query_scalar(
                "SELECT concat_ws(' ', workflow, status, state::text, last_error::text, lease_owner)
                 FROM sagas WHERE status NOT IN ('completed', 'compensated', 'cancelled', 'failed', 'parked')
                 LIMIT 5",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            panic!("{open} sagas still running after {settle_within:?}: {stuck:?}");
        }
        // A worker that could not start while the database was down is started again, as
        // its supervisor would.
        for w in workers.iter_mut() {
            if w.0.try_wait().unwrap().is_some() {
                *w = spawn(&env);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let sagas_settled = started.elapsed();

    // Nothing lost: every order has its saga, every saga ended or waits for an operator with
    // a reason.
    let sagas = scalar(&pool, "SELECT count(*) FROM sagas").await;
    assert_eq!(sagas, total, "one saga per order");
    assert_eq!(bundle_and_hw.len() as i64, total - load.partner as i64);
    let unexplained = scalar(
        &pool,
        "SELECT count(*) FROM sagas WHERE status IN ('parked', 'failed') AND last_error IS NULL",
    )
    .await;
    assert_eq!(unexplained, 0, "every held saga says why");

    // Nothing doubled, counted at the providers per business order.
    for endpoint in [
        "reseller.create_order",
        "reseller.delivered",
        "ishare.fulfill",
        "ishare.delivered",
        "payments.create_session",
        "payments.create_refund",
        "crm.create_sales_order",
        "bridge.run_automation",
        "courier.create_shipment",
    ] {
        let doubled: Vec<(String, u64)> = per_order(&sim, endpoint)
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        if !doubled.is_empty() {
            let story = timelines(&pool, &sim, endpoint, &doubled).await;
            panic!("{endpoint} acted twice for {doubled:?}\n{story}");
        }
    }
    let licences = per_order(&sim, "crm.provision_licence");
    assert!(
        licences.values().all(|n| *n == 1),
        "a sales order got two licences: {licences:?}"
    );

    // Every delivered bundle was paid for once, and every wallet's ledger sums to its balance.
    let unbalanced = scalar(
        &pool,
        "SELECT count(*) FROM wallets w
         WHERE w.balance_minor <> (SELECT coalesce(sum(amount_minor), 0) FROM wallet_ledger l WHERE l.user_id = w.user_id)",
    )
    .await;
    assert_eq!(unbalanced, 0, "wallet ledgers sum to their balances");
    let completed_unpaid = scalar(
        &pool,
        "SELECT count(*) FROM orders o JOIN sagas s ON s.id = o.saga_id
         WHERE s.status = 'completed'
           AND (SELECT coalesce(sum(amount_minor), 0) FROM wallet_ledger l WHERE l.order_id = o.id) <> -o.price_minor",
    )
    .await;
    assert_eq!(completed_unpaid, 0, "each delivered bundle was paid once");
    let compensated_charged = scalar(
        &pool,
        "SELECT count(*) FROM orders o JOIN sagas s ON s.id = o.saga_id
         WHERE s.status = 'compensated'
           AND (SELECT coalesce(sum(amount_minor), 0) FROM wallet_ledger l WHERE l.order_id = o.id) <> 0",
    )
    .await;
    assert_eq!(
        compensated_charged, 0,
        "each failed bundle was refunded in full"
    );
    // Every bundle delivered at a provider belongs to a completed order.
    let delivered: usize = ["reseller.delivered", "ishare.delivered"]
        .iter()
        .map(|e| per_order(&sim, e).len())
        .sum();
    let completed_bundles = scalar(
        &pool,
        "SELECT count(*) FROM orders o JOIN sagas s ON s.id = o.saga_id WHERE s.status = 'completed'",
    )
    .await;
    assert_eq!(
        delivered as i64, completed_bundles,
        "one delivery per completed bundle"
    );

    // Every hardware order is paid once, shipped and invoiced, or refunded and voided.
    let odd_hardware = scalar(
        &pool,
        "SELECT count(*) FROM hardware_orders h JOIN sagas s ON s.id = h.saga_id
         LEFT JOIN invoices i ON i.order_id = h.id
         LEFT JOIN fulfillment_orders f ON f.order_id = h.id
         WHERE s.status <> 'parked' AND NOT (
             (s.status = 'completed' AND h.payment_status = 'paid' AND f.status = 'completed'
              AND i.status = 'paid')
          OR (s.status IN ('compensated', 'cancelled')
              AND h.payment_status IN ('refunded', 'cancelled', 'checkout_expired', 'payment_failed')
              AND (i.status IS NULL OR i.status = 'void')))",
    )
    .await;
    assert_eq!(odd_hardware, 0, "a hardware order ended half done");
    let paid_twice = scalar(
        &pool,
        "SELECT count(*) FROM (SELECT order_id FROM payment_records WHERE kind = 'payment'
                              GROUP BY order_id HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(paid_twice, 0, "a hardware order was paid twice");

    // Every outbox event reaches its receiver (the relays were killed too, and a killed
    // relay's claim runs out after a minute), at least once; receivers deduplicate by event id.
    let drained = Instant::now();
    while scalar(
        &pool,
        "SELECT count(*) FROM outbox WHERE status = 'pending'",
    )
    .await
        > 0
    {
        assert!(
            drained.elapsed() < Duration::from_secs(240),
            "outbox events still pending after 4 minutes"
        );
        for w in workers.iter_mut() {
            if w.0.try_wait().unwrap().is_some() {
                *w = spawn(&env);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead = scalar(
        &pool,
        "SELECT count(*) FROM outbox WHERE status <> 'delivered'",
    )
    .await;
    assert_eq!(dead, 0, "every outbox event was delivered");
    let partner_events = scalar(
        &pool,
        "SELECT count(*) FROM outbox WHERE topic = 'partner_webhook'",
    )
    .await;
    let received = sim
        .stats()
        .endpoints
        .get("partner.receive")
        .map_or(0, |e| e.deliveries.len());
    assert_eq!(
        received as i64, partner_events,
        "the partner received every event id"
    );
    drop(workers);

    // The last saga to finish, and how: what the run waited longest for.
    let slowest: Vec<String> = sqlx::query_scalar(
        "SELECT e.kind || coalesce(' ' || (e.detail->'error'->>'code'), '') || ' +' ||
                round(extract(epoch FROM e.created_at - s.created_at))::text || 's'
         FROM saga_events e JOIN (SELECT id, created_at FROM sagas ORDER BY finished_at DESC NULLS FIRST LIMIT 1) s
           ON s.id = e.saga_id ORDER BY e.seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    eprintln!("chaos: the slowest saga: {slowest:?}");
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM sagas GROUP BY status ORDER BY status")
            .fetch_all(&pool)
            .await
            .unwrap();
    eprintln!(
        "chaos: {total} orders ({} bundles to distinct numbers, {} to one number, {} hardware, {} partner), 4 worker kills, 1 database restart; sagas by status {by_status:?}; sagas settled {sagas_settled:?} and the outbox {:?} after the chaos",
        load.distinct,
        load.same,
        load.hardware,
        load.partner,
        started.elapsed()
    );
}
