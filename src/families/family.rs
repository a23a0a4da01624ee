//! What a workflow family contributes, as one trait, and the assembly that joins every
//! family's parts for the engine, the API and the outbox relay, refusing two parts with one
//! name instead of letting the later one silently win.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};

use crate::api::auth::Tokens;
use crate::api::{AppState, Extensions, OrderView};
use crate::config::{SectionError, Settings};
use crate::engine::action::ActionRegistry;
use crate::engine::hooks::{Hooks, SagaHooks};
use crate::engine::outbox::OutboxHandler;
use crate::providers::Providers;
use crate::store::{self, Store};

/// What a family is built from.
pub struct Context<'a> {
    pub store: &'a Store,
    pub providers: &'a Arc<Providers>,
    pub settings: &'a Settings,
}

/// One workflow family. Everything but its name and actions is optional: a family that has
/// no routes, seeds or outbox topics leaves those out.
#[async_trait]
pub trait Family: Send + Sync {
    /// The family's name, as its folder is named.
    fn name(&self) -> &'static str;

    /// Registers its actions and compensations by the names its workflow files use.
    fn register_actions(&self, registry: &mut ActionRegistry);

    /// The workflows whose sagas it owns, with the hooks the engine calls when one starts or
    /// finishes (order KPIs).
    fn workflows(&self) -> Vec<(&'static str, Arc<dyn SagaHooks>)> {
        Vec::new()
    }

    /// Its HTTP routes, each behind its own guard.
    fn routes(&self, _tokens: &Tokens) -> Router<AppState> {
        Router::new()
    }

    /// The OpenAPI document of its routes, merged into `GET /openapi.json`.
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }

    /// Its view for `GET /v1/orders/{id}`, when it has orders.
    fn order_view(&self) -> Option<Arc<dyn OrderView>> {
        None
    }

    /// Upserts its configured catalogue; run at start-up.
    async fn seed(&self, _store: &Store, _now: DateTime<Utc>) -> store::Result<()> {
        Ok(())
    }

    /// Its outbox topics and the handler that delivers each.
    fn outbox_handlers(&self) -> Vec<(&'static str, Arc<dyn OutboxHandler>)> {
        Vec::new()
    }

    /// Describes its metrics, so `/metrics` carries a `# HELP` line for each.
    fn describe_metrics(&self) {}
}

/// Start-up errors of the assembly. Each names what clashed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SectionError),
    #[error("provider settings are invalid: {0}")]
    Providers(#[from] crate::providers::Error),
    #[error("two families register {kind} {name:?} ({first} and {second})")]
    Duplicate {
        kind: &'static str,
        name: String,
        first: &'static str,
        second: &'static str,
    },
}

/// Every family's parts, joined.
pub struct Assembly {
    families: Vec<Arc<dyn Family>>,
    pub registry: ActionRegistry,
    pub hooks: Hooks,
    pub outbox: HashMap<String, Arc<dyn OutboxHandler>>,
}

/// Remembers which family first used each name of one kind.
struct Names {
    kind: &'static str,
    owners: HashMap<String, &'static str>,
}

impl Names {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            owners: HashMap::new(),
        }
    }

    fn claim(&mut self, name: &str, family: &'static str) -> Result<(), Error> {
        match self.owners.insert(name.to_string(), family) {
            None => Ok(()),
            Some(first) => Err(Error::Duplicate {
                kind: self.kind,
                name: name.to_string(),
                first,
                second: family,
            }),
        }
    }
}

impl Assembly {
    /// Joins `families`, refusing a family name, action, workflow or outbox topic that two
    /// of them register.
    pub fn new(families: Vec<Arc<dyn Family>>) -> Result<Self, Error> {
        let mut names = Names::new("the family name");
        let mut actions = Names::new("the action");
        let mut workflows = Names::new("hooks for the workflow");
        let mut topics = Names::new("the outbox topic");
        let mut registry = ActionRegistry::default();
        let mut hooks = Hooks::default();
        let mut outbox = HashMap::new();
        for family in &families {
            let name = family.name();
            names.claim(name, name)?;
            let mut own = ActionRegistry::default();
            family.register_actions(&mut own);
            if let Some(again) = own.repeated().first() {
                return Err(Error::Duplicate {
                    kind: "the action",
                    name: again.clone(),
                    first: name,
                    second: name,
                });
            }
            let own_names: BTreeSet<String> = own.names().map(str::to_string).collect();
            for action in &own_names {
                actions.claim(action, name)?;
            }
            registry.extend(own);
            for (workflow, h) in family.workflows() {
                workflows.claim(workflow, name)?;
                hooks.insert(workflow, h);
            }
            for (topic, handler) in family.outbox_handlers() {
                topics.claim(topic, name)?;
                outbox.insert(topic.to_string(), handler);
            }
        }
        Ok(Self {
            families,
            registry,
            hooks,
            outbox,
        })
    }

    /// Every family's routes, API document and order view, for the router. Overlapping
    /// routes are refused by axum itself when the router is built.
    pub fn api(&self, tokens: &Tokens) -> Extensions {
        let mut ext = Extensions::default();
        for family in &self.families {
            ext.routes = std::mem::take(&mut ext.routes).merge(family.routes(tokens));
            if let Some(doc) = family.openapi() {
                ext.openapi.merge(doc);
            }
            if let Some(view) = family.order_view() {
                ext.order_views.push(view);
            }
        }
        ext
    }

    /// Seeds every family's catalogue.
    pub async fn seed(&self, store: &Store, now: DateTime<Utc>) -> store::Result<()> {
        for family in &self.families {
            family.seed(store, now).await?;
        }
        Ok(())
    }

    pub fn describe_metrics(&self) {
        for family in &self.families {
            family.describe_metrics();
        }
    }
}
