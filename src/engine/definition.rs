//! Workflow definitions: parse `workflows/*.toml`, validate them against the registered
//! actions and the declared signals, and render them as Mermaid. Errors name the file and line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::policy::{SignalSource, StartPolicy};
use super::retry::RetryPolicy;

/// One workflow, as the engine runs it. Stored in `workflow_definitions` so a saga keeps the
/// version it started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDef {
    pub name: String,
    pub version: i32,
    #[serde(default)]
    pub description: String,
    /// Who may start it (see [`StartPolicy`]).
    #[serde(default)]
    pub start: StartPolicy,
    pub steps: Vec<StepDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDef {
    pub name: String,
    pub action: String,
    pub compensation: Option<String>,
    pub retry: RetryPolicy,
    pub compensation_retry: RetryPolicy,
    pub wait: Option<WaitDef>,
    /// Longest a single attempt may run before it counts as a retryable timeout.
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub on_exhausted: OnExhausted,
    /// The queue its attempts run in (see `engine::queues`): at most that queue's limit of
    /// sagas run a step of it at once across the nodes. Absent in definitions that name none,
    /// so their stored bodies (and hashes) are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// What a step waits for after its action succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitDef {
    pub signal: String,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// Action asked for the answer when the timeout passes without the signal.
    pub poll: Option<String>,
    /// How many polls that answer "still pending" are tolerated before the step fails.
    pub max_polls: u32,
    /// Where each of its signals may come from, by signal name. Empty in a definition stored
    /// before sources were declared: the API then treats it as the old rules did (operators
    /// and the owning service), a provider's signal excepted.
    #[serde(default)]
    pub sources: BTreeMap<String, Vec<SignalSource>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExhausted {
    Compensate,
    Park,
}

impl WorkflowDef {
    /// Index of the newest step at or before `from` that has a compensation.
    pub(crate) fn compensable_at_or_before(&self, from: usize) -> Option<usize> {
        (0..=from.min(self.steps.len().saturating_sub(1)))
            .rev()
            .find(|&i| self.steps[i].compensation.is_some())
    }

    /// Where signal `name` may come from, joined over every wait that names it; `None` when
    /// no wait of this workflow does.
    pub fn signal_sources(&self, name: &str) -> Option<Vec<SignalSource>> {
        let mut found: Option<Vec<SignalSource>> = None;
        for wait in self.steps.iter().filter_map(|s| s.wait.as_ref()) {
            if !wait.signal.split('|').any(|n| n == name) {
                continue;
            }
            let all = found.get_or_insert_with(Vec::new);
            all.extend(wait.sources.get(name).into_iter().flatten().copied());
        }
        if let Some(all) = found.as_mut() {
            all.sort();
            all.dedup();
        }
        found
    }

    /// Stable hash of the definition, to notice a file edited without a version bump.
    pub(crate) fn body_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let body = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(body))
    }

    /// The saga as a Mermaid flowchart, compensations included.
    pub fn mermaid(&self) -> String {
        let mut out = format!(
            "flowchart TD\n    start([start {} v{}])\n",
            self.name, self.version
        );
        let mut prev = "start".to_string();
        for (i, step) in self.steps.iter().enumerate() {
            let label = match &step.wait {
                Some(w) => format!(
                    "{}<br/>{}<br/>waits for {}",
                    step.name, step.action, w.signal
                ),
                None => format!("{}<br/>{}", step.name, step.action),
            };
            out.push_str(&format!("    s{i}[\"{label}\"]\n    {prev} --> s{i}\n"));
            if let Some(c) = &step.compensation {
                out.push_str(&format!("    c{i}[/\"undo {}<br/>{c}\"/]\n", step.name));
            }
            let on_fail = match step.on_exhausted {
                OnExhausted::Park => "parked".to_string(),
                OnExhausted::Compensate => match self.compensable_at_or_before(i) {
                    Some(j) => format!("c{j}"),
                    None => "compensated".to_string(),
                },
            };
            out.push_str(&format!("    s{i} -. exhausted .-> {on_fail}\n"));
            prev = format!("s{i}");
        }
        out.push_str(&format!("    {prev} --> completed([completed])\n"));
        for (i, step) in self.steps.iter().enumerate().rev() {
            if step.compensation.is_some() {
                let next = i
                    .checked_sub(1)
                    .and_then(|k| self.compensable_at_or_before(k))
                    .map(|k| format!("c{k}"))
                    .unwrap_or_else(|| "compensated".into());
                out.push_str(&format!("    c{i} --> {next}\n"));
                out.push_str(&format!("    c{i} -. exhausted .-> failed([failed])\n"));
            }
        }
        out.push_str("    compensated([compensated])\n    parked([parked])\n");
        out
    }
}

