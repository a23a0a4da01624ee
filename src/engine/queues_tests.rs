use std::path::Path;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::engine::definition::{Known, parse};

fn catalog_with(step_queue: &str) -> Catalog {
    let text = format!(
        "name = \"q\"\nversion = 1\n\n[[steps]]\nname = \"a\"\naction = \"x\"\n{step_queue}\n\n[[steps]]\nname = \"b\"\naction = \"x\"\n"
    );
    let def = parse(Path::new("q.toml"), &text, &Known::ANY).unwrap();
    let mut cat = Catalog::default();
    cat.insert(def);
    cat
}

#[test]
fn a_step_names_its_queue_and_one_without_has_none() {
    let cat = catalog_with("queue = \"orders\"");
    let def = cat.all().next().unwrap();
    assert_eq!(def.steps[0].queue.as_deref(), Some("orders"));
    assert_eq!(def.steps[1].queue, None);
}

#[test]
fn a_badly_spelt_queue_is_a_definition_error_with_its_line() {
    let text = "name = \"q\"\nversion = 1\n\n[[steps]]\nname = \"a\"\naction = \"x\"\nqueue = \"Orders!\"\n";
    let errors = parse(Path::new("q.toml"), text, &Known::ANY).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 7);
    assert!(
        errors[0].message.contains("queue must be"),
        "{}",
        errors[0].message
    );
}

#[test]
fn a_step_without_a_queue_keeps_the_stored_body_unchanged() {
    let cat = catalog_with("");
    let body = serde_json::to_value(cat.all().next().unwrap().as_ref()).unwrap();
    assert!(body["steps"][0].get("queue").is_none(), "{body}");
}

#[test]
fn the_defaults_are_the_briefs() {
    let limits = default_limits();
    assert_eq!(limits.get("orders"), Some(&5));
    assert_eq!(limits.get("shipments"), Some(&10));
    assert_eq!(limits.get("automation"), Some(&5));
}

#[test]
fn worker_settings_read_queue_limits_and_default_without_them() {
    let with: crate::config::WorkerSettings = toml::from_str(
        "concurrency = 4\nclaim_batch = 2\nlease = \"30s\"\npoll_interval = \"1s\"\nshutdown_timeout = \"1s\"\nqueue_recheck = \"2s\"\n[queues]\norders = 2\nreports = 1\n",
    )
    .unwrap();
    assert_eq!(with.queues.get("orders"), Some(&2));
    assert_eq!(with.queues.get("reports"), Some(&1));
    assert_eq!(
        with.queues.get("shipments"),
        None,
        "a table replaces the defaults"
    );
    assert_eq!(with.queue_recheck, std::time::Duration::from_secs(2));
    let without: crate::config::WorkerSettings = toml::from_str(
        "concurrency = 4\nclaim_batch = 2\nlease = \"30s\"\npoll_interval = \"1s\"\nshutdown_timeout = \"1s\"\n",
    )
    .unwrap();
    assert_eq!(without.queues, default_limits());
    assert_eq!(without.queue_recheck, std::time::Duration::from_millis(500));
}

#[test]
fn the_shipped_settings_carry_the_defaults() {
    let s = crate::config::Settings::defaults().unwrap();
    assert_eq!(s.worker.queues, default_limits());
}

#[test]
fn check_wants_a_limit_for_every_named_queue_and_sane_limits() {
    let cat = catalog_with("queue = \"reports\"");
    let errors = check(&default_limits(), &cat).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("step a runs in queue \"reports\""),
        "{errors:?}"
    );
    let mut limits = default_limits();
    limits.insert("reports".into(), 2);
    assert!(check(&limits, &cat).is_ok());
    limits.insert("orders".into(), 0);
    limits.insert("Bad Name".into(), 1);
    let errors = check(&limits, &cat).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:?}");
    limits.insert("orders".into(), MAX_LIMIT + 1);
    assert_eq!(check(&limits, &cat).unwrap_err().len(), 2);
}

#[test]
fn the_hardware_workflow_maps_its_steps_to_the_briefs_queues() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/hardware_order.toml"
    ))
    .unwrap();
    let known = Known {
        provider_signal: &|name| !name.starts_with("hardware."),
        ..Known::ANY
    };
    let def = parse(Path::new("hardware_order.toml"), &text, &known).unwrap();
    let map: Vec<(&str, Option<&str>)> = def
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.queue.as_deref()))
        .collect();
    assert_eq!(
        map,
        vec![
            ("price_resolve", Some("orders")),
            ("checkout", Some("orders")),
            ("fulfill", Some("shipments")),
            ("ship", Some("shipments")),
            ("automate", Some("automation")),
            ("invoice", Some("orders")),
        ]
    );
    let mut cat = Catalog::default();
    cat.insert(def);
    assert!(check(&default_limits(), &cat).is_ok());
}

#[test]
fn progress_reports_are_clamped_counted_and_only_handed_on_when_changed() {
    let r = JobReport::default();
    assert_eq!(r.take_changed(), None);
    r.progress(250);
    r.relate("shipment", "s-1", Some("/v1/shipments/s-1".into()));
    assert_eq!(
        r.take_changed(),
        Some((
            Some(100),
            Some(json!({ "kind": "shipment", "id": "s-1", "href": "/v1/shipments/s-1" }))
        ))
    );
    assert_eq!(r.take_changed(), None, "nothing changed since");
    r.progress(100);
    assert_eq!(r.take_changed(), None, "the same value is no change");
    r.items(1, 3);
    assert_eq!(r.current().0, Some(33));
    r.items(0, 0);
    assert_eq!(r.current().0, Some(100));
    let shared = r.clone();
    shared.items(2, 4);
    assert_eq!(r.current().0, Some(50), "clones share one report");
}

#[test]
fn a_job_runs_status_follows_the_decision() {
    let t = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    let running = |step| SagaState::Running { step, attempt: 2 };
    assert_eq!(
        status_after(1, &running(1), &Next::At(t)),
        ("delayed", Some(t))
    );
    assert_eq!(status_after(1, &running(1), &Next::Now), ("queued", None));
    assert_eq!(
        status_after(1, &running(2), &Next::Now),
        ("completed", None)
    );
    assert_eq!(
        status_after(1, &SagaState::Completed, &Next::Idle),
        ("completed", None)
    );
    let waiting = SagaState::Waiting {
        step: 1,
        attempt: 1,
        signal: "s".into(),
        until: t,
        polls: 0,
    };
    assert_eq!(status_after(1, &waiting, &Next::At(t)), ("active", None));
    assert_eq!(status_after(0, &waiting, &Next::At(t)), ("completed", None));
    assert_eq!(
        status_after(1, &SagaState::Compensated, &Next::Idle).0,
        "failed"
    );
    assert_eq!(
        status_after(1, &SagaState::Cancelled, &Next::Idle).0,
        "failed"
    );
}
