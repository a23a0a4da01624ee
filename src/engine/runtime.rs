//! What every engine part shares: the store, the definitions, the actions, the clock and the
//! in-process wake-up bell; and [`Runtime::start`], the one way a saga begins.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use uuid::Uuid;

use super::action::{ActionRegistry, DomainWrite};
use super::clock::Clock;
use super::definition::{Catalog, WorkflowDef};
use super::hooks::Hooks;
use super::lifecycle::{Event, SagaState};
use super::operator;
use super::starter::Starter;
use crate::config::WorkerSettings;
use crate::store::{self, Actor, ClaimedSaga, NewSaga, StartWrite, Started, Store};
use crate::telemetry as m;

/// A saga to start: its workflow by name (the latest loaded version), its input and who asks.
#[derive(Debug, Clone)]
pub struct StartSaga {
    pub workflow: String,
    pub input: Value,
    pub business_key: Option<String>,
    pub idempotency_key: Option<String>,
    /// Hash of the request, so a key reused with another request is refused (409).
    pub request_hash: Option<String>,
    /// Who starts it: `cron:<job>`, `operator:<name>`, `service:<name>`, `partner:<id>` …
    pub actor: String,
}

/// Why a start did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The workflow is not loaded on this node (its file is missing or failed to load).
    #[error("no workflow named {0:?} is loaded on this server")]
    UnknownWorkflow(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// A saga handed to this process's worker together with the capacity reserved for it.
pub type Handoff = (ClaimedSaga, OwnedSemaphorePermit);

/// The worker running in this process, if any: where new sagas can go straight away.
#[derive(Clone)]
pub struct LocalWorker {
    pub id: String,
    pub permits: Arc<Semaphore>,
    pub inbox: mpsc::UnboundedSender<Handoff>,
}

pub struct Runtime {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub registry: Arc<ActionRegistry>,
    pub clock: Arc<dyn Clock>,
    pub worker: WorkerSettings,
    /// What each workflow's family hears when one of its sagas starts or finishes.
    pub hooks: Hooks,
    /// Rung when work may be due (a start, a signal, a NOTIFY from another node).
    pub wake: Arc<Notify>,
    /// Definitions of versions no longer in `workflows/`, read back from the database.
    pinned: Mutex<HashMap<(String, i32), Arc<WorkflowDef>>>,
    /// Set while a worker runs in this process.
    local: Mutex<Option<LocalWorker>>,
    /// Batches starts that write nothing of their own; spawned by the first start, inside
    /// the async runtime.
    starter: OnceLock<Starter>,
}

impl Runtime {
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        registry: Arc<ActionRegistry>,
        clock: Arc<dyn Clock>,
        worker: WorkerSettings,
        hooks: Hooks,
    ) -> Self {
        Self {
            store,
            catalog,
            registry,
            clock,
            worker,
            hooks,
            wake: Arc::new(Notify::new()),
            pinned: Mutex::new(HashMap::new()),
            local: Mutex::new(None),
            starter: OnceLock::new(),
        }
    }

    pub(crate) fn set_local_worker(&self, worker: LocalWorker) {
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = Some(worker);
    }

    /// Forgets the local worker `id`, unless another has registered since.
    pub(crate) fn clear_local_worker(&self, id: &str) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.as_ref().is_some_and(|w| w.id == id) {
            *local = None;
        }
    }

    /// Starts a saga: the one way any saga begins (the API, each family's routes, cron and
    /// bulk jobs). In one transaction it inserts the saga, answers its idempotency key and runs
    /// the caller's `write` (its own rows, given the new saga's id). After the commit it counts
    /// the start, tells the workflow's hooks (order KPIs) and gets the saga running: when this
    /// process runs a worker with room, the saga was inserted already leased to it and is
    /// handed over in memory (no claim commit, no wake-up delay); otherwise any worker is woken.
    /// Starts without a `write` of their own share commits with whatever else is starting
    /// (`starter.rs`).
    pub async fn start(
        &self,
        start: StartSaga,
        write: Option<StartWrite>,
    ) -> Result<Started, StartError> {
        let def = self
            .catalog
            .latest(&start.workflow)
            .ok_or_else(|| StartError::UnknownWorkflow(start.workflow.clone()))?;
        let new = NewSaga {
            workflow: def.name.clone(),
            workflow_version: def.version,
            input: start.input,
            business_key: start.business_key,
            idempotency_key: start.idempotency_key,
            request_hash: start.request_hash,
            actor: start.actor,
        };
        let now = self.clock.now();
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let handoff = local.and_then(|local| {
            let permit = local.permits.clone().try_acquire_owned().ok()?;
            Some((local, permit))
        });
        let lease =
            chrono::Duration::from_std(self.worker.lease).unwrap_or(chrono::Duration::seconds(30));
        let lease = handoff
            .as_ref()
            .map(|(local, _)| (local.id.as_str(), now + lease));
        let (started, claimed) = match write {
            Some(write) => {
                self.store
                    .start_saga_with(&new, now, lease, Some(write))
                    .await?
            }
            None => {
                let starter = self
                    .starter
                    .get_or_init(|| Starter::spawn(self.store.clone()));
                starter.start(new.clone(), now, lease).await?
            }
        };
        if let Started::Created(_) = started {
            metrics::counter!(m::SAGAS_STARTED_TOTAL, "workflow" => new.workflow.clone())
                .increment(1);
            self.hooks.started(&new.workflow, &new.input);
        }
        match (claimed, handoff) {
            // If the worker has just stopped, the lease runs out and another node claims the
            // saga: late, never lost.
            (Some(saga), Some((local, permit))) => {
                let _ = local.inbox.send((saga, permit));
            }
            _ => {
                if let Started::Created(_) = started {
                    self.wake.notify_one();
                }
            }
        }
        Ok(started)
    }

    /// An operator's retry, resume or cancel on saga `id`, decided against the definition the
    /// saga is pinned to (see [`operator::apply_with`]), with `write` committing in the same
    /// transaction. Rings this node's worker, as the saga is usually due now.
    pub async fn operate(
        &self,
        id: Uuid,
        event: Event,
        actor: &Actor,
        write: Option<DomainWrite>,
    ) -> store::Result<SagaState> {
        let saga = self.store.get_saga(id).await?;
        let def = self
            .definition(&saga.workflow, saga.workflow_version)
            .await?
            .ok_or_else(|| {
                store::Error::Definition(format!(
                    "{} version {} is not available",
                    saga.workflow, saga.workflow_version
                ))
            })?;
        let state =
            operator::apply_with(&self.store, id, event, &def, actor, self.clock.now(), write)
                .await?;
        self.wake.notify_one();
        Ok(state)
    }

    /// The definition a saga is pinned to: from the files if loaded, else from the database.
    pub async fn definition(
        &self,
        name: &str,
        version: i32,
    ) -> store::Result<Option<Arc<WorkflowDef>>> {
        if let Some(def) = self.catalog.get(name, version) {
            return Ok(Some(def));
        }
        let key = (name.to_string(), version);
        if let Some(def) = self
            .pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Some(def.clone()));
        }
        let Some(def) = self.store.load_definition(name, version).await? else {
            return Ok(None);
        };
        let def = Arc::new(def);
        self.pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, def.clone());
        Ok(Some(def))
    }
}
