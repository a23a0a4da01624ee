//! The assembled application: one `App::build(Settings)` used by `main` and by tests, and the
//! node roles it can serve.

use std::sync::Arc;

use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::api::AppState;
use crate::config::Settings;
use crate::engine::action::ActionRegistry;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::definition::{Catalog, DefinitionError, Known};
use crate::engine::outbox::OutboxRelay;
use crate::engine::runtime::Runtime;
use crate::engine::scheduler::{self, Scheduler};
use crate::engine::worker::Worker;
use crate::families::{Assembly, Context};
use crate::providers::Providers;
use crate::store::{self, Store};

/// Start-up failures. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("workflow definitions are invalid:\n{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Definitions(Vec<DefinitionError>),
    #[error("queue settings are invalid:\n{}", .0.join("\n"))]
    Queues(Vec<String>),
    #[error("{0}")]
    Scheduler(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("provider settings are invalid: {0}")]
    Providers(#[from] crate::providers::Error),
    #[error(transparent)]
    Families(#[from] crate::families::family::Error),
    #[error("a family's routes overlap the core routes: {0}")]
    Routes(String),
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    #[error(
        "refusing to serve with unsafe settings; set {} (or [server] dev_mode = true on a developer's machine)",
        .0.join(", ")
    )]
    Unsafe(Vec<String>),
}

/// Which parts a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    All,
    Api,
    Worker,
    Scheduler,
}

/// Adds or replaces actions before definitions are validated against them.
pub type RegisterActions = Box<dyn FnOnce(&mut ActionRegistry) + Send>;

/// Knobs tests turn: a manual clock, extra actions.
#[derive(Default)]
pub struct Options {
    pub clock: Option<Arc<dyn Clock>>,
    pub extra_actions: Option<RegisterActions>,
}

pub struct App {
    pub settings: Settings,
    pub rt: Arc<Runtime>,
    /// Every provider client, built once from `[providers]`.
    pub providers: Arc<Providers>,
    /// The provider gates those clients pass (limits, breakers, pauses).
    pub gates: Arc<crate::providers::Gates>,
    /// Every workflow family's parts: routes, outbox handlers and the rest.
    families: Arc<Assembly>,
    /// The whole API, the families' routes joined with the core's, built once at start-up.
    router: axum::Router,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, Error> {
        Self::build_with(settings, Options::default()).await
    }

