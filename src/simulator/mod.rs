//! The provider simulator: every provider API with in-memory state, on a real port, with fault
//! injection, asynchronous signed webhooks and delivery stats (`docs/providers.md`).
//!
//! Tests and the demo call [`start`]; `sagaflow simulate` calls [`run`].

mod bridge;
mod callbacks;
pub mod config;
mod control;
mod courier;
mod crm;
pub mod events;
mod ishare;
mod legacy;
mod legacy_receiver;
mod partner;
mod payments;
mod prices;
mod records;
mod replay;
mod reseller;
mod sms;
mod state;

use std::net::SocketAddr;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use bridge::{AutomationRun, SCENARIOS as BRIDGE_SCENARIOS};
pub use config::{Callbacks, ConfigPatch, Fault, Outcome, SimulatorConfig};
pub use replay::{CourierEventsArgs, PaymentEventsArgs};
pub use state::{CallbackRecord, EndpointStats, SimStats, business_order};

use crate::providers::ProvidersConfig;
use state::Sim;

/// Arguments of `sagaflow simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Port to listen on.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Base of the sagaflow webhook routes to post provider events to, for example
    /// `http://127.0.0.1:8080/v1/webhooks` (each provider posts to `{base}/{provider}`).
    #[arg(long)]
    pub webhook_base: Option<String>,
    /// Delay before orders complete and checkouts are paid, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub completion_delay_ms: u64,
    #[command(subcommand)]
    pub command: Option<SimulateCommand>,
}

/// `sagaflow simulate <command>`: replay signed events against a running sagaflow server.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SimulateCommand {
    /// Send signed courier tracking events for a shipment, up to a status.
    CourierEvents(CourierEventsArgs),
    /// Send a signed checkout event for a checkout session.
    PaymentEvents(PaymentEventsArgs),
}

/// A running simulator. Dropping it stops the server.
pub struct SimulatorHandle {
    addr: SocketAddr,
    sim: Sim,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl SimulatorHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.sim.0.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live configuration (faults, callbacks, outcomes, balance…).
    pub fn config(&self) -> SimulatorConfig {
        self.sim.config()
    }

    /// Changes the live configuration, as `POST /_sim/config` does.
    pub fn configure(&self, patch: ConfigPatch) -> Result<(), String> {
        self.sim.lock().config.apply(patch)
    }

    /// Sets or clears one endpoint's fault.
    pub fn set_fault(&self, endpoint: &str, fault: Option<Fault>) -> Result<(), String> {
        let mut patch = ConfigPatch::default();
        patch.faults.insert(endpoint.to_string(), fault);
        self.configure(patch)
    }

    /// Points every provider's webhooks at `{base}/{provider}`.
    pub fn set_webhook_base(&self, base: &str) {
        self.sim.lock().config.callbacks = Callbacks::under(base);
    }

    /// Request counts, deliveries per key, and the webhooks sent.
    pub fn stats(&self) -> SimStats {
        self.sim.lock().stats.clone()
    }

    /// The bridge automations run so far, oldest first (also `GET /_sim/bridge/automations`).
    pub fn automations(&self) -> Vec<AutomationRun> {
        self.sim.lock().records.automations.clone()
    }

    /// Creates or replaces a record of the legacy system behind the bridge (also
    /// `PUT /_sim/bridge/{collection}/{id}`).
    pub fn put_legacy(
        &self,
        entity: crate::domain::legacy::Entity,
        record: crate::domain::legacy::LegacyRecord,
    ) {
        self.sim.put_legacy(entity, record);
    }

    /// Removes a legacy record, as if the legacy system deleted it.
    pub fn delete_legacy(&self, entity: crate::domain::legacy::Entity, id: &str) {
        if let Some(m) = self.sim.lock().records.legacy.get_mut(&entity) {
            m.remove(id);
        }
    }

    /// Clears the request counters only (see `POST /_sim/stats/reset`).
    pub fn reset_stats(&self) {
        self.sim.reset_stats();
    }

    /// Clears stats and stored provider data.
    pub fn reset(&self) {
        self.sim.reset();
    }

    /// The provider settings the simulator checks and signs with, every base URL pointing at
    /// this simulator: give it to the clients and to `webhooks::verify_inbound`.
    pub fn providers_config(&self) -> ProvidersConfig {
        self.sim
            .lock()
            .config
            .providers
            .clone()
            .with_base_url(&self.base_url())
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn router(sim: Sim) -> Router {
    Router::new()
        .merge(reseller::routes())
        .merge(ishare::routes())
        .merge(payments::routes())
        .merge(prices::routes())
        .merge(crm::routes())
        .merge(courier::routes())
        .merge(sms::routes())
        .merge(partner::routes())
        .merge(bridge::routes())
        .merge(legacy::routes())
        .merge(legacy_receiver::routes())
        .merge(control::routes())
        .with_state(sim)
}

/// Starts the simulator on `cfg.bind` and returns once it accepts connections.
pub async fn start(cfg: SimulatorConfig) -> std::io::Result<SimulatorHandle> {
    let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let sim = Sim::new(cfg, format!("http://{addr}"), cancel.clone());
    let app = router(sim.clone());
    let shutdown = cancel.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "simulator stopped");
        }
    });
    Ok(SimulatorHandle {
        addr,
        sim,
        cancel,
        task: Some(task),
    })
}

/// `sagaflow simulate`: serve until Ctrl-C, or run a replay subcommand.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let providers = crate::config::Settings::load()
        .map(|s| s.providers)
        .unwrap_or_default();
    match args.command {
        Some(SimulateCommand::CourierEvents(cmd)) => replay::courier_events(&providers, &cmd).await,
        Some(SimulateCommand::PaymentEvents(cmd)) => replay::payment_events(&providers, &cmd).await,
        None => {
            let cfg = SimulatorConfig {
                bind: SocketAddr::new(args.host, args.port),
                providers,
                callbacks: args
                    .webhook_base
                    .as_deref()
                    .map(Callbacks::under)
                    .unwrap_or_default(),
                completion_delay_ms: args.completion_delay_ms,
                courier_step_delay_ms: args.completion_delay_ms,
                ..SimulatorConfig::default()
            };
            let handle = start(cfg).await?;
            println!("provider simulator listening on {}", handle.base_url());
            println!(
                "  control: {}/_sim/config, {}/_sim/stats",
                handle.base_url(),
                handle.base_url()
            );
            tokio::signal::ctrl_c().await?;
            handle.shutdown().await;
            Ok(())
        }
    }
}
