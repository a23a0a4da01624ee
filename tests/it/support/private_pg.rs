//! A PostgreSQL server of the test's own (sagaflow's embedded cluster in a temporary
//! directory), for a test that restarts the database: the shared server serves every other
//! test at the same time and must never go down under them.

use sqlx::{Connection, PgConnection};

use sagaflow::embedded::EmbeddedPostgres;

pub struct PrivatePostgres {
    // Declared first, so it is dropped (the server stopped) before its directory goes.
    pg: EmbeddedPostgres,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sagaflow-pg-")
            .tempdir()
            .unwrap();
        let pg = EmbeddedPostgres::start(dir.path()).expect("start a private PostgreSQL");
        Self { pg, _dir: dir }
    }

    /// Stops the server crash-style and starts it again at once.
    pub fn restart_immediately(&self) {
        self.pg.restart_immediately().expect("restart PostgreSQL");
    }

    /// A new database on this server; answers its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut conn = PgConnection::connect(&self.pg.url("postgres"))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        self.pg.url(name)
    }
}
