//! What every engine part shares: the store, the definitions, the actions, the clock and the
//! in-process wake-up bell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use uuid::Uuid;

use super::action::{ActionRegistry, DomainWrite};
use super::clock::Clock;
use super::definition::{Catalog, WorkflowDef};
use super::lifecycle::{Event, SagaState};
use super::operator;
use crate::config::WorkerSettings;
use crate::store::{self, Actor, ClaimedSaga, NewSaga, Started, Store};

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
    /// Rung when work may be due (a start, a signal, a NOTIFY from another node).
    pub wake: Arc<Notify>,
    /// Definitions of versions no longer in `workflows/`, read back from the database.
    pinned: Mutex<HashMap<(String, i32), Arc<WorkflowDef>>>,
    /// Set while a worker runs in this process.
    local: Mutex<Option<LocalWorker>>,
}

impl Runtime {
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        registry: Arc<ActionRegistry>,
        clock: Arc<dyn Clock>,
        worker: WorkerSettings,
    ) -> Self {
        Self {
            store,
            catalog,
            registry,
            clock,
            worker,
            wake: Arc::new(Notify::new()),
            pinned: Mutex::new(HashMap::new()),
            local: Mutex::new(None),
        }
    }

    pub fn set_local_worker(&self, worker: LocalWorker) {
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = Some(worker);
    }

    /// Forgets the local worker `id`, unless another has registered since.
    pub fn clear_local_worker(&self, id: &str) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.as_ref().is_some_and(|w| w.id == id) {
            *local = None;
        }
    }

    /// Starts a saga. When this process runs a worker with room, the saga is inserted already
    /// leased to it and handed over in memory: it starts at once, with no claim commit and no
    /// wake-up delay. Otherwise it is queued for any worker and a wake-up is sent.
    pub async fn start(&self, new: &NewSaga) -> store::Result<Started> {
        let now = self.clock.now();
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(local) = local {
            if let Ok(permit) = local.permits.clone().try_acquire_owned() {
                let lease = chrono::Duration::from_std(self.worker.lease)
                    .unwrap_or(chrono::Duration::seconds(30));
                let (started, claimed) = self
                    .store
                    .start_saga_claimed(new, now, &local.id, now + lease)
                    .await?;
                if let Some(saga) = claimed {
                    // If the worker has just stopped, the lease runs out and another node
                    // claims the saga: late, never lost.
                    let _ = local.inbox.send((saga, permit));
                }
                return Ok(started);
            }
        }
        let started = self.store.start_saga(new, now).await?;
        if let Started::Created(_) = started {
            self.wake.notify_one();
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
