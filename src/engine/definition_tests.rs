//! The definition parser and loader: what they accept, and the file and line of what they refuse.

use super::*;

fn known_action(name: &str) -> bool {
    name.starts_with("ok.")
}

fn known_signal(name: &str) -> bool {
    matches!(name, "delivered" | "cancelled")
}

const KNOWN: Known<'static> = Known {
    action: &known_action,
    signal: &known_signal,
    provider_signal: &|name| name == "cancelled",
    require_policy: false,
};

const GOOD: &str = r#"
name = "demo"
version = 2

[[steps]]
name = "reserve"
action = "ok.reserve"
compensation = "ok.release"
retry = { schedule = ["5m", "15m", "1h"] }

[[steps]]
name = "deliver"
action = "ok.deliver"
wait = { signal = "delivered", timeout = "10m", poll = "ok.poll" }
timeout = "30s"
on_exhausted = "park"
retry = { initial = "1s", multiplier = 3.0, cap = "1m", jitter = 0.0, max_attempts = 5 }
"#;

#[test]
fn parses_a_full_definition() {
    let def = parse(Path::new("demo.toml"), GOOD, &KNOWN).unwrap();
    assert_eq!(def.version, 2);
    assert_eq!(def.steps.len(), 2);
    assert_eq!(def.steps[0].retry.max_attempts(), 4);
    assert_eq!(def.steps[1].on_exhausted, OnExhausted::Park);
    assert_eq!(
        def.steps[1].wait.as_ref().unwrap().poll.as_deref(),
        Some("ok.poll")
    );
    assert_eq!(def.steps[1].timeout, Some(Duration::from_secs(30)));
    assert_eq!(def.compensable_at_or_before(1), Some(0));
    // Stored as JSON in workflow_definitions: must round-trip exactly.
    let json = serde_json::to_value(&def).unwrap();
    assert_eq!(serde_json::from_value::<WorkflowDef>(json).unwrap(), def);
}

#[test]
fn unknown_action_names_file_and_line() {
    let text = GOOD.replace("ok.deliver", "nope.deliver");
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        "demo.toml:13: unknown step action \"nope.deliver\""
    );
}

#[test]
fn duplicate_steps_and_bad_durations_are_reported() {
    let text = GOOD
        .replace("\"deliver\"", "\"reserve\"")
        .replace("\"15m\"", "\"15 parsecs\"");
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        all.iter()
            .any(|e| e.contains("bad duration \"15 parsecs\"") && e.starts_with("demo.toml:9:")),
        "{all:?}"
    );
    assert!(
        all.iter().any(
            |e| e.contains("duplicate step name \"reserve\"") && e.starts_with("demo.toml:12:")
        ),
        "{all:?}"
    );
}

#[test]
fn syntax_errors_and_unknown_keys_have_lines() {
    let errs = parse(
        Path::new("x.toml"),
        "name = \"x\"\nversion = 1\n[[steps]]\nname = \"a\"\naction = \"ok.a\"\nretries = 3\n",
        &KNOWN,
    )
    .unwrap_err();
    assert_eq!(errs[0].line, 6, "{}", errs[0]);
    assert!(errs[0].message.contains("retries"));
}

#[test]
fn mermaid_shows_steps_and_compensation_chain() {
    let def = parse(Path::new("demo.toml"), GOOD, &KNOWN).unwrap();
    let m = def.mermaid();
    assert!(m.starts_with("flowchart TD"));
    assert!(m.contains("s0 --> s1"));
    assert!(m.contains("s0 -. exhausted .-> c0"));
    assert!(m.contains("s1 -. exhausted .-> parked"));
    assert!(m.contains("c0 --> compensated"));
}

#[test]
fn a_wait_for_a_misspelt_signal_names_file_and_line() {
    let text = GOOD.replace("\"delivered\"", "\"delivred\"");
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        all,
        ["demo.toml:14: wait for unknown signal \"delivred\": no provider or family sends it"]
    );
}

