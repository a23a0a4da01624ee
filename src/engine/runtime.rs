//! What every engine part shares: the store, the definitions, the actions, the clock and the
//! in-process wake-up bell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::action::ActionRegistry;
use super::clock::Clock;
use super::definition::{Catalog, WorkflowDef};
use crate::config::WorkerSettings;
use crate::store::{self, Store};

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
        }
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
