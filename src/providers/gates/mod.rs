//! Provider gates: what stands between a step and a provider call. A shared rate limit, a
//! shared concurrency limit, a breaker and an operator's pause, all kept in Postgres so every
//! node sees the same gate. [`Transport`](super::transport) asks [`Gates::admit`] before it
//! sends and calls [`Gates::finish`] after; a call held here was never sent.
//!
//! Cost: with no rate or concurrency configured nothing runs in Postgres per call. Breaker
//! and pause state come from an in-process cache refreshed at most every second, so a pause
//! or an opened breaker is seen by every node within a second.

mod breaker;
mod bucket;
mod leases;
pub mod limits;
mod pause;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

pub use breaker::BreakerRow;
pub use limits::{BreakerConfig, EndpointLimits, LimitsConfig};
pub use pause::{PauseBy, PauseRow, ProviderAction};

use super::metrics::{PROVIDER_BREAKER_OPEN, PROVIDER_HELD_TOTAL, PROVIDER_PAUSED};
use limits::Rate;

/// How stale the breaker and pause cache may get.
const CACHE_TTL: Duration = Duration::from_secs(1);
/// How long a paused call waits before it looks again; a resume wakes it sooner.
const PAUSED_RETRY: Duration = Duration::from_secs(30);

/// Connections for the per-call statements: each holds its gate row only until its commit, so
/// more would only queue on the row lock.
const HOT_CONNECTIONS: u32 = 8;

/// Why a call was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    Rate,
    Concurrency,
    Breaker,
    Paused,
}

impl HeldReason {
    pub fn label(self) -> &'static str {
        match self {
            HeldReason::Rate => "rate",
            HeldReason::Concurrency => "concurrency",
            HeldReason::Breaker => "breaker",
            HeldReason::Paused => "paused",
        }
    }
}

/// A held call: why, a readable explanation, and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub reason: HeldReason,
    pub message: String,
    pub retry_in: Duration,
}

/// What an admitted call holds until [`Gates::finish`].
#[derive(Debug, Default)]
pub(crate) struct Pass {
    leases: Vec<Uuid>,
    probe: bool,
}

/// One provider's limits, resolved for the hot path.
#[derive(Debug, Clone)]
struct Gate {
    limits: LimitsConfig,
    /// Scope `""` and each endpoint with its own numbers: (rate, concurrency).
    scopes: HashMap<String, (Option<Rate>, u32)>,
}

#[derive(Debug, Default)]
struct Cache {
    at: Option<Instant>,
    breakers: HashMap<String, BreakerRow>,
    /// (provider, endpoint) pairs paused; endpoint `""` is the whole provider.
    paused: HashSet<(String, String)>,
}

/// Every provider's gate, shared by the clients of one node.
#[derive(Debug)]
pub struct Gates {
    /// For the operators' pauses and resumes and the status reads: committed as usual.
    pool: PgPool,
    /// For the per-call statements (tokens, permits, breaker counts): commits that do not wait
    /// for the WAL flush (`synchronous_commit = off`). Every node still sees each one at once;
    /// a database crash may forget the last fraction of a second of them, which costs at worst
    /// a token or a permit handed out twice, or a failure uncounted. Waiting for the flush
    /// would serialise a limited provider's calls on its gate row at one fsync each.
    hot: PgPool,
    /// This node's name on its concurrency permits.
    holder: String,
    gates: BTreeMap<String, Gate>,
    cache: std::sync::Mutex<Cache>,
    /// One refresh at a time; the others read the cache as it is.
    refreshing: tokio::sync::Mutex<()>,
}

/// The limits of every provider, validated: a start-up error names the bad setting.
pub fn validate(limits: &[(&str, &LimitsConfig)]) -> Result<(), String> {
    limits.iter().try_for_each(|(p, l)| l.validate(p))
}

/// A provider's state as `GET /v1/providers` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderStatus {
    pub provider: String,
    pub limits: LimitsConfig,
    pub breaker: Option<BreakerRow>,
    pub pauses: Vec<PauseRow>,
}

fn is_breaker_failure(err: &super::Error) -> bool {
    matches!(
        err,
        super::Error::Timeout { .. } | super::Error::Connect { .. } | super::Error::Server { .. }
    )
}