/// A definition file that is wrong, with where.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct DefinitionError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// The names a definition may use, as the layers above the engine know them: the registered
/// actions and the signals something declares it sends, and which of those a provider's
/// webhooks produce. The engine names neither; its caller says (`App::build` and
/// `sagaflow workflows check` from the families and providers).
#[derive(Clone, Copy)]
pub struct Known<'a> {
    pub action: &'a dyn Fn(&str) -> bool,
    pub signal: &'a dyn Fn(&str) -> bool,
    /// Whether a provider's webhooks produce the signal: its wait must say `source =
    /// "provider"`, and no other signal may.
    pub provider_signal: &'a dyn Fn(&str) -> bool,
    /// Whether every file must declare its start policy and every wait its sources. Served
    /// workflows must; a definition parsed on its own for a test or a benchmark need not, and
    /// then starts as `system` and takes signals from operators and its service.
    pub require_policy: bool,
}

impl Known<'static> {
    /// Accepts every name: for tests and benchmarks that parse a definition on its own.
    pub const ANY: Known<'static> = Known {
        action: &|_| true,
        signal: &|_| true,
        provider_signal: &|_| false,
        require_policy: false,
    };
}

/// Every loaded workflow, by name and version.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    by_name: HashMap<String, BTreeMap<i32, Arc<WorkflowDef>>>,
}

impl Catalog {
    pub fn insert(&mut self, def: WorkflowDef) {
        self.by_name
            .entry(def.name.clone())
            .or_default()
            .insert(def.version, Arc::new(def));
    }

    /// The newest version: the one new sagas start on.
    pub fn latest(&self, name: &str) -> Option<Arc<WorkflowDef>> {
        self.by_name.get(name)?.values().next_back().cloned()
    }

