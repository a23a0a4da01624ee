//! What a workflow family contributes, as one trait, and the assembly that joins every
//! family's parts for the engine, the API, the outbox relay and the workflow check, refusing
//! two parts with one name instead of letting the later one silently win.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};

use crate::api::auth::Tokens;
use crate::api::{AppState, Extensions, OrderView, SignalListener};
use crate::config::{SectionError, Settings};
use crate::engine::action::ActionRegistry;
use crate::engine::hooks::{Hooks, SagaHooks};
use crate::engine::outbox::OutboxHandler;
use crate::engine::periodic::PeriodicJob;
use crate::providers::{Providers, webhooks};
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

    /// Its console pages under `/ui`: served behind the console's session (viewers and
    /// operators), with its security headers; handlers check `can_operate` and CSRF for forms.
    fn console_routes(&self) -> Router<AppState> {
        Router::new()
    }

    /// The OpenAPI document of its routes, merged into `GET /openapi.json`.
    fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        None
    }

    /// The input check of each of its workflows callers start through `POST /v1/sagas`
    /// (`start = "api"`): the door refuses an input it does not accept, with its reason.
    fn input_checks(&self) -> Vec<(&'static str, crate::api::InputCheck)> {
        Vec::new()
    }

    /// Its view for `GET /v1/orders/{id}`, when it has orders.
    fn order_view(&self) -> Option<Arc<dyn OrderView>> {
        None
    }

    /// Its listener for verified provider events no saga waits for, if it has one.
    fn signal_listener(&self) -> Option<Arc<dyn SignalListener>> {
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

    /// Work it runs on a schedule that is not a saga (a provider balance read, say): the
    /// scheduler role claims each tick once across nodes and runs it. Names share `cron_runs`
    /// with `[cron.<name>]` jobs, so prefix them with the family's name.
    fn periodic_jobs(&self) -> Vec<PeriodicJob> {
        Vec::new()
    }

    /// The signals it sends its own sagas (an operator's route, say), which its workflow
    /// files may wait on. Providers' webhook signals are declared by the providers
    /// (`providers::webhooks::INBOUND`), not here.
    fn signals(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Start-up errors of the assembly. Each names what clashed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] SectionError),
    #[error("provider settings are invalid: {0}")]
    Providers(#[from] crate::providers::Error),
    #[error("the {family} family's routes overlap routes already served: {message}")]
    Route {
        family: &'static str,
        message: String,
    },
    #[error("two families register {kind} {name:?} ({first} and {second})")]
    Duplicate {
        kind: &'static str,
        name: String,
        first: &'static str,
        second: &'static str,
    },
    #[error(
        "the family {family} declares the signal {name:?}, which the {provider} provider's webhooks produce"
    )]
    ProviderSignal {
        name: &'static str,
        family: &'static str,
        provider: &'static str,
    },
    #[error(
        "the {family} family's actions {names:?} do not declare how their effect stays single (a provider key, verify first, or internal)"
    )]
    UndeclaredEffect {
        family: &'static str,
        names: Vec<String>,
    },
}

/// Merges two routers, turning axum's panic on an overlapping route into its message.
pub(crate) fn merge_routes(
    a: Router<AppState>,
    b: Router<AppState>,
) -> Result<Router<AppState>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.merge(b)))
        .map_err(|panic| crate::engine::unwind::message(panic.as_ref()))
}

