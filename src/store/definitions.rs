//! Definitions as sagas are pinned to them: stored on start-up, read back for old versions.

use chrono::{DateTime, Utc};

use super::{Error, Result, Store};
use crate::engine::definition::{Catalog, WorkflowDef};

impl Store {
    /// Stores every loaded definition. A (name, version) already stored with a different body
    /// is an error: editing a workflow means bumping its version, or running sagas would
    /// change under their feet.
    pub(crate) async fn register_definitions(
        &self,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for def in catalog.all() {
            let body =
                serde_json::to_value(def.as_ref()).map_err(|e| Error::Corrupt(e.to_string()))?;
            let hash = def.body_hash();
            let stored: String = sqlx::query_scalar(
                "INSERT INTO workflow_definitions (name, version, body, body_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name, version) DO UPDATE SET name = EXCLUDED.name
                 RETURNING body_hash",
            )
            .bind(&def.name)
            .bind(def.version)
            .bind(&body)
            .bind(&hash)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
            if stored != hash {
                return Err(Error::Definition(format!(
                    "workflow {} version {} differs from the stored definition of that version; bump its version",
                    def.name, def.version
                )));
            }
        }
        Ok(())
    }

    /// A stored definition, for sagas pinned to a version no longer in `workflows/`.
    pub(crate) async fn load_definition(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Option<WorkflowDef>> {
        let body: Option<serde_json::Value> = sqlx::query_scalar(
            "SELECT body FROM workflow_definitions WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        body.map(|b| serde_json::from_value(b).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()
    }
}
