//! First and last step of a bench run: the scratch database it runs in, created beside the
//! one given and dropped at the end.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// A throwaway database beside the one given, so the bench never touches real data.
pub(super) struct ScratchDb {
    admin: String,
    name: String,
    pub(super) url: String,
}

impl ScratchDb {
    pub(super) async fn create(url: &str) -> anyhow::Result<Self> {
        let (base, db) = url
            .rsplit_once('/')
            .context("database URL has no database name")?;
        let db = db.split('?').next().unwrap_or(db);
        // Unique per run, so two benches (or a bench and its smoke test) on one server never
        // drop each other's database.
        let name = format!("{db}_bench_{:08x}", rand::random::<u32>());
        let admin = url.to_string();
        let mut conn = PgConnection::connect(&admin)
            .await
            .context("connecting to the database")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        Ok(Self {
            admin,
            url: format!("{base}/{name}"),
            name,
        })
    }

    pub(super) async fn drop_it(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}
