//! The saga picture: the workflow's steps in order, each with its compensation, coloured by
//! its state in one saga. The graph comes from the saga's pinned [`WorkflowDef`] (the same
//! definition the engine runs); the states come from the saga's history, with its current
//! lifecycle state laid over it, since that is what the saga is doing now.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::SagaState;
use crate::store::EventRow;

/// One node's state in this saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// The step (or, for an undo node, its compensation) has not run.
    NotReached,
    Running {
        attempt: u32,
    },
    Waiting {
        signal: String,
        until: DateTime<Utc>,
    },
    Done,
    Failed,
    Compensated,
    /// Stopped by an operator's cancel while it ran or waited.
    Cancelled,
}

impl NodeState {
    /// The CSS class and the word shown beside the colour.
    pub fn key(&self) -> &'static str {
        match self {
            NodeState::NotReached => "not-reached",
            NodeState::Running { .. } => "running",
            NodeState::Waiting { .. } => "waiting",
            NodeState::Done => "done",
            NodeState::Failed => "failed",
            NodeState::Compensated => "compensated",
            NodeState::Cancelled => "cancelled",
        }
    }

    /// What the node says, icon first, so colour is never the only signal.
    pub fn label(&self) -> String {
        match self {
            NodeState::NotReached => "○ not reached".into(),
            NodeState::Running { attempt } if *attempt > 1 => {
                format!("▶ running, attempt {attempt}")
            }
            NodeState::Running { .. } => "▶ running".into(),
            NodeState::Waiting { .. } => "⏸ waiting".into(),
            NodeState::Done => "✓ done".into(),
            NodeState::Failed => "✗ failed".into(),
            NodeState::Compensated => "↺ compensated".into(),
            NodeState::Cancelled => "■ cancelled".into(),
        }
    }

    fn is_live(&self) -> bool {
        matches!(self, NodeState::Running { .. } | NodeState::Waiting { .. })
    }
}

/// One step of the picture and, when it has one, its compensation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPicture {
    pub name: String,
    pub action: String,
    pub state: NodeState,
    /// The compensation's action and its state; `None` when the step has nothing to undo.
    pub undo: Option<(String, NodeState)>,
}

/// The steps of `def` as they stand in one saga, from its history and its current state.
pub fn derive(def: &WorkflowDef, state: &SagaState, history: &[EventRow]) -> Vec<StepPicture> {
    let n = def.steps.len();
    let mut fwd = vec![NodeState::NotReached; n];
    let mut undo = vec![NodeState::NotReached; n];
    let index = |name: &Option<String>| {
        name.as_deref()
            .and_then(|s| def.steps.iter().position(|d| d.name == s))
    };
    // Each event names the step the saga was on before it (see `worker::checkpoint`).
    for e in history {
        let Some(i) = index(&e.step) else { continue };
        let from = e.detail.get("from").and_then(Value::as_str).unwrap_or("");
        match e.kind.as_str() {
            "step_succeeded" => fwd[i] = NodeState::Done,
            "wait_started" => {
                fwd[i] = NodeState::Waiting {
                    signal: String::new(),
                    until: e.created_at,
                }
            }
            "step_retry_scheduled" => {
                fwd[i] = NodeState::Running {
                    attempt: u32::try_from(e.attempt + 1).unwrap_or(0),
                }
            }
            "step_failed" | "step_parked" => fwd[i] = NodeState::Failed,
            "compensation_retry_scheduled" => undo[i] = NodeState::Running { attempt: 0 },
            "compensation_succeeded" => undo[i] = NodeState::Compensated,
            "compensation_failed" => undo[i] = NodeState::Failed,
            // Resume on a parked step: the operator did the step by hand. On a failed
            // compensation: the operator undid it by hand.
            "operator_resume" if from == "parked" => fwd[i] = NodeState::Done,
            "operator_resume" if from == "failed" => undo[i] = NodeState::Compensated,
            "operator_cancel" if fwd[i].is_live() || from == "parked" => {
                fwd[i] = NodeState::Cancelled
            }
            _ => {}
        }
    }
    // A step still marked running or waiting that the saga is no longer on finished in a way
    // the history tells otherwise (e.g. an operator retry moved on): only the current state
    // may say a step is live.
    for s in fwd.iter_mut().chain(undo.iter_mut()) {
        if s.is_live() {
            *s = NodeState::NotReached;
        }
    }
    match state {
        SagaState::Running { step, attempt } if *step < n => {
            fwd[*step] = NodeState::Running { attempt: *attempt }
        }
        SagaState::Waiting {
            step,
            signal,
            until,
            ..
        } if *step < n => {
            fwd[*step] = NodeState::Waiting {
                signal: signal.clone(),
                until: *until,
            }
        }
        SagaState::Compensating { step, attempt, .. } if *step < n => {
            undo[*step] = NodeState::Running { attempt: *attempt }
        }
        SagaState::Failed { step, .. } if *step < n => undo[*step] = NodeState::Failed,
        SagaState::Parked { step, .. } if *step < n => fwd[*step] = NodeState::Failed,
        _ => {}
    }
    def.steps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            // A done step whose effect was undone reads as compensated; a failed one stays
            // failed (that is why the saga unwound), its undo node says the rest.
            let state = match (&fwd[i], &undo[i]) {
                (NodeState::Done, NodeState::Compensated) => NodeState::Compensated,
                (s, _) => s.clone(),
            };
            StepPicture {
                name: d.name.clone(),
                action: d.action.clone(),
                state,
                undo: d.compensation.clone().map(|c| (c, undo[i].clone())),
            }
        })
        .collect()
}