impl Gates {
    /// Validates the limits and makes sure every gate row exists, so the hot path only updates.
    pub async fn start(
        pool: PgPool,
        limits: &[(&str, &LimitsConfig)],
        holder: String,
    ) -> Result<Arc<Self>, super::Error> {
        validate(limits).map_err(super::Error::Config)?;
        let db = |e: sqlx::Error| super::Error::Config(format!("provider gates: {e}"));
        let mut gates = BTreeMap::new();
        for (provider, l) in limits {
            breaker::ensure(&pool, provider).await.map_err(db)?;
            let mut scopes = HashMap::new();
            let mut add = |scope: &str, rate: u32, per: Duration, concurrency: u32| {
                let r = Rate::of(rate, per);
                if r.is_some() || concurrency > 0 {
                    scopes.insert(scope.to_string(), (r, concurrency));
                }
            };
            add("", l.rate, l.per, l.concurrency);
            for (e, el) in &l.endpoints {
                add(e, el.rate, el.per, el.concurrency);
            }
            for (scope, (rate, _)) in &scopes {
                let capacity = rate.map_or(0.0, |r| r.capacity);
                bucket::ensure(&pool, provider, scope, capacity)
                    .await
                    .map_err(db)?;
            }
            gates.insert(
                provider.to_string(),
                Gate {
                    limits: (*l).clone(),
                    scopes,
                },
            );
        }
        let hot = PgPoolOptions::new()
            .max_connections(HOT_CONNECTIONS)
            .connect_lazy_with(
                (*pool.connect_options())
                    .clone()
                    .options([("synchronous_commit", "off")]),
            );
        Ok(Arc::new(Gates {
            pool,
            hot,
            holder,
            gates,
            cache: std::sync::Mutex::new(Cache::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }

    /// Exports every gate series at zero, so dashboards and the alert see each provider
    /// before its first hold. Called once the metrics recorder is installed.
    pub fn zero_series(&self) {
        for provider in self.gates.keys() {
            for reason in [
                HeldReason::Rate,
                HeldReason::Concurrency,
                HeldReason::Breaker,
                HeldReason::Paused,
            ] {
                metrics::counter!(PROVIDER_HELD_TOTAL, "provider" => provider.clone(), "reason" => reason.label())
                    .increment(0);
            }
            metrics::gauge!(PROVIDER_BREAKER_OPEN, "provider" => provider.clone()).set(0.0);
            metrics::gauge!(PROVIDER_PAUSED, "provider" => provider.clone()).set(0.0);
        }
    }

    /// The configured providers, by name.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.gates.keys().map(String::as_str)
    }

    pub fn knows(&self, provider: &str) -> bool {
        self.gates.contains_key(provider)
    }

    /// Re-reads breaker and pause state when the cache is over a second old. A failed read
    /// keeps the old state: the gates fail towards what they last knew.
    async fn refresh(&self, force: bool) {
        let fresh = self
            .cache
            .lock()
            .map(|c| c.at.is_some_and(|at| at.elapsed() < CACHE_TTL))
            .unwrap_or(false);
        if fresh && !force {
            return;
        }
        let Ok(_guard) = self.refreshing.try_lock() else {
            return;
        };
        let read = async {
            let b = breaker::all(&self.pool).await?;
            let p = pause::all(&self.pool).await?;
            Ok::<_, sqlx::Error>((b, p))
        };
        match read.await {
            Ok((breakers, pauses)) => {
                for provider in self.gates.keys() {
                    let open = breakers
                        .iter()
                        .any(|b| &b.provider == provider && b.state != "closed");
                    let paused = pauses.iter().any(|p| &p.provider == provider);
                    metrics::gauge!(PROVIDER_BREAKER_OPEN, "provider" => provider.clone())
                        .set(if open { 1.0 } else { 0.0 });
                    metrics::gauge!(PROVIDER_PAUSED, "provider" => provider.clone())
                        .set(if paused { 1.0 } else { 0.0 });
                }
                if let Ok(mut c) = self.cache.lock() {
                    c.at = Some(Instant::now());
                    c.breakers = breakers
                        .into_iter()
                        .map(|b| (b.provider.clone(), b))
                        .collect();
                    c.paused = pauses
                        .into_iter()
                        .map(|p| (p.provider, p.endpoint))
                        .collect();
                }
            }
            Err(e) => tracing::warn!(error = %e, "provider gate state not refreshed"),
        }
    }

    fn held(provider: &str, reason: HeldReason, message: String, retry_in: Duration) -> Held {
        metrics::counter!(PROVIDER_HELD_TOTAL, "provider" => provider.to_string(), "reason" => reason.label())
            .increment(1);
        Held {
            reason,
            message,
            retry_in,
        }
    }

    /// Decides whether a call to `provider`'s `endpoint` may go now. `timeout` is the call's,
    /// so a permit or probe held by a node that dies is given back soon after.
    pub(crate) async fn admit(
        &self,
        provider: &str,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Pass, Held> {
        let Some(gate) = self.gates.get(provider) else {
            return Ok(Pass::default());
        };
        self.refresh(false).await;
        let (paused, breaker) = match self.cache.lock() {
            Ok(c) => (
                c.paused.contains(&(provider.to_string(), String::new()))
                    || c.paused
                        .contains(&(provider.to_string(), endpoint.to_string())),
                c.breakers.get(provider).cloned(),
            ),
            Err(_) => (false, None),
        };
        if paused {
            return Err(Self::held(
                provider,
                HeldReason::Paused,
                "paused by an operator".to_string(),
                PAUSED_RETRY,
            ));
        }
        let mut pass = Pass::default();
        let cfg = &gate.limits.breaker;
        if cfg.failures > 0
            && let Some(b) = breaker.filter(|b| b.state != "closed")
        {
            let since = b.opened_at.map_or(Duration::ZERO, |at| {
                (Utc::now() - at).to_std().unwrap_or_default()
            });
            let probe_ttl = timeout + Duration::from_secs(5);
            let claimed = since >= cfg.cool_down
                && breaker::claim_probe(&self.hot, provider, cfg.cool_down, probe_ttl)
                    .await
                    .unwrap_or(false);
            if !claimed {
                let left = cfg
                    .cool_down
                    .saturating_sub(since)
                    .max(Duration::from_secs(1));
                return Err(Self::held(
                    provider,
                    HeldReason::Breaker,
                    format!("breaker {} after {} failures", b.state, b.failures),
                    left,
                ));
            }
            pass.probe = true;
        }
        for scope in ["", endpoint] {
            let Some((rate, concurrency)) = gate.scopes.get(scope).copied() else {
                continue;
            };
            let what = if scope.is_empty() {
                "every endpoint"
            } else {
                scope
            };
            if let Some(rate) = rate {
                match bucket::take(&self.hot, provider, scope, rate).await {
                    Ok(Ok(())) => {}
                    Ok(Err(wait)) => {
                        self.finish_held(provider, &mut pass).await;
                        // Spread the waiters over the next token or two, not all at once.
                        let wait = wait.max(0.02) * (1.0 + rand::random::<f64>());
                        return Err(Self::held(
                            provider,
                            HeldReason::Rate,
                            format!(
                                "{what}: over {} requests per {:?}",
                                rate.capacity, gate.limits.per
                            ),
                            Duration::from_secs_f64(wait.min(60.0)),
                        ));
                    }
                    Err(e) => {
                        self.finish_held(provider, &mut pass).await;
                        return Err(Self::held(
                            provider,
                            HeldReason::Rate,
                            format!("{what}: rate limit unreadable: {e}"),
                            Duration::from_secs(1),
                        ));
                    }
                }
            }
            if concurrency > 0 {
                let ttl = timeout * 2 + Duration::from_secs(5);
                match leases::take(&self.hot, provider, scope, concurrency, &self.holder, ttl).await
                {
                    Ok(Some(id)) => pass.leases.push(id),
                    Ok(None) | Err(_) => {
                        self.finish_held(provider, &mut pass).await;
                        let wait = 0.1 + 0.2 * rand::random::<f64>();
                        return Err(Self::held(
                            provider,
                            HeldReason::Concurrency,
                            format!("{what}: {concurrency} calls already in flight"),
                            Duration::from_secs_f64(wait),
                        ));
                    }
                }
            }
        }
        Ok(pass)
    }

    /// Gives back what a call that is not going to be sent after all took: its permits, and a
    /// probe it claimed (the breaker's cool-down runs again rather than closing untested).
    async fn finish_held(&self, provider: &str, pass: &mut Pass) {
        let _ = leases::release(&self.hot, &pass.leases).await;
        pass.leases.clear();
        if pass.probe {
            let _ =
                sqlx::query("UPDATE provider_breakers SET probe_until = NULL WHERE provider = $1")
                    .bind(provider)
                    .execute(&self.pool)
                    .await;
        }
    }

    /// After the call: permits back, and the breaker told how the provider did. A success
    /// writes only when the breaker has something to forget, so healthy calls cost nothing.
    pub(crate) async fn finish(
        &self,
        provider: &str,
        pass: Pass,
        outcome: Result<(), &super::Error>,
    ) {
        if let Err(e) = leases::release(&self.hot, &pass.leases).await {
            tracing::warn!(error = %e, provider, "provider permits not released; they expire");
        }
        let Some(gate) = self.gates.get(provider) else {
            return;
        };
        let written = match outcome {
            Err(err) if is_breaker_failure(err) => {
                let message: String = err.to_string().chars().take(500).collect();
                breaker::failed(&self.hot, provider, gate.limits.breaker.failures, &message)
                    .await
                    .map(|()| true)
            }
            // Our own key refused: every call would be refused alike, so the breaker opens at
            // once (unless switched off) and later calls wait for an operator's fix instead of
            // each meeting the same 401. Its probe tells when the key works again.
            Err(err @ super::Error::Unauthorized { .. }) if gate.limits.breaker.failures > 0 => {
                let message: String = err.to_string().chars().take(500).collect();
                breaker::failed(&self.hot, provider, 1, &message)
                    .await
                    .map(|()| true)
            }
            // A 429 says the provider is up but busy: neither a failure nor a recovery.
            Err(super::Error::RateLimited { .. }) => Ok(false),
            _ => {
                let dirty = pass.probe
                    || self.cache.lock().is_ok_and(|c| {
                        c.breakers
                            .get(provider)
                            .is_some_and(|b| b.failures > 0 || b.state != "closed")
                    });
                if dirty {
                    breaker::succeeded(&self.hot, provider).await.map(|()| true)
                } else {
                    Ok(false)
                }
            }
        };
        match written {
            // This node sees its own change at once rather than a second later.
            Ok(true) => self.refresh(true).await,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, provider, "provider breaker not updated"),
        }
    }

    /// Every configured provider with its limits, breaker and pauses.
    pub async fn status(&self) -> Result<Vec<ProviderStatus>, sqlx::Error> {
        let breakers = breaker::all(&self.pool).await?;
        let pauses = pause::all(&self.pool).await?;
        Ok(self
            .gates
            .iter()
            .map(|(provider, gate)| ProviderStatus {
                provider: provider.clone(),
                limits: gate.limits.clone(),
                breaker: breakers.iter().find(|b| &b.provider == provider).cloned(),
                pauses: pauses
                    .iter()
                    .filter(|p| &p.provider == provider)
                    .cloned()
                    .collect(),
            })
            .collect())
    }

    /// Pauses a provider (or one endpoint), audited; this node sees it at once.
    pub async fn pause(
        &self,
        provider: &str,
        endpoint: &str,
        by: &PauseBy<'_>,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        pause::pause(&self.pool, provider, endpoint, by, at).await?;
        self.refresh(true).await;
        Ok(())
    }

    /// Lifts a pause (and, provider-wide, closes an open breaker), audited; `false` when
    /// neither was in force.
    pub async fn resume(
        &self,
        provider: &str,
        endpoint: &str,
        by: &PauseBy<'_>,
        at: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let lifted = pause::resume(&self.pool, provider, endpoint, by, at).await?;
        self.refresh(true).await;
        Ok(lifted)
    }

    /// The audit of a provider's pauses and resumes, oldest first.
    pub async fn actions(&self, provider: &str) -> Result<Vec<ProviderAction>, sqlx::Error> {
        pause::actions(&self.pool, provider).await
    }

    /// Takes one token from a bucket outside the provider list (a partner key's quota),
    /// creating it full on first use. `Ok(false)` means over the limit.
    pub async fn take_token(
        pool: &PgPool,
        name: &str,
        scope: &str,
        rate: u32,
        per: Duration,
    ) -> Result<bool, sqlx::Error> {
        let Some(rate) = Rate::of(rate, per) else {
            return Ok(true);
        };
        if bucket::take(pool, name, scope, rate).await?.is_ok() {
            return Ok(true);
        }
        bucket::ensure(pool, name, scope, rate.capacity).await?;
        Ok(bucket::take(pool, name, scope, rate).await?.is_ok())
    }
}
