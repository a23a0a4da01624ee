//! The legacy mirrors' two workflows. `legacy_sync` refreshes one entity's mirrors from the
//! bridge (every record, or the ids asked) and emits `legacy.sync_completed`; its route emits
//! `legacy.sync_requested` as it starts it. `legacy_drift`, nightly by cron, compares every
//! mirror with the bridge, flags what differs in `legacy_sync_reports` and sets the drift
//! gauge. Both only read the bridge: their writes commit with the checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::metrics as hm;
use super::{Deps, db_error, domain_write};
use crate::domain::legacy::{Drift, Entity, LegacyRecord, classify};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{
    Flagged, emit_legacy_event_in, record_drift_in, remove_mirrors_in, upsert_mirrors_in,
};
use crate::families::provider_error;

/// The refresh workflow, started by `POST /v1/legacy-sync/{entity}/refresh`.
pub const SYNC_WORKFLOW: &str = "legacy_sync";
/// The event its route writes as it starts it.
pub const SYNC_REQUESTED: &str = "legacy.sync_requested";
/// The event its checkpoint writes with the refreshed mirrors.
pub const SYNC_COMPLETED: &str = "legacy.sync_completed";

/// The refresh's input.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RefreshInput {
    pub entity: Entity,
    /// Only these records; every record of the entity when absent.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
}

/// A bridge failure: counted for the alert, then retried by the step's policy.
fn bridge_failed(entity: Entity, operation: &'static str, e: crate::providers::Error) -> StepError {
    metrics::counter!(hm::LEGACY_SYNC_FAILURES_TOTAL, "entity" => entity.as_str(), "operation" => operation)
        .increment(1);
    provider_error(e)
}

pub(crate) struct Refresh(pub Deps);

#[async_trait]
impl Action for Refresh {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let input: RefreshInput = ctx.input_as()?;
        let entity = input.entity;
        let bridge = &self.0.providers.bridge;
        let (records, gone, full) = match &input.ids {
            None => {
                let records = bridge
                    .list_all(entity)
                    .await
                    .map_err(|e| bridge_failed(entity, "refresh", e))?;
                (records, Vec::new(), true)
            }
            Some(ids) => {
                let mut records = Vec::with_capacity(ids.len());
                let mut gone = Vec::new();
                for id in ids {
                    match bridge
                        .get_record(entity, id)
                        .await
                        .map_err(|e| bridge_failed(entity, "refresh", e))?
                    {
                        Some(r) => records.push(r),
                        None => gone.push(id.clone()),
                    }
                }
                (records, gone, false)
            }
        };
        let refreshed: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let output = json!({
            "entity": entity,
            "refreshed": refreshed.len(),
            "gone": gone,
            "full": full,
        });
        let (saga_id, now, event) = (ctx.saga_id, ctx.now, output.clone());
        Ok(
            StepOutcome::done(output).with_write(domain_write(move |conn| {
                Box::pin(async move {
                    upsert_mirrors_in(&mut *conn, entity, &records, now).await?;
                    let keep: BTreeSet<String> = refreshed.into_iter().collect();
                    let removed =
                        remove_mirrors_in(&mut *conn, entity, full.then_some(&keep), &gone).await?;
                    let mut payload = event;
                    payload["removed"] = json!(removed);
                    emit_legacy_event_in(conn, SYNC_COMPLETED, saga_id, &payload, now).await?;
                    Ok(())
                })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

/// The flags of one entity: each record on either side, classified.
fn flags(
    entity: Entity,
    bridge: &[LegacyRecord],
    mirrors: &[crate::domain::legacy::MirrorRecord],
) -> Vec<Flagged> {
    let bridge: BTreeMap<&str, &LegacyRecord> = bridge.iter().map(|r| (r.id.as_str(), r)).collect();
    let mirrors: BTreeMap<&str, _> = mirrors.iter().map(|m| (m.id.as_str(), m)).collect();
    let ids: BTreeSet<&str> = bridge.keys().chain(mirrors.keys()).copied().collect();
    ids.into_iter()
        .filter_map(|id| {
            let (b, m) = (bridge.get(id).copied(), mirrors.get(id).copied());
            classify(b, m).map(|kind| Flagged {
                entity,
                legacy_id: id.to_string(),
                kind,
                detail: json!({
                    "bridge_updated_at": b.map(|b| b.updated_at),
                    "mirror_updated_at": m.map(|m| m.source_updated_at),
                }),
            })
        })
        .collect()
}

pub(crate) struct DetectDrift(pub Deps);

#[async_trait]
impl Action for DetectDrift {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let bridge = &self.0.providers.bridge;
        let mut flagged = Vec::new();
        for entity in Entity::ALL {
            let records = bridge
                .list_all(entity)
                .await
                .map_err(|e| bridge_failed(entity, "drift", e))?;
            let mirrors = self.0.store.mirrors(entity).await.map_err(db_error)?;
            flagged.extend(flags(entity, &records, &mirrors));
        }
        // A company whose legacy id names no mirror is flagged even when the bridge lacks the
        // record too: the company points at nothing.
        for (company, legacy_id) in self
            .0
            .store
            .companies_without_mirror()
            .await
            .map_err(db_error)?
        {
            match flagged.iter_mut().find(|f| {
                f.entity == Entity::Company
                    && f.legacy_id == legacy_id
                    && f.kind == Drift::MissingMirror
            }) {
                Some(f) => f.detail["company_id"] = json!(company),
                None => flagged.push(Flagged {
                    entity: Entity::Company,
                    legacy_id,
                    kind: Drift::MissingMirror,
                    detail: json!({ "company_id": company, "bridge_updated_at": null }),
                }),
            }
        }
        let mut counts: BTreeMap<(Entity, &str), usize> = BTreeMap::new();
        for f in &flagged {
            *counts.entry((f.entity, f.kind.as_str())).or_default() += 1;
        }
        // Every (entity, kind) gets a value, 0 included, so the dashboard sees a series.
        for entity in Entity::ALL {
            for kind in [
                Drift::MissingMirror,
                Drift::Orphaned,
                Drift::Stale,
                Drift::Inconsistent,
            ] {
                let n = counts.get(&(entity, kind.as_str())).copied().unwrap_or(0);
                metrics::gauge!(hm::LEGACY_DRIFT_RECORDS, "entity" => entity.as_str(), "kind" => kind.as_str())
                    .set(n as f64);
            }
        }
        let output = json!({
            "flagged": flagged.len(),
            "by_kind": counts.iter().map(|((e, k), n)| json!({"entity": e, "kind": k, "count": n})).collect::<Vec<_>>(),
        });
        let (saga_id, now) = (ctx.saga_id, ctx.now);
        Ok(
            StepOutcome::done(output).with_write(domain_write(move |conn| {
                Box::pin(async move {
                    Ok(record_drift_in(conn, saga_id, &Entity::ALL, &flagged, now).await?)
                })
            })),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