/// One box of the drawing, placed.
pub struct NodeBox {
    pub x: i32,
    pub y: i32,
    pub text_x: i32,
    pub name_y: i32,
    pub label_y: i32,
    pub title: String,
    pub name: String,
    pub label: String,
    pub state: &'static str,
    pub kind: &'static str,
}

/// A line between two boxes.
pub struct Edge {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
    pub dashed: bool,
}

/// Geometry of the drawing: steps down the left, compensations beside them on the right, so
/// the picture reads top to bottom and stays legible when scaled to a phone's width.
pub const NODE_W: i32 = 170;
pub const NODE_H: i32 = 48;
const GAP_Y: i32 = 22;
const UNDO_X: i32 = 220;
pub const WIDTH: i32 = UNDO_X + NODE_W + 2;

/// The placed boxes and lines for `steps`, and the drawing's height.
pub fn layout(steps: &[StepPicture]) -> (Vec<NodeBox>, Vec<Edge>, i32) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let y = 1 + i as i32 * (NODE_H + GAP_Y);
        let mut title = format!(
            "Step {}: {} ({}), {}",
            i + 1,
            s.name,
            s.action,
            s.state.key()
        );
        if let NodeState::Waiting { signal, until } = &s.state {
            title.push_str(&format!(
                " for {signal} until {}",
                until.format("%H:%M:%S UTC")
            ));
        }
        nodes.push(NodeBox {
            x: 1,
            y,
            text_x: 11,
            name_y: y + 20,
            label_y: y + 38,
            title,
            name: format!("{}. {}", i + 1, s.name),
            label: s.state.label(),
            state: s.state.key(),
            kind: "step",
        });
        if i + 1 < steps.len() {
            edges.push(Edge {
                x1: 1 + NODE_W / 2,
                y1: y + NODE_H,
                x2: 1 + NODE_W / 2,
                y2: y + NODE_H + GAP_Y,
                dashed: false,
            });
        }
        if let Some((action, st)) = &s.undo {
            nodes.push(NodeBox {
                x: UNDO_X,
                y,
                text_x: UNDO_X + 10,
                name_y: y + 20,
                label_y: y + 38,
                title: format!("Undo {}: {action}, {}", s.name, st.key()),
                name: format!("undo {}", s.name),
                label: match st {
                    NodeState::NotReached => "○ not run".into(),
                    other => other.label(),
                },
                state: st.key(),
                kind: "undo",
            });
            edges.push(Edge {
                x1: 1 + NODE_W,
                y1: y + NODE_H / 2,
                x2: UNDO_X,
                y2: y + NODE_H / 2,
                dashed: true,
            });
        }
    }
    let height = steps.len() as i32 * (NODE_H + GAP_Y) - GAP_Y + 2;
    (nodes, edges, height.max(NODE_H + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::definition::{OnExhausted, StepDef};
    use crate::engine::lifecycle::Cause;
    use crate::engine::retry::RetryPolicy;
    use serde_json::json;

    fn step(name: &str, undo: bool) -> StepDef {
        StepDef {
            name: name.into(),
            action: format!("t.{name}"),
            compensation: undo.then(|| format!("t.undo_{name}")),
            retry: RetryPolicy::default_step(),
            compensation_retry: RetryPolicy::default_step(),
            wait: None,
            timeout: None,
            on_exhausted: OnExhausted::Compensate,
            queue: None,
        }
    }

    fn def() -> WorkflowDef {
        WorkflowDef {
            name: "t".into(),
            version: 1,
            description: String::new(),
            start: Default::default(),
            steps: vec![
                step("reserve", true),
                step("charge", true),
                step("deliver", false),
                step("notify", false),
            ],
        }
    }

    fn ev(seq: i32, step: Option<&str>, kind: &str, detail: Value) -> EventRow {
        EventRow {
            seq,
            step: step.map(String::from),
            kind: kind.into(),
            attempt: 1,
            detail,
            actor: "system".into(),
            created_at: Utc::now(),
        }
    }

    fn states(p: &[StepPicture]) -> Vec<(&'static str, Option<&'static str>)> {
        p.iter()
            .map(|s| (s.state.key(), s.undo.as_ref().map(|(_, u)| u.key())))
            .collect()
    }

    #[test]
    fn a_compensated_saga_shows_its_failed_step_and_undone_steps() {
        let h = vec![
            ev(1, None, "saga_started", json!({})),
            ev(2, Some("reserve"), "step_succeeded", json!({})),
            ev(3, Some("charge"), "step_succeeded", json!({})),
            ev(4, Some("deliver"), "step_failed", json!({})),
            ev(5, Some("charge"), "compensation_succeeded", json!({})),
            ev(6, Some("reserve"), "compensation_succeeded", json!({})),
            ev(7, None, "saga_compensated", json!({})),
        ];
        let p = derive(&def(), &SagaState::Compensated, &h);
        assert_eq!(
            states(&p),
            vec![
                ("compensated", Some("compensated")),
                ("compensated", Some("compensated")),
                ("failed", None),
                ("not-reached", None),
            ]
        );
    }

    #[test]
    fn a_waiting_saga_names_its_signal_and_deadline() {
        let until = Utc::now();
        let h = vec![
            ev(1, Some("reserve"), "step_succeeded", json!({})),
            ev(2, Some("charge"), "step_retry_scheduled", json!({})),
            ev(3, Some("charge"), "step_succeeded", json!({})),
            ev(4, Some("deliver"), "wait_started", json!({})),
        ];
        let state = SagaState::Waiting {
            step: 2,
            attempt: 1,
            signal: "t.delivered".into(),
            until,
            polls: 0,
        };
        let p = derive(&def(), &state, &h);
        assert_eq!(p[0].state, NodeState::Done);
        assert_eq!(
            p[1].state,
            NodeState::Done,
            "a retried step that then succeeded is done"
        );
        assert_eq!(
            p[2].state,
            NodeState::Waiting {
                signal: "t.delivered".into(),
                until
            }
        );
        assert_eq!(p[3].state, NodeState::NotReached);
        assert_eq!(p[0].undo.as_ref().map(|u| u.1.key()), Some("not-reached"));
        let (nodes, _, _) = layout(&p);
        let deliver = nodes.iter().find(|n| n.name == "3. deliver").unwrap();
        assert_eq!(deliver.state, "waiting");
        assert!(
            deliver.title.contains("for t.delivered until"),
            "{}",
            deliver.title
        );
    }

    #[test]
    fn a_running_step_and_a_failed_compensation_come_from_the_current_state() {
        let h = vec![ev(1, Some("reserve"), "step_succeeded", json!({}))];
        let p = derive(
            &def(),
            &SagaState::Running {
                step: 1,
                attempt: 3,
            },
            &h,
        );
        assert_eq!(p[1].state, NodeState::Running { attempt: 3 });
        assert_eq!(p[1].state.label(), "▶ running, attempt 3");

        let h = vec![
            ev(1, Some("reserve"), "step_succeeded", json!({})),
            ev(2, Some("charge"), "step_failed", json!({})),
            ev(3, Some("charge"), "compensation_succeeded", json!({})),
            ev(4, Some("reserve"), "compensation_failed", json!({})),
        ];
        let state = SagaState::Failed {
            step: 0,
            reason: "refund rejected".into(),
            cause: Cause::Failure,
        };
        let p = derive(&def(), &state, &h);
        assert_eq!(states(&p)[0], ("done", Some("failed")));
        assert_eq!(states(&p)[1], ("failed", Some("compensated")));
    }

    #[test]
    fn operator_resume_and_cancel_read_as_the_operator_left_them() {
        let h = vec![
            ev(1, Some("reserve"), "step_succeeded", json!({})),
            ev(2, Some("charge"), "step_parked", json!({})),
            ev(
                3,
                Some("charge"),
                "operator_resume",
                json!({"from": "parked", "to": "running"}),
            ),
            ev(4, Some("deliver"), "wait_started", json!({})),
            ev(
                5,
                Some("deliver"),
                "operator_cancel",
                json!({"from": "waiting", "to": "compensating"}),
            ),
        ];
        let state = SagaState::Compensating {
            step: 1,
            attempt: 1,
            cause: Cause::Cancel,
        };
        let p = derive(&def(), &state, &h);
        assert_eq!(states(&p)[1], ("done", Some("running")));
        assert_eq!(p[2].state, NodeState::Cancelled);
    }

    #[test]
    fn the_layout_puts_undo_nodes_beside_their_steps() {
        let p = derive(&def(), &SagaState::Pending, &[]);
        let (nodes, edges, height) = layout(&p);
        // Four steps and two compensations; three arrows down and two dashed lines across.
        assert_eq!(nodes.len(), 6);
        assert_eq!(edges.iter().filter(|e| e.dashed).count(), 2);
        assert_eq!(edges.iter().filter(|e| !e.dashed).count(), 3);
        assert_eq!(height, 4 * NODE_H + 3 * GAP_Y + 2);
        assert!(nodes.iter().all(|n| n.x + NODE_W <= WIDTH));
    }
}