/// Every family's parts, joined.
pub struct Assembly {
    families: Vec<Arc<dyn Family>>,
    pub registry: ActionRegistry,
    pub hooks: Hooks,
    pub outbox: HashMap<String, Arc<dyn OutboxHandler>>,
    /// Every signal a workflow may wait on: the providers' webhook signals and the families'.
    signals: BTreeSet<&'static str>,
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
    /// Joins `families`, refusing a family name, action, workflow, outbox topic or signal
    /// that two of them register, and a signal a provider's webhooks already produce.
    pub fn new(families: Vec<Arc<dyn Family>>) -> Result<Self, Error> {
        let mut names = Names::new("the family name");
        let mut actions = Names::new("the action");
        let mut workflows = Names::new("hooks for the workflow");
        let mut topics = Names::new("the outbox topic");
        let mut signals = Names::new("the signal");
        let providers: BTreeMap<&'static str, &'static str> =
            webhooks::signals().map(|(p, s)| (s, p)).collect();
        let mut declared: BTreeSet<&'static str> = providers.keys().copied().collect();
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
            let undeclared = own.undeclared();
            if !undeclared.is_empty() {
                return Err(Error::UndeclaredEffect {
                    family: name,
                    names: undeclared.into_iter().map(str::to_string).collect(),
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
            for &signal in family.signals() {
                if let Some(&provider) = providers.get(signal) {
                    return Err(Error::ProviderSignal {
                        name: signal,
                        family: name,
                        provider,
                    });
                }
                signals.claim(signal, name)?;
                declared.insert(signal);
            }
        }
        Ok(Self {
            families,
            registry,
            hooks,
            outbox,
            signals: declared,
        })
    }

    /// Whether a provider's webhooks or a family produce `signal`: what a workflow's wait may
    /// name.
    pub fn declares_signal(&self, signal: &str) -> bool {
        self.signals.contains(signal)
    }

    /// Every declared signal, sorted.
    pub fn signals(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.signals.iter().copied()
    }

    /// Every family's routes, API document and order view, for the router. A route another
    /// family already serves (same path and method) is refused: axum panics on the overlap,
    /// which this turns into the family's start-up error.
    pub fn api(&self, tokens: &Tokens) -> Result<Extensions, Error> {
        let mut ext = Extensions::default();
        for family in &self.families {
            let (ours, theirs) = (std::mem::take(&mut ext.routes), family.routes(tokens));
            ext.routes = merge_routes(ours, theirs).map_err(|message| Error::Route {
                family: family.name(),
                message,
            })?;
            let (ours, theirs) = (
                std::mem::take(&mut ext.console_routes),
                family.console_routes(),
            );
            ext.console_routes = merge_routes(ours, theirs).map_err(|message| Error::Route {
                family: family.name(),
                message,
            })?;
            if let Some(doc) = family.openapi() {
                ext.openapi.merge(doc);
            }
            if let Some(view) = family.order_view() {
                ext.order_views.push(view);
            }
            if let Some(listener) = family.signal_listener() {
                ext.signal_listeners.push(listener);
            }
            ext.input_checks.extend(family.input_checks());
        }
        Ok(ext)
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

    /// Every family's periodic jobs, for the scheduler (which refuses two with one name).
    pub fn periodic_jobs(&self) -> Vec<PeriodicJob> {
        self.families
            .iter()
            .flat_map(|f| f.periodic_jobs())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A family that only declares signals.
    struct Signals(&'static str, &'static [&'static str]);

    impl Family for Signals {
        fn name(&self) -> &'static str {
            self.0
        }

        fn register_actions(&self, _registry: &mut ActionRegistry) {}

        fn signals(&self) -> &'static [&'static str] {
            self.1
        }
    }

    fn assemble(families: Vec<Signals>) -> Result<Assembly, Error> {
        Assembly::new(
            families
                .into_iter()
                .map(|f| Arc::new(f) as Arc<dyn Family>)
                .collect(),
        )
    }

    #[test]
    fn declared_signals_are_the_providers_and_the_families() {
        let joined = assemble(vec![
            Signals("one", &["one.done"]),
            Signals("two", &["two.done", "two.again"]),
        ])
        .expect("no clash");
        for signal in [
            "one.done",
            "two.done",
            "two.again",
            webhooks::courier::TRACKING,
        ] {
            assert!(joined.declares_signal(signal), "{signal}");
        }
        assert!(!joined.declares_signal("one.dnoe"));
        assert!(!joined.declares_signal(""));
        let count = webhooks::signals().count() + 3;
        assert_eq!(joined.signals().count(), count);
    }

    #[test]
    fn two_families_declaring_one_signal_are_refused() {
        let err = assemble(vec![
            Signals("one", &["shared.done"]),
            Signals("two", &["shared.done"]),
        ])
        .err()
        .expect("refused");
        assert_eq!(
            err.to_string(),
            "two families register the signal \"shared.done\" (one and two)"
        );
    }

    #[test]
    fn a_family_declaring_a_providers_signal_is_refused() {
        let err = assemble(vec![Signals("one", &[webhooks::payments::CHECKOUT])])
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "the family one declares the signal \"payments.checkout\", which the payments \
             provider's webhooks produce"
        );
    }

    /// A family that registers one action, one outbox topic and one route.
    struct Parts {
        name: &'static str,
        action: &'static str,
        topic: &'static str,
        route: &'static str,
    }

    struct Nothing;

    #[async_trait]
    impl OutboxHandler for Nothing {
        async fn deliver(
            &self,
            _item: &crate::store::OutboxItem,
            _now: DateTime<Utc>,
        ) -> crate::engine::outbox::Delivery {
            crate::engine::outbox::Delivery {
                outcome: crate::engine::outbox::DeliveryOutcome::Delivered,
                status_code: None,
                latency_ms: 0,
                error: None,
                retry_after: None,
            }
        }
    }

    struct Noop;

    #[async_trait]
    impl crate::engine::action::Action for Noop {
        async fn run(
            &self,
            _ctx: &crate::engine::action::StepContext,
        ) -> Result<crate::engine::action::StepOutcome, crate::engine::action::StepError> {
            Ok(crate::engine::action::StepOutcome::done(
                serde_json::Value::Null,
            ))
        }

        fn effect(&self) -> crate::engine::action::Effect {
            crate::engine::action::Effect::Internal
        }
    }

    /// An action that calls nobody knows what and says nothing about it.
    struct Silent;

    #[async_trait]
    impl crate::engine::action::Action for Silent {
        async fn run(
            &self,
            _ctx: &crate::engine::action::StepContext,
        ) -> Result<crate::engine::action::StepOutcome, crate::engine::action::StepError> {
            Ok(crate::engine::action::StepOutcome::done(
                serde_json::Value::Null,
            ))
        }
    }

    struct Careless;

    impl Family for Careless {
        fn name(&self) -> &'static str {
            "careless"
        }

        fn register_actions(&self, registry: &mut ActionRegistry) {
            registry.register("careless.ok", Noop);
            registry.register("careless.call", Silent);
        }
    }

    #[test]
    fn an_action_that_does_not_declare_its_effect_is_refused() {
        let err = Assembly::new(vec![Arc::new(Careless) as Arc<dyn Family>])
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "the careless family's actions [\"careless.call\"] do not declare how their effect stays single (a provider key, verify first, or internal)"
        );
    }

    impl Family for Parts {
        fn name(&self) -> &'static str {
            self.name
        }

        fn register_actions(&self, registry: &mut ActionRegistry) {
            registry.register(self.action, Noop);
        }

        fn outbox_handlers(&self) -> Vec<(&'static str, Arc<dyn OutboxHandler>)> {
            vec![(self.topic, Arc::new(Nothing))]
        }

        fn routes(&self, _tokens: &Tokens) -> Router<AppState> {
            Router::new().route(self.route, axum::routing::get(|| async { "" }))
        }
    }