#[test]
fn each_alternative_of_a_wait_must_be_declared() {
    let wait = |signal: &str| {
        let text = GOOD.replace("\"delivered\"", &format!("\"{signal}\""));
        parse(Path::new("demo.toml"), &text, &KNOWN)
            .map(|_| Vec::new())
            .unwrap_or_else(|errs| errs.into_iter().map(|e| e.message).collect())
    };
    assert_eq!(wait("delivered|cancelled"), Vec::<String>::new());
    assert_eq!(
        wait("delivered|canceled"),
        ["wait for unknown signal \"canceled\": no provider or family sends it"]
    );
    // The store splits on the bare bar, so a space would be part of the name.
    assert_eq!(
        wait("delivered | cancelled"),
        [
            "wait for unknown signal \"delivered \": no provider or family sends it",
            "wait for unknown signal \" cancelled\": no provider or family sends it"
        ]
    );
    assert_eq!(wait("").len(), 1);
    // Tests and benchmarks that parse a file on its own accept any name.
    let text = GOOD.replace("\"delivered\"", "\"anything\"");
    assert!(parse(Path::new("demo.toml"), &text, &Known::ANY).is_ok());
}

#[test]
fn loading_a_folder_refuses_a_misspelt_signal_with_its_file() {
    let dir = std::env::temp_dir().join(format!("sagaflow-defs-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("good.toml"), GOOD).unwrap();
    let bad = GOOD
        .replace("\"demo\"", "\"other\"")
        .replace("\"delivered\"", "\"deliverd\"");
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let errs = Catalog::load_dir(&dir, &KNOWN).unwrap_err();
    let file = dir.join("bad.toml");
    assert_eq!(
        errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        [format!(
            "{}:14: wait for unknown signal \"deliverd\": no provider or family sends it",
            file.display()
        )]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const STRICT: Known<'static> = Known {
    require_policy: true,
    ..KNOWN
};

#[test]
fn served_files_declare_who_starts_them_and_where_signals_come_from() {
    let errs = parse(Path::new("demo.toml"), GOOD, &STRICT).unwrap_err();
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        all.iter().any(|e| e.contains("say who may start it")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|e| e.starts_with("demo.toml:14:") && e.contains("needs a source")),
        "{all:?}"
    );
    let declared = GOOD
        .replace("version = 2\n", "version = 2\nstart = \"api\"\n")
        .replace(
            "signal = \"delivered\",",
            "signal = \"delivered|cancelled\", source = { delivered = [\"service\", \"operator\"], cancelled = \"provider\" },",
        );
    let def = parse(Path::new("demo.toml"), &declared, &STRICT).unwrap();
    assert_eq!(def.start, StartPolicy::Api);
    assert_eq!(
        def.signal_sources("delivered"),
        Some(vec![SignalSource::Operator, SignalSource::Service])
    );
    assert_eq!(
        def.signal_sources("cancelled"),
        Some(vec![SignalSource::Provider])
    );
    assert_eq!(def.signal_sources("other"), None);
    let json = serde_json::to_value(&def).unwrap();
    assert_eq!(serde_json::from_value::<WorkflowDef>(json).unwrap(), def);
}

#[test]
fn a_providers_signal_comes_from_the_provider_alone() {
    let text = GOOD.replace(
        "signal = \"delivered\",",
        "signal = \"delivered|cancelled\", source = \"operator\",",
    );
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .to_string()
            .contains("\"cancelled\" is a provider's signal")
    );
    let text = GOOD.replace(
        "signal = \"delivered\",",
        "signal = \"delivered\", source = \"provider\",",
    );
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    assert!(
        errs[0].to_string().contains("is no provider's signal"),
        "{errs:?}"
    );
    let text = GOOD.replace(
        "signal = \"delivered\",",
        "signal = \"delivered\", source = \"anyone\",",
    );
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    assert!(
        errs[0].to_string().contains("source \"anyone\""),
        "{errs:?}"
    );
    let text = GOOD.replace("version = 2\n", "version = 2\nstart = \"public\"\n");
    let errs = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap_err();
    assert!(errs[0].to_string().contains("start must be"), "{errs:?}");
    // Without a declaration (a test's own file), a provider's signal is the provider's and
    // the rest come from operators and the owning service.
    let text = GOOD.replace(
        "signal = \"delivered\",",
        "signal = \"delivered|cancelled\",",
    );
    let def = parse(Path::new("demo.toml"), &text, &KNOWN).unwrap();
    assert_eq!(def.start, StartPolicy::System);
    assert_eq!(
        def.signal_sources("cancelled"),
        Some(vec![SignalSource::Provider])
    );
    assert_eq!(
        def.signal_sources("delivered"),
        Some(vec![SignalSource::Operator, SignalSource::Service])
    );
}
