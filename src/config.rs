//! The settings tree: `config/default.toml`, then `DATABASE_URL` and `SAGAFLOW_SECTION__KEY`
//! environment overrides (figment). Secrets never reach a log line: `Debug` is redacted where
//! a field holds one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::providers::ProvidersConfig;

/// Everything a node needs to run; built once at start-up and shared read-only.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub worker: WorkerSettings,
    pub scheduler: SchedulerSettings,
    pub workflows: WorkflowSettings,
    /// Cron jobs by name; each tick starts a saga of `workflow`.
    #[serde(default)]
    pub cron: BTreeMap<String, CronJob>,
    #[serde(default)]
    pub providers: ProvidersConfig,
    /// Who may call the API and the console: hashed tokens and their roles.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Every other table (`[bundles]`, `[partner]`, `[hardware]` …) belongs to a workflow
    /// family, which reads its own with [`Settings::section`]; this file names none of them.
    #[serde(flatten)]
    pub sections: BTreeMap<String, serde_json::Value>,
}

/// API tokens. Only the SHA-256 of each token is configured, so neither the config file nor
/// the database ever holds one in plain text.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Marks the console's session cookie `Secure`; browsers still send it to
    /// http://localhost, so only turn it off behind a plain-HTTP proxy on another host.
    #[serde(default = "yes")]
    pub cookie_secure: bool,
    /// A console session ends after this long unused…
    #[serde(default = "half_an_hour", with = "duration")]
    pub session_idle: Duration,
    /// …and this long after sign-in, however busy.
    #[serde(default = "twelve_hours", with = "duration")]
    pub session_absolute: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            cookie_secure: true,
            session_idle: half_an_hour(),
            session_absolute: twelve_hours(),
        }
    }
}

fn half_an_hour() -> Duration {
    Duration::from_secs(30 * 60)
}

fn twelve_hours() -> Duration {
    Duration::from_secs(12 * 3600)
}

impl AuthSettings {
    /// The console session limits, as the store checks them.
    pub(crate) fn session_limits(&self) -> crate::store::SessionLimits {
        let span =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(12));
        crate::store::SessionLimits {
            idle: span(self.session_idle),
            absolute: span(self.session_absolute),
        }
    }
}

fn yes() -> bool {
    true
}

/// One API token: who holds it (recorded in the audit trail), what it may do, and its hash.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    /// `viewer`, `operator` or `service`.
    pub role: String,
    /// Lowercase hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: String,
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Postgres URL; `DATABASE_URL` overrides it. Redacted from `Debug` because it may carry a
    /// password.
    pub url: String,
    pub max_connections: u32,
    /// A small pool of its own for long reads (the CSV export's cursor), so slow downloads
    /// cannot take the connections workers checkpoint with.
    #[serde(default = "default_read_connections")]
    pub read_connections: u32,
    /// How long a query waits for a connection before it fails (and its loop backs off):
    /// while the database is unreachable nothing waits longer than this.
    #[serde(default = "default_acquire_timeout", with = "duration")]
    pub acquire_timeout: std::time::Duration,
}

fn default_read_connections() -> u32 {
    2
}

fn default_acquire_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .field("read_connections", &self.read_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address the HTTP API binds; port 0 picks a free port (tests use it).
    pub bind: String,
    /// Request bodies larger than this are refused with 413 before they are parsed.
    pub body_limit_bytes: usize,
    /// When set, `/metrics` is served on this address alone instead of on `bind`, so it can
    /// stay open to Prometheus while the API port is exposed.
    #[serde(default)]
    pub metrics_bind: Option<String>,
    /// Lets `serve` start with the simulator's credentials on a real provider URL, or bound
    /// beyond loopback with no API token (see `safety`). For a developer's machine only.
    #[serde(default)]
    pub dev_mode: bool,
    /// Who may read `/metrics` and `/openapi.json` on the API port: `open` (anyone),
    /// `token` (any configured API token) or `closed` (not served there; `/metrics` then
    /// only on `metrics_bind`).
    #[serde(default)]
    pub docs_access: DocsAccess,
}

