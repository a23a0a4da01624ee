//! The dashboards and alert rules, without a server: every dashboard is strict Grafana
//! dashboard JSON pointing at the provisioned datasource, the alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`), and the query checker that
//! `metrics_live` runs against the live exposition really refuses what it should.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::support;

/// The fields of a Grafana dashboard (schemaVersion 39) these files may use. Unknown fields
/// are refused, so a typo (`pannels`, `datasouce`) fails instead of being ignored by Grafana.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Dashboard {
    uid: String,
    title: String,
    description: String,
    tags: Vec<String>,
    timezone: String,
    schema_version: u32,
    version: u32,
    editable: bool,
    graph_tooltip: u8,
    refresh: String,
    time: TimeRange,
    annotations: Annotations,
    links: Vec<Value>,
    templating: Templating,
    /// Panels and rows: each is checked as a [`Row`] or a [`Panel`] by its `type`.
    panels: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TimeRange {
    from: String,
    to: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Annotations {
    list: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Templating {
    list: Vec<Variable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Variable {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    datasource: DatasourceRef,
    query: VariableQuery,
    definition: String,
    refresh: u8,
    multi: bool,
    include_all: bool,
    all_value: String,
    current: Value,
    sort: u8,
    hide: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct VariableQuery {
    query: String,
    ref_id: String,
}

#[derive(Deserialize, PartialEq, Debug)]
#[serde(deny_unknown_fields)]
struct DatasourceRef {
    #[serde(rename = "type")]
    kind: String,
    uid: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Panel {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    description: String,
    datasource: DatasourceRef,
    grid_pos: GridPos,
    targets: Vec<Target>,
    field_config: FieldConfig,
    options: Value,
}

/// A row header. Rows here are expanded: the panels under a row follow it in the dashboard's
/// list rather than nesting in its `panels`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Row {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    collapsed: bool,
    grid_pos: GridPos,
    panels: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GridPos {
    h: u32,
    w: u32,
    x: u32,
    y: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Target {
    ref_id: String,
    datasource: DatasourceRef,
    expr: String,
    legend_format: String,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FieldConfig {
    defaults: Value,
    overrides: Vec<Value>,
}

const PANEL_TYPES: &[&str] = &[
    "timeseries",
    "stat",
    "heatmap",
    "bargauge",
    "table",
    "gauge",
];

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `key: value` of the first line in a provisioning file whose key is `key`.
fn yaml_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches("- "))
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
}

#[test]
fn dashboards_are_strict_grafana_json_on_the_provisioned_datasource() {
    let ds = std::fs::read_to_string(repo(
        "dashboards/grafana/provisioning/datasources/prometheus.yaml",
    ))
    .unwrap();
    let uid = yaml_value(&ds, "uid").expect("the datasource has a fixed uid");
    assert_eq!(yaml_value(&ds, "type").as_deref(), Some("prometheus"));
    let provider = std::fs::read_to_string(repo(
        "dashboards/grafana/provisioning/dashboards/sagaflow.yaml",
    ))
    .unwrap();
    assert_eq!(yaml_value(&provider, "type").as_deref(), Some("file"));
    assert!(yaml_value(&provider, "path").is_some());

    let dashboards = support::dashboards::load_dashboards();
    assert_eq!(dashboards.len(), 4, "overview, steps, providers, orders");
    let mut uids = BTreeSet::new();
    for (file, json) in &dashboards {
        let d: Dashboard = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{file}: not a valid dashboard: {e}"));
        assert!(
            uids.insert(d.uid.clone()),
            "{file}: duplicate uid {}",
            d.uid
        );
        assert!(
            !d.uid.is_empty() && d.uid.len() <= 40,
            "{file}: Grafana uids are 1 to 40 characters"
        );
        assert!(!d.title.is_empty() && d.schema_version >= 36, "{file}");
        let vars: BTreeMap<_, _> = d
            .templating
            .list
            .iter()
            .map(|v| (v.name.as_str(), v))
            .collect();
        for name in ["workflow", "provider"] {
            let v = vars
                .get(name)
                .unwrap_or_else(|| panic!("{file}: no ${name} variable"));
            assert_eq!(v.datasource.uid, uid, "{file}: ${name}");
        }
        assert!(!d.panels.is_empty(), "{file}");
        let mut ids = BTreeSet::new();
        for raw in &d.panels {
            if raw["type"] == "row" {
                check_row(file, raw, &mut ids);
                continue;
            }
            let p: Panel = serde_json::from_value(raw.clone())
                .unwrap_or_else(|e| panic!("{file}: panel {}: {e}", raw["title"]));
            let at = format!("{file}: panel {:?}", p.title);
            assert!(ids.insert(p.id), "{at}: duplicate id");
            assert!(
                PANEL_TYPES.contains(&p.kind.as_str()),
                "{at}: type {}",
                p.kind
            );
            assert!(
                p.description.len() > 20 && p.description.contains('?'),
                "{at}: the description says what the panel answers"
            );
            assert_eq!(
                p.datasource,
                DatasourceRef {
                    kind: "prometheus".into(),
                    uid: uid.clone()
                },
                "{at}"
            );
            assert!(
                p.grid_pos.x + p.grid_pos.w <= 24,
                "{at}: wider than the grid"
            );
            assert!(!p.targets.is_empty(), "{at}: no query");
            for t in &p.targets {
                assert_eq!(t.datasource.uid, uid, "{at}");
                assert!(!t.expr.trim().is_empty(), "{at}");
            }
        }
    }
}

/// An expanded, full-width row with a title and a unique id.
fn check_row(file: &str, raw: &Value, ids: &mut BTreeSet<u32>) {
    let r: Row = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{file}: row {}: {e}", raw["title"]));
    let at = format!("{file}: row {:?}", r.title);
    assert!(ids.insert(r.id), "{at}: duplicate id");
    assert!(!r.title.is_empty(), "{at}: a row has a title");
    assert!(
        !r.collapsed && r.panels.is_empty(),
        "{at}: rows stay expanded, their panels after them"
    );
    assert!(
        r.grid_pos.x == 0 && r.grid_pos.w == 24 && r.grid_pos.h == 1,
        "{at}: a row spans the grid"
    );
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(tool) = support::prometheus::promtool() else {
        return;
    };
    let rules = repo("dashboards/prometheus/alerts.yml");
    let (ok, out) = support::prometheus::run_promtool(
        &tool,
        &["check", "rules", rules.to_str().unwrap()],
        None,
    );
    assert!(ok, "promtool check rules:\n{out}");
    let text = std::fs::read_to_string(&rules).unwrap();
    let alerts = text.matches("- alert:").count();
    assert_eq!(
        alerts,
        text.matches("runbook:").count(),
        "every alert has a runbook"
    );
    let tests = repo("dashboards/prometheus/alerts.test.yml");
    let (ok, out) =
        support::prometheus::run_promtool(&tool, &["test", "rules", tests.to_str().unwrap()], None);
    assert!(ok, "promtool test rules:\n{out}");
}

/// A small exposition: one counter and one histogram.
const EXPOSITION: &str = "\
# HELP sagaflow_sagas_started_total Sagas started.
# TYPE sagaflow_sagas_started_total counter
sagaflow_sagas_started_total{workflow=\"sample\"} 3
# HELP sagaflow_step_duration_seconds Step duration.
# TYPE sagaflow_step_duration_seconds histogram
sagaflow_step_duration_seconds_bucket{le=\"1\"} 1
sagaflow_step_duration_seconds_bucket{le=\"+Inf\"} 1
sagaflow_step_duration_seconds_sum 0.5
sagaflow_step_duration_seconds_count 1
";

fn one_panel(expr: &str) -> Vec<(String, Value)> {
    vec![(
        "test.json".into(),
        serde_json::json!({ "panels": [{ "title": "t", "targets": [{ "expr": expr }] }] }),
    )]
}

#[test]
fn the_query_checker_accepts_exported_series_with_variables_substituted() {
    let report = support::dashboards::check_queries_in(
        &one_panel(
            "histogram_quantile(0.95, sum by (le, workflow) (rate(sagaflow_step_duration_seconds_bucket{workflow=~\"$workflow\"}[$__rate_interval]))) / on (workflow) group_left sum by (workflow) (rate(sagaflow_sagas_started_total[${__range}]))",
        ),
        EXPOSITION,
    );
    assert!(report.is_empty(), "{report:?}");
}

#[test]
fn the_query_checker_refuses_a_metric_nobody_exports() {
    let report = support::dashboards::check_queries_in(
        &one_panel("sum(rate(sagaflow_shipments_delivered_total{workflow=~\"$workflow\"}[5m]))"),
        EXPOSITION,
    );
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(report[0].contains("sagaflow_shipments_delivered_total"));
    // A histogram is queried through its series: the bare family name selects nothing.
    let report = support::dashboards::check_queries_in(
        &one_panel("rate(sagaflow_step_duration_seconds[5m])"),
        EXPOSITION,
    );
    assert_eq!(report.len(), 1, "{report:?}");
}

#[test]
fn the_query_checker_refuses_a_query_that_does_not_parse() {
    if support::prometheus::promtool().is_none() {
        return;
    }
    let report = support::dashboards::check_queries_in(
        &one_panel("sum by (workflow) (rate(sagaflow_sagas_started_total[5m])"),
        EXPOSITION,
    );
    assert!(
        report.iter().any(|p| p.contains("does not parse")),
        "{report:?}"
    );
}

#[test]
fn metric_names_skip_functions_keywords_labels_and_strings() {
    let names = support::dashboards::metric_names(
        "sum without (instance) (rate(a_total{x=\"b_total\"}[5m] offset 1h)) > bool on (le) group_right (y) c_seconds_bucket or vector(0)",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_total".to_string(), "c_seconds_bucket".to_string()])
    );
}
