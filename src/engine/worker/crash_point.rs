//! Crash points for the crash tests. Built with the `failpoints` feature, a process started
//! with `FAILPOINTS="crash.<workflow>.<step>=return"` aborts right after that step's action
//! returned and before its checkpoint: the moment a real crash loses the record of an effect
//! that happened. `.undo`, `.signal` and `.poll` name a compensation, a signal's reading and
//! a poll. Without the feature this compiles to nothing.

use super::outcome::Phase;

#[cfg(any(feature = "failpoints", test))]
/// The crash point's name for one step and phase.
pub(super) fn name(workflow: &str, step: &str, phase: Phase) -> String {
    let suffix = match phase {
        Phase::Action => "",
        Phase::Compensation => ".undo",
        Phase::Signal => ".signal",
        Phase::Poll => ".poll",
    };
    format!("crash.{workflow}.{step}{suffix}")
}

/// Aborts the process when the crash point for this step is configured.
#[cfg(feature = "failpoints")]
pub(super) fn before_checkpoint(workflow: &str, step: &str, phase: Phase) {
    let point = name(workflow, step, phase);
    if fail::eval(&point, |_| ()).is_some() {
        eprintln!("crash point {point}: aborting before the checkpoint");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
pub(super) fn before_checkpoint(_workflow: &str, _step: &str, _phase: Phase) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_workflow_step_and_phase() {
        assert_eq!(
            name("orders", "deliver", Phase::Action),
            "crash.orders.deliver"
        );
        assert_eq!(
            name("orders", "ship", Phase::Compensation),
            "crash.orders.ship.undo"
        );
    }
}
