//! The durable runtime. It knows nothing about orders: it claims sagas, runs their steps'
//! actions, asks the lifecycle what comes next and checkpoints the answer.
//!
//! A transition, whoever makes it, goes [`lifecycle`] (decide) → [`transition`] (one row
//! update) → `store` (one fenced write): a worker's through [`worker`] and [`committer`], an
//! operator's through [`operator`].

pub mod action;
pub mod clock;
pub mod committer;
pub mod definition;
pub mod gauges;
pub mod hooks;
pub mod lifecycle;
pub mod operator;
pub mod outbox;
pub mod periodic;
pub mod policy;
pub mod queues;
pub mod retry;
pub mod runtime;
pub mod scheduler;
mod starter;
pub mod transition;
pub mod unwind;
pub mod worker;

pub use action::{
    Action, ActionRegistry, Effects, OutcomeKind, StepContext, StepError, StepOutcome,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use definition::{Catalog, WorkflowDef};
pub use lifecycle::{Decision, Event, Next, SagaState};
pub use runtime::{Runtime, StartError, StartSaga};