    fn parts(list: Vec<Parts>) -> Result<Assembly, Error> {
        Assembly::new(
            list.into_iter()
                .map(|f| Arc::new(f) as Arc<dyn Family>)
                .collect(),
        )
    }

    fn family(name: &'static str, action: &'static str, topic: &'static str) -> Parts {
        Parts {
            name,
            action,
            topic,
            route: "/v1/own",
        }
    }

    #[test]
    fn two_families_registering_one_action_or_topic_or_name_are_refused() {
        let clash = |list| parts(list).err().expect("refused").to_string();
        assert_eq!(
            clash(vec![
                family("one", "x.run", "a"),
                family("two", "x.run", "b")
            ]),
            "two families register the action \"x.run\" (one and two)"
        );
        assert_eq!(
            clash(vec![
                family("one", "a.run", "t"),
                family("two", "b.run", "t")
            ]),
            "two families register the outbox topic \"t\" (one and two)"
        );
        assert_eq!(
            clash(vec![
                family("one", "a.run", "a"),
                family("one", "b.run", "b")
            ]),
            "two families register the family name \"one\" (one and one)"
        );
        parts(vec![
            family("one", "a.run", "a"),
            family("two", "b.run", "b"),
        ])
        .expect("no clash");
    }

    #[test]
    fn two_families_serving_one_route_are_refused() {
        let joined = parts(vec![
            Parts {
                name: "one",
                action: "a.run",
                topic: "a",
                route: "/v1/same",
            },
            Parts {
                name: "two",
                action: "b.run",
                topic: "b",
                route: "/v1/same",
            },
        ])
        .expect("names do not clash");
        let tokens = Tokens::from_settings(&Default::default());
        let err = joined.api(&tokens).err().expect("refused");
        assert!(
            err.to_string()
                .starts_with("the two family's routes overlap routes already served"),
            "{err}"
        );
    }
}