    /// The exact version a saga is pinned to.
    pub fn get(&self, name: &str, version: i32) -> Option<Arc<WorkflowDef>> {
        self.by_name.get(name)?.get(&version).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<WorkflowDef>> {
        self.by_name.values().flat_map(|v| v.values())
    }

    /// Loads every `*.toml` in `dir`, validating action and signal names with `known`. All
    /// errors are collected, so one run of `workflows check` reports every broken file.
    pub fn load_dir(dir: &Path, known: &Known<'_>) -> Result<Self, Vec<DefinitionError>> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) => {
                return Err(vec![DefinitionError {
                    file: dir.to_path_buf(),
                    line: 0,
                    message: format!("cannot read the workflows folder: {e}"),
                }]);
            }
        };
        files.sort();
        let mut catalog = Catalog::default();
        let mut errors = Vec::new();
        let mut seen: HashMap<(String, i32), PathBuf> = HashMap::new();
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(DefinitionError {
                        file,
                        line: 0,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            match parse(&file, &text, known) {
                Ok(def) => {
                    let key = (def.name.clone(), def.version);
                    if let Some(other) = seen.get(&key) {
                        errors.push(DefinitionError {
                            file: file.clone(),
                            line: 1,
                            message: format!(
                                "workflow {} version {} is also defined in {}",
                                def.name,
                                def.version,
                                other.display()
                            ),
                        });
                        continue;
                    }
                    seen.insert(key, file.clone());
                    catalog.insert(def);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }
}

// ---- the file format ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    version: Spanned<i64>,
    #[serde(default)]
    description: String,
    start: Option<Spanned<String>>,
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    action: Spanned<String>,
    compensation: Option<Spanned<String>>,
    retry: Option<Spanned<RawRetry>>,
    compensation_retry: Option<Spanned<RawRetry>>,
    wait: Option<Spanned<RawWait>>,
    timeout: Option<Spanned<String>>,
    on_exhausted: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    schedule: Option<Vec<String>>,
    initial: Option<String>,
    multiplier: Option<f64>,
    cap: Option<String>,
    jitter: Option<f64>,
    max_attempts: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    signal: Spanned<String>,
    timeout: String,
    poll: Option<String>,
    max_polls: Option<u32>,
    source: Option<Spanned<RawSource>>,
}

/// A wait's `source`: one source or a list for every signal it names, or a table by signal
/// (`{ "courier.tracking" = "provider", "hardware.shipment_drafted" = "operator" }`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    All(RawSources),
    PerSignal(BTreeMap<String, RawSources>),
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawSources {
    One(String),
    Many(Vec<String>),
}

impl RawSources {
    fn names(&self) -> Vec<String> {
        match self {
            RawSources::One(s) => vec![s.clone()],
            RawSources::Many(v) => v.clone(),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Collects the errors of one file, each placed on its line.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    known: &'a Known<'a>,
    errors: Vec<DefinitionError>,
}

impl Checker<'_> {
    fn error(&mut self, offset: usize, message: String) {
        self.errors.push(DefinitionError {
            file: self.file.to_path_buf(),
            line: line_of(self.text, offset),
            message,
        });
    }

    fn duration(&mut self, what: &str, value: &str, offset: usize) -> Option<Duration> {
        match humantime::parse_duration(value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(offset, format!("{what}: bad duration {value:?} ({e})"));
                None
            }
        }
    }

    fn action(&mut self, name: &str, offset: usize, role: &str) {
        if !(self.known.action)(name) {
            self.error(offset, format!("unknown {role} action {name:?}"));
        }
    }

    /// A wait's signal, or each of its `a|b` alternatives, must be one something sends: a
    /// misspelt name would otherwise be found only when a saga waits for it forever. Split as
    /// the store matches them (`string_to_array(…, '|')`), so `"a | b"` is refused too. Each
    /// also needs its sources, and a provider's signal comes from that provider only.
    fn signal(
        &mut self,
        signal: &Spanned<String>,
        source: Option<&Spanned<RawSource>>,
        at: usize,
    ) -> BTreeMap<String, Vec<SignalSource>> {
        let names: Vec<&str> = signal.get_ref().split('|').collect();
        for name in &names {
            if !(self.known.signal)(name) {
                self.error(
                    signal.span().start,
                    format!("wait for unknown signal {name:?}: no provider or family sends it"),
                );
            }
        }
        let mut sources = BTreeMap::new();
        let at = source.map(|s| s.span().start).unwrap_or(at);
        let per_signal: Vec<(String, Option<RawSources>)> = match source.map(Spanned::get_ref) {
            Some(RawSource::All(all)) => names
                .iter()
                .map(|n| (n.to_string(), Some(all.clone())))
                .collect(),
            Some(RawSource::PerSignal(table)) => {
                for key in table.keys() {
                    if !names.contains(&key.as_str()) {
                        self.error(
                            at,
                            format!("source for {key:?}, which this wait does not name"),
                        );
                    }
                }
                names
                    .iter()
                    .map(|n| (n.to_string(), table.get(*n).cloned()))
                    .collect()
            }
            None => names.iter().map(|n| (n.to_string(), None)).collect(),
        };
        for (name, raw) in per_signal {
            if !(self.known.signal)(&name) {
                // Already refused above: one error per mistake.
                continue;
            }
            let provider = (self.known.provider_signal)(&name);
            let list = match raw {
                Some(raw) => {
                    let mut list = Vec::new();
                    for s in raw.names() {
                        match SignalSource::parse(&s) {
                            Some(src) => list.push(src),
                            None => self.error(
                                at,
                                format!(
                                    "source {s:?} for {name:?}: use provider, operator or service"
                                ),
                            ),
                        }
                    }
                    list.sort();
                    list.dedup();
                    list
                }
                None if self.known.require_policy => {
                    self.error(
                        at,
                        format!("wait for {name:?} needs a source: provider, operator or service"),
                    );
                    continue;
                }
                None if provider => vec![SignalSource::Provider],
                None => vec![SignalSource::Operator, SignalSource::Service],
            };
            if list.is_empty() {
                self.error(at, format!("wait for {name:?} names no source"));
            } else if provider && list != [SignalSource::Provider] {
                self.error(
                    at,
                    format!("{name:?} is a provider's signal: its source is \"provider\" alone"),
                );
            } else if !provider && list.contains(&SignalSource::Provider) {
                self.error(
                    at,
                    format!("{name:?} is no provider's signal: its source cannot be \"provider\""),
                );
            }
            sources.insert(name, list);
        }
        sources
    }

    fn policy(&mut self, raw: &Spanned<RawRetry>, what: &str) -> Option<RetryPolicy> {
        let at = raw.span().start;
        let r = raw.get_ref();
        if let Some(schedule) = &r.schedule {
            if r.initial.is_some()
                || r.multiplier.is_some()
                || r.cap.is_some()
                || r.max_attempts.is_some()
            {
                self.error(
                    at,
                    format!("{what}: use either schedule or exponential settings, not both"),
                );
                return None;
            }
            let delays: Option<Vec<Duration>> = schedule
                .iter()
                .map(|d| self.duration(what, d, at))
                .collect();
            return delays.map(|delays| RetryPolicy::Schedule { delays });
        }
        let initial = self.duration(what, r.initial.as_deref().unwrap_or("1s"), at)?;
        let cap = self.duration(what, r.cap.as_deref().unwrap_or("5m"), at)?;
        let multiplier = r.multiplier.unwrap_or(2.0);
        let jitter = r.jitter.unwrap_or(0.1);
        let max_attempts = r.max_attempts.unwrap_or(3);
        if multiplier < 1.0 || !(0.0..=1.0).contains(&jitter) || max_attempts == 0 {
            self.error(
                at,
                format!(
                    "{what}: multiplier must be >= 1, jitter within 0..1 and max_attempts >= 1"
                ),
            );
            return None;
        }
        Some(RetryPolicy::Exponential {
            initial,
            multiplier,
            cap,
            jitter,
            max_attempts,
        })
    }

    fn step(&mut self, s: &RawStep) -> Option<StepDef> {
        let name = s.name.get_ref().clone();
        self.action(s.action.get_ref(), s.action.span().start, "step");
        if let Some(c) = &s.compensation {
            self.action(c.get_ref(), c.span().start, "compensation");
        }
        let retry = match &s.retry {
            Some(r) => self.policy(r, &format!("step {name} retry")),
            None => Some(RetryPolicy::default_step()),
        };
        let compensation_retry = match &s.compensation_retry {
            Some(r) => self.policy(r, &format!("step {name} compensation_retry")),
            None => Some(RetryPolicy::default_compensation()),
        };
        let wait = match &s.wait {
            Some(w) => {
                let (wr, at) = (w.get_ref(), w.span().start);
                let sources = self.signal(&wr.signal, wr.source.as_ref(), at);
                if let Some(p) = &wr.poll {
                    self.action(p, at, "poll");
                }
                self.duration(&format!("step {name} wait timeout"), &wr.timeout, at)
                    .map(|timeout| WaitDef {
                        signal: wr.signal.get_ref().clone(),
                        timeout,
                        poll: wr.poll.clone(),
                        max_polls: wr.max_polls.unwrap_or(10),
                        sources,
                    })
            }
            None => None,
        };
        let timeout = match &s.timeout {
            Some(t) => self.duration(&format!("step {name} timeout"), t.get_ref(), t.span().start),
            None => None,
        };
        let on_exhausted = match s
            .on_exhausted
            .as_ref()
            .map(|o| (o.get_ref().as_str(), o.span().start))
        {
            None | Some(("compensate", _)) => OnExhausted::Compensate,
            Some(("park", _)) => OnExhausted::Park,
            Some((other, offset)) => {
                self.error(
                    offset,
                    format!("on_exhausted must be \"compensate\" or \"park\", not {other:?}"),
                );
                OnExhausted::Compensate
            }
        };
        if let Some(q) = &s.queue
            && !super::queues::valid_name(q.get_ref())
        {
            self.error(
                q.span().start,
                format!(
                    "queue must be lowercase letters, digits, _ and -, not {:?}",
                    q.get_ref()
                ),
            );
        }
        Some(StepDef {
            name,
            action: s.action.get_ref().clone(),
            compensation: s.compensation.as_ref().map(|c| c.get_ref().clone()),
            retry: retry?,
            compensation_retry: compensation_retry?,
            wait,
            timeout,
            on_exhausted,
            queue: s.queue.as_ref().map(|q| q.get_ref().clone()),
        })
    }
}

/// Parses and validates one definition file.
pub fn parse(
    file: &Path,
    text: &str,
    known: &Known<'_>,
) -> Result<WorkflowDef, Vec<DefinitionError>> {
    let mut check = Checker {
        file,
        text,
        known,
        errors: Vec::new(),
    };
    let raw: RawWorkflow = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            check.error(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_string(),
            );
            return Err(check.errors);
        }
    };
    let version = i32::try_from(*raw.version.get_ref())
        .ok()
        .filter(|v| *v >= 1);
    if version.is_none() {
        check.error(
            raw.version.span().start,
            "version must be a whole number from 1".into(),
        );
    }
    if raw.name.get_ref().trim().is_empty() {
        check.error(raw.name.span().start, "name must not be empty".into());
    }
    if raw.steps.is_empty() {
        check.error(
            raw.name.span().start,
            "a workflow needs at least one step".into(),
        );
    }
    let start = match raw.start.as_ref() {
        Some(s) => StartPolicy::parse(s.get_ref()).unwrap_or_else(|| {
            check.error(
                s.span().start,
                format!(
                    "start must be \"api\", \"family\", \"cron\" or \"system\", not {:?}",
                    s.get_ref()
                ),
            );
            StartPolicy::System
        }),
        None => {
            if known.require_policy {
                check.error(
                    raw.name.span().start,
                    "say who may start it: start = \"api\", \"family\", \"cron\" or \"system\""
                        .into(),
                );
            }
            StartPolicy::System
        }
    };
    let mut names = HashSet::new();
    let mut steps = Vec::new();
    for spanned in &raw.steps {
        let s = spanned.get_ref();
        if !names.insert(s.name.get_ref().clone()) {
            check.error(
                s.name.span().start,
                format!("duplicate step name {:?}", s.name.get_ref()),
            );
        }
        if let Some(step) = check.step(s) {
            steps.push(step);
        }
    }
    let mut errors = check.errors;
    errors.sort_by_key(|e| e.line);
    match (errors.is_empty(), version) {
        (true, Some(version)) => Ok(WorkflowDef {
            name: raw.name.into_inner(),
            version,
            description: raw.description,
            start,
            steps,
        }),
        _ => Err(errors),
    }
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
#[path = "definition_tests.rs"]
mod tests;