    /// Connects, migrates, loads and validates `workflows/`, and records the definitions that
    /// new sagas will be pinned to.
    pub async fn build_with(settings: Settings, opts: Options) -> Result<Self, Error> {
        let db = &settings.database;
        let pool = PgPoolOptions::new()
            .max_connections(db.max_connections)
            .acquire_timeout(db.acquire_timeout)
            .connect(&db.url)
            .await
            .map_err(Error::Connect)?;
        let reads = PgPoolOptions::new()
            .max_connections(db.read_connections.max(1))
            .acquire_timeout(db.acquire_timeout)
            .connect_lazy(&db.url)
            .map_err(Error::Connect)?;
        let store = Store::with_reads(pool.clone(), reads);
        store.migrate().await?;
        // Every node's gates share their state through this database; the holder names this
        // node on the concurrency permits it takes.
        let holder = format!("node-{}", uuid::Uuid::now_v7());
        let gates =
            crate::providers::Gates::start(pool.clone(), &settings.providers.limits(), holder)
                .await?;
        let providers = Arc::new(Providers::from_config(&settings.providers)?.with_gates(&gates));
        let families = crate::families::assemble(&Context {
            store: &store,
            providers: &providers,
            settings: &settings,
        })?;
        let mut registry = families.registry.clone();
        if let Some(extra) = opts.extra_actions {
            extra(&mut registry);
        }
        let known = Known {
            action: &|name| registry.contains(name),
            signal: &|name| families.declares_signal(name),
            provider_signal: &|name| crate::providers::webhooks::produces(name),
            require_policy: true,
        };
        let catalog =
            Catalog::load_dir(&settings.workflows.dir, &known).map_err(Error::Definitions)?;
        crate::engine::queues::check(&settings.worker.queues, &catalog).map_err(Error::Queues)?;
        let tokens = crate::api::auth::Tokens::from_settings(&settings.auth);
        let api = families.api(&tokens)?;
        let clock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        store.register_definitions(&catalog, clock.now()).await?;
        store.ensure_queue_slots(&settings.worker.queues).await?;
        families.seed(&store, clock.now()).await?;
        crate::telemetry::prometheus();
        families.describe_metrics();
        gates.zero_series();
        crate::telemetry::zero_recovery_series(&catalog, &registry);
        let rt = Arc::new(Runtime::new(
            store,
            Arc::new(catalog),
            Arc::new(registry),
            clock,
            settings.worker.clone(),
            families.hooks.clone(),
        ));
        // A family route that overlaps a core route panics in axum: the router is built here,
        // once, so that is a start-up error naming the route, not a panic on the first request.
        let mut state = AppState::new(rt.clone(), settings.clone(), &api);
        state.gates = Some(gates.clone());
        let router = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::api::router(state, api.routes, api.console_routes)
        }))
        .map_err(|p| Error::Routes(crate::engine::unwind::message(p.as_ref())))?;
        Ok(Self {
            settings,
            rt,
            providers,
            gates,
            families: Arc::new(families),
            router,
        })
    }

    pub fn store(&self) -> &Store {
        &self.rt.store
    }

    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    pub fn worker(&self, name: &str) -> Worker {
        Worker::new(self.rt.clone(), name)
    }

    pub fn outbox_relay(&self) -> OutboxRelay {
        OutboxRelay::new(
            self.rt.store.clone(),
            self.rt.clock.clone(),
            self.families.outbox.clone(),
        )
    }

    pub fn scheduler(&self, node: &str) -> Result<Scheduler, Error> {
        Scheduler::new(
            self.rt.clone(),
            &self.settings.cron,
            self.families.periodic_jobs(),
            node,
            self.settings.scheduler.tick_interval,
        )
        .map_err(Error::Scheduler)
    }

    /// Runs the parts of `role` until `shutdown`, then drains them. The API binds
    /// `server.bind`.
    pub async fn serve(self, role: Role, shutdown: CancellationToken) -> Result<(), Error> {
        let listener = if matches!(role, Role::All | Role::Api) {
            let addr = self.settings.server.bind.clone();
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            Some(l)
        } else {
            None
        };
        self.serve_on(listener, role, shutdown).await
    }

    /// [`App::serve`] on a listener the caller bound (the demo binds port 0 and reads it).
    pub async fn serve_on(
        self,
        listener: Option<tokio::net::TcpListener>,
        role: Role,
        shutdown: CancellationToken,
    ) -> Result<(), Error> {
        // The API's own address: the metrics port serves no API route.
        let bound: Vec<std::net::IpAddr> = listener
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.ip())
            .collect();
        let unsafe_keys = crate::safety::unsafe_settings(&self.settings, &bound);
        if !unsafe_keys.is_empty() {
            return Err(Error::Unsafe(unsafe_keys));
        }
        let node = node_name();
        let mut tasks = tokio::task::JoinSet::new();
        if matches!(role, Role::All | Role::Worker) {
            tasks.spawn(scheduler::relay_wakeups(self.rt.clone(), shutdown.clone()));
            tasks.spawn(self.worker(&node).run(shutdown.clone()));
            tasks.spawn(self.outbox_relay().run(shutdown.clone()));
            tasks.spawn(crate::engine::gauges::run(
                self.rt.clone(),
                crate::engine::gauges::REFRESH_EVERY,
                shutdown.clone(),
            ));
        }
        if matches!(role, Role::All | Role::Scheduler) {
            tasks.spawn(self.scheduler(&node)?.run(shutdown.clone()));
        }
        if let (Some(addr), true) = (
            &self.settings.server.metrics_bind,
            matches!(role, Role::All | Role::Api),
        ) {
            // Prometheus scrapes its own port, so the API port can be exposed without /metrics.
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind {
                    addr: addr.clone(),
                    source,
                })?;
            info!(addr = %addr, "metrics listening");
            let router = crate::api::metrics_router(AppState::new(
                self.rt.clone(),
                self.settings.clone(),
                &Default::default(),
            ));
            let stop = shutdown.clone();
            tasks.spawn(async move {
                if let Err(e) = axum::serve(metrics, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        match listener {
            Some(listener) if matches!(role, Role::All | Role::Api) => {
                if let Ok(addr) = listener.local_addr() {
                    info!(%addr, "HTTP API listening");
                }
                let stop = shutdown.clone();
                axum::serve(listener, self.router())
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                    .map_err(Error::Serve)?;
            }
            _ => shutdown.cancelled().await,
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// This node's name in leases and cron claims: host and process id.
pub fn node_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    format!("{host}-{}", std::process::id())
}