/// Who may read `/metrics` and `/openapi.json` on the API's port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocsAccess {
    /// Anyone: for a node whose port only trusted scrapers reach.
    Open,
    /// Any configured API token, of any role.
    #[default]
    Token,
    /// Not served on the API port.
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// How many sagas one worker runs at once.
    pub concurrency: usize,
    /// How many sagas one claim statement takes.
    pub claim_batch: i64,
    /// How long a claim holds a saga before another worker may take it over.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// How often a worker looks for due sagas when nothing woke it.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// How long a drain waits for in-flight steps on shutdown before releasing them.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Per-queue concurrency: at most this many sagas run a step of each queue at once,
    /// counted across every node on the database. Every queue a workflow step names needs one.
    #[serde(default = "crate::engine::queues::default_limits")]
    pub queues: BTreeMap<String, u32>,
    /// How long a saga whose queue is full waits before it is claimed again.
    #[serde(default = "default_queue_recheck", with = "duration")]
    pub queue_recheck: Duration,
}

fn default_queue_recheck() -> Duration {
    Duration::from_millis(500)
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// How often cron schedules are evaluated.
    #[serde(with = "duration")]
    pub tick_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowSettings {
    /// Folder holding the `*.toml` workflow definitions.
    pub dir: PathBuf,
}

/// One cron job: a schedule (seconds field first, as the `cron` crate reads it) and the saga
/// each tick starts.
#[derive(Debug, Clone, Deserialize)]
pub struct CronJob {
    pub schedule: String,
    pub workflow: String,
    #[serde(default)]
    pub input: serde_json::Value,
}

impl Settings {
    /// The table `name`, deserialised into its owner's settings type; its defaults when the
    /// table is absent. An error names the table and the key that did not fit.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, SectionError> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(value) => T::deserialize(value).map_err(|source| SectionError {
                table: name.to_string(),
                source,
            }),
        }
    }

    /// Changes the table `name` through its owner's settings type (tests and the demo adjust
    /// a family's settings this way).
    pub fn edit_section<T>(
        &mut self,
        name: &str,
        edit: impl FnOnce(&mut T),
    ) -> Result<(), SectionError>
    where
        T: serde::de::DeserializeOwned + serde::Serialize + Default,
    {
        let mut value: T = self.section(name)?;
        edit(&mut value);
        let value = serde_json::to_value(&value).map_err(|source| SectionError {
            table: name.to_string(),
            source,
        })?;
        self.sections.insert(name.to_string(), value);
        Ok(())
    }

    /// Loads `config/default.toml` (or the file named by `SAGAFLOW_CONFIG`) and applies the
    /// environment on top.
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let file =
            std::env::var("SAGAFLOW_CONFIG").unwrap_or_else(|_| "config/default.toml".into());
        Self::from_figment(Figment::new().merge(Toml::file(file)))
    }

    /// Loads the built-in defaults (compiled in) plus the environment; used by tests and by
    /// commands run outside the repository.
    pub fn defaults() -> Result<Self, Box<figment::Error>> {
        Self::from_figment(Figment::new().merge(Toml::string(DEFAULT_TOML)))
    }

    fn from_figment(base: Figment) -> Result<Self, Box<figment::Error>> {
        base.merge(Env::prefixed("SAGAFLOW_").split("__").ignore(&["config"]))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .extract()
            .map_err(Box::new)
    }
}

/// A family's settings table that does not deserialise.
#[derive(Debug, thiserror::Error)]
#[error("[{table}] is invalid: {source}")]
pub struct SectionError {
    pub table: String,
    #[source]
    pub source: serde_json::Error,
}

/// The repository's `config/default.toml`, compiled in so the binary runs from anywhere.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Serde for human durations such as `"30s"` or `"5m"`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }
}
