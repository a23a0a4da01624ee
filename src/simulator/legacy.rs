//! The simulated legacy system behind the bridge: companies, assets and devices, listed page by
//! page (`GET /bridge/v1/{collection}`) and read one by one (`GET /bridge/v1/{collection}/{id}`)
//! with the bridge's Bearer key, under the `bridge.list_records` and `bridge.get_record`
//! faults. Tests and the demo change the legacy side with `PUT` and `DELETE
//! /_sim/bridge/{collection}/{id}`, as a legacy user would.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{Sim, bearer_ok, json_response};
use crate::domain::legacy::{Entity, LegacyRecord};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/bridge/v1/{collection}", get(list))
        .route("/bridge/v1/{collection}/{id}", get(show))
        .route(
            "/_sim/bridge/{collection}/{id}",
            axum::routing::put(put_record).delete(delete_record),
        )
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json_response(status, json!({"error": {"code": code, "message": message}}))
}

fn entity(collection: &str) -> Option<Entity> {
    Entity::ALL
        .into_iter()
        .find(|e| e.collection() == collection)
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let key = sim.lock().config.providers.bridge.api_key.clone();
    bearer_ok(headers, key.expose())
}

#[derive(Deserialize)]
struct Page {
    limit: Option<usize>,
    /// The last id of the previous page.
    cursor: Option<String>,
}

async fn list(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    let s = sim.clone();
    sim.run("bridge.list_records", async move {
        if !authorised(&s, &headers) {
            return error(401, "unauthorized", "invalid api key");
        }
        let Some(entity) = entity(&collection) else {
            return error(404, "not_found", &format!("no collection {collection:?}"));
        };
        let limit = page.limit.unwrap_or(100).clamp(1, 500);
        let state = s.lock();
        let all = state.records.legacy.get(&entity);
        let mut records: Vec<&LegacyRecord> = all
            .map(|m| {
                m.range::<String, _>((
                    page.cursor
                        .clone()
                        .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                    std::ops::Bound::Unbounded,
                ))
                .map(|(_, r)| r)
                .take(limit + 1)
                .collect()
            })
            .unwrap_or_default();
        let more = records.len() > limit;
        records.truncate(limit);
        let next = more.then(|| records.last().map(|r| r.id.clone())).flatten();
        json_response(200, json!({ "records": records, "next_cursor": next }))
    })
    .await
}

async fn show(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let s = sim.clone();
    sim.run("bridge.get_record", async move {
        if !authorised(&s, &headers) {
            return error(401, "unauthorized", "invalid api key");
        }
        let Some(entity) = entity(&collection) else {
            return error(404, "not_found", &format!("no collection {collection:?}"));
        };
        let record = s
            .lock()
            .records
            .legacy
            .get(&entity)
            .and_then(|m| m.get(&id))
            .cloned();
        match record {
            Some(r) => json_response(200, json!(r)),
            None => error(404, "not_found", &format!("no {} {id:?}", entity.as_str())),
        }
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    data: Value,
    /// The legacy record's version; now when absent.
    updated_at: Option<DateTime<Utc>>,
}

async fn put_record(
    State(sim): State<Sim>,
    Path((collection, id)): Path<(String, String)>,
    Json(body): Json<PutBody>,
) -> Response {
    let Some(entity) = entity(&collection) else {
        return error(404, "not_found", &format!("no collection {collection:?}"));
    };
    let record = LegacyRecord {
        id: id.clone(),
        updated_at: body.updated_at.unwrap_or_else(Utc::now),
        data: body.data,
    };
    sim.put_legacy(entity, record.clone());
    json_response(200, json!(record))
}

async fn delete_record(
    State(sim): State<Sim>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let Some(entity) = entity(&collection) else {
        return error(404, "not_found", &format!("no collection {collection:?}"));
    };
    let removed = sim
        .lock()
        .records
        .legacy
        .get_mut(&entity)
        .and_then(|m| m.remove(&id));
    match removed {
        Some(_) => json_response(200, json!({"deleted": id})),
        None => error(404, "not_found", &format!("no {} {id:?}", entity.as_str())),
    }
}

impl Sim {
    /// Creates or replaces a legacy record.
    pub(crate) fn put_legacy(&self, entity: Entity, record: LegacyRecord) {
        self.lock()
            .records
            .legacy
            .entry(entity)
            .or_default()
            .insert(record.id.clone(), record);
    }
}
