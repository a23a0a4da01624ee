//! Queues: a workflow step may name one (orders, shipments, automation …) in its definition,
//! and at most `[worker.queues]` N sagas run a step of a queue at once across every node on
//! the database (`store::queues` holds the shared slots). This file holds the limits' defaults
//! and checks, what a long step reports while it runs, and what a step's job-run status
//! becomes after a decision. Steps without a queue cost nothing here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::definition::Catalog;
use super::lifecycle::{Next, SagaState};

/// The brief's defaults, used when `[worker.queues]` is not configured at all.
const DEFAULT_LIMITS: [(&str, u32); 3] = [("orders", 5), ("shipments", 10), ("automation", 5)];

/// The largest limit accepted: each slot is a row, and a bigger number is a typo.
pub const MAX_LIMIT: u32 = 10_000;

pub fn default_limits() -> BTreeMap<String, u32> {
    DEFAULT_LIMITS
        .iter()
        .map(|(q, n)| ((*q).to_string(), *n))
        .collect()
}

/// A queue name as definitions and settings spell it: lowercase letters, digits, `_` and `-`.
pub fn valid_name(queue: &str) -> bool {
    !queue.is_empty()
        && queue.len() <= 40
        && queue
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks the limits and that every queue a workflow names has one. Each problem is a line of
/// the start-up error: a step of an unlimited queue would otherwise run unchecked.
pub fn check(limits: &BTreeMap<String, u32>, catalog: &Catalog) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for (queue, limit) in limits {
        if !valid_name(queue) {
            problems.push(format!(
                "[worker.queues] {queue:?}: a queue name is lowercase letters, digits, _ and -"
            ));
        }
        if *limit == 0 || *limit > MAX_LIMIT {
            problems.push(format!(
                "[worker.queues] {queue} = {limit}: a limit is from 1 to {MAX_LIMIT}"
            ));
        }
    }
    for def in catalog.all() {
        for step in &def.steps {
            if let Some(queue) = &step.queue
                && !limits.contains_key(queue)
            {
                problems.push(format!(
                    "workflow {} step {} runs in queue {queue:?}, which has no limit in [worker.queues]",
                    def.name, step.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What a long step reports while it runs: how far it got (0–100) and what it works on. The
/// worker writes it with the lease's heartbeat and with the attempt's end, never a commit per
/// report. Clones share one report.
#[derive(Debug, Clone, Default)]
pub struct JobReport(Arc<Mutex<Reported>>);

#[derive(Debug, Default)]
struct Reported {
    progress: Option<u8>,
    related: Option<Value>,
    /// Something changed since the worker last wrote it.
    dirty: bool,
}

impl JobReport {
    /// How far the step got, in percent; values above 100 count as 100.
    pub fn progress(&self, percent: u32) {
        let p = percent.min(100) as u8;
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if r.progress != Some(p) {
            r.progress = Some(p);
            r.dirty = true;
        }
    }

    /// Progress as `done` of `total` items (nothing to do counts as done).
    pub fn items(&self, done: usize, total: usize) {
        let percent = (done.min(total) * 100).checked_div(total).unwrap_or(100) as u32;
        self.progress(percent);
    }

    /// What the step works on, for the job run's link: `kind` is `order`, `shipment`,
    /// `automation_step` or another record type of the workflow's family, `href` the route
    /// that shows it, if there is one.
    pub fn relate(&self, kind: &str, id: impl std::fmt::Display, href: Option<String>) {
        let v = json!({ "kind": kind, "id": id.to_string(), "href": href });
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if r.related.as_ref() != Some(&v) {
            r.related = Some(v);
            r.dirty = true;
        }
    }

    /// The report if it changed since the last call; for the worker's heartbeat.
    pub(crate) fn take_changed(&self) -> Option<(Option<u8>, Option<Value>)> {
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !r.dirty {
            return None;
        }
        r.dirty = false;
        Some((r.progress, r.related.clone()))
    }

    /// The report as it stands, for the attempt's end.
    pub(crate) fn current(&self) -> (Option<u8>, Option<Value>) {
        let r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (r.progress, r.related.clone())
    }
}

/// A job run's status after the decision that ends an attempt of step `step`, and when it is
/// retried: `delayed` until its next attempt, `active` while it waits for an outside event,
/// `completed` once the saga moved past it, `failed` when it failed for good (the saga
/// compensates, fails or parks for an operator).
pub(crate) fn status_after(
    step: usize,
    state: &SagaState,
    next: &Next,
) -> (&'static str, Option<chrono::DateTime<chrono::Utc>>) {
    match state {
        SagaState::Running { step: s, .. } if *s == step => match next {
            Next::At(t) => ("delayed", Some(*t)),
            _ => ("queued", None),
        },
        SagaState::Waiting { step: s, .. } if *s == step => ("active", None),
        SagaState::Compensating { .. }
        | SagaState::Compensated
        | SagaState::Failed { .. }
        | SagaState::Parked { .. }
        | SagaState::Cancelled => ("failed", None),
        _ => ("completed", None),
    }
}

#[cfg(test)]
#[path = "queues_tests.rs"]
mod tests;
