//! Micro-benchmarks of the pure parts of the engine: the lifecycle decider (run once per
//! transition) and the workflow definition parser (run at start-up and by `workflows check`).
//! Run with `cargo bench --bench decider`.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use sagaflow::engine::definition::{Known, WorkflowDef, parse};
use sagaflow::engine::lifecycle::{Event, SagaState, decide};

fn main() {
    divan::main();
}

const SIX: &str = include_str!("../workflows/sample_six.toml");
const SAMPLE: &str = include_str!("../workflows/sample.toml");

fn six() -> Arc<WorkflowDef> {
    Arc::new(parse(Path::new("sample_six.toml"), SIX, &Known::ANY).expect("sample_six parses"))
}

#[divan::bench]
fn decide_step_succeeded(bencher: divan::Bencher) {
    let def = six();
    let state = SagaState::Running {
        step: 2,
        attempt: 1,
    };
    let now = Utc::now();
    bencher.bench(|| {
        decide(
            &def,
            divan::black_box(&state),
            &Event::StepSucceeded { wait: false },
            now,
            0.5,
        )
    });
}

#[divan::bench]
fn decide_retry_scheduled(bencher: divan::Bencher) {
    let def = six();
    let state = SagaState::Running {
        step: 1,
        attempt: 1,
    };
    let event = Event::StepFailed {
        retryable: true,
        retry_after: None,
        reason: "503".into(),
    };
    let now = Utc::now();
    bencher.bench(|| decide(&def, divan::black_box(&state), &event, now, 0.5));
}

#[divan::bench]
fn decide_whole_saga(bencher: divan::Bencher) {
    let def = six();
    let now = Utc::now();
    bencher.bench(|| {
        let mut state = decide(&def, &SagaState::Pending, &Event::Start, now, 0.5).map(|d| d.state);
        while let Ok(s @ SagaState::Running { .. }) = state {
            state =
                decide(&def, &s, &Event::StepSucceeded { wait: false }, now, 0.5).map(|d| d.state);
        }
        state
    });
}

#[divan::bench]
fn state_json_round_trip(bencher: divan::Bencher) {
    let state = SagaState::Waiting {
        step: 2,
        attempt: 1,
        signal: "reseller.order_status".into(),
        until: Utc::now(),
        polls: 0,
    };
    bencher.bench(|| {
        let json = serde_json::to_value(divan::black_box(&state)).expect("serializes");
        serde_json::from_value::<SagaState>(json).expect("deserializes")
    });
}

#[divan::bench]
fn parse_sample_six() -> WorkflowDef {
    parse(
        Path::new("sample_six.toml"),
        divan::black_box(SIX),
        &Known::ANY,
    )
    .expect("parses")
}

#[divan::bench]
fn parse_sample_with_wait_and_retries() -> WorkflowDef {
    parse(
        Path::new("sample.toml"),
        divan::black_box(SAMPLE),
        &Known::ANY,
    )
    .expect("parses")
}
