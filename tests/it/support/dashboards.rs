//! The dashboard query checker: every PromQL expression in every dashboard panel (and every
//! template variable query) must parse, as `promtool check rules` sees it, and must name only
//! series a live exposition carries.
//!
//! Grafana variables are substituted first: `$__rate_interval` and friends by durations,
//! `$workflow`-style variables by `.*` (they only ever sit inside `=~` matchers here).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::prometheus;

pub fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/grafana/dashboards")
}

/// Every dashboard file, with its parsed JSON.
pub fn load_dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("dashboards/grafana/dashboards exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

/// Every panel, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(where, expression)` for every panel target and every query variable.
pub fn expressions(file: &str, dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        for (i, t) in p["targets"].as_array().into_iter().flatten().enumerate() {
            if let Some(e) = t["expr"].as_str() {
                out.push((
                    format!("{file}: panel {:?} target {i}", p["title"]),
                    e.to_string(),
                ));
            }
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str());
            if let Some(q) = q {
                out.push((format!("{file}: variable {:?}", v["name"]), q.to_string()));
            }
        }
    }
    out
}

/// Replaces Grafana's variables with values PromQL accepts.
pub fn substitute(expr: &str) -> String {
    let mut s = expr.to_string();
    for (var, value) in [
        ("$__rate_interval", "5m"),
        ("${__rate_interval}", "5m"),
        ("$__interval", "1m"),
        ("${__interval}", "1m"),
        ("$__range", "1h"),
        ("${__range}", "1h"),
    ] {
        s = s.replace(var, value);
    }
    // Any other variable is a label-value selection; `.*` is a valid regex for `=~`.
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
            }
        } else {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                chars.next();
            }
        }
        out.push_str(".*");
    }
    out
}

/// `label_values(metric, label)` (Grafana's variable function, not PromQL) → the metric.
fn label_values_metric(q: &str) -> Option<String> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (metric, _label) = inner.rsplit_once(',')?;
    Some(metric.trim().to_string())
}

/// Words that are PromQL syntax rather than metric names (aggregations may be written
/// `sum by (x) (…)`, so they are not always directly followed by a parenthesis).
const KEYWORDS: &[&str] = &[
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "Inf",
    "NaN",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Metric names an expression selects: identifiers outside strings, label matchers and
/// ranges that are neither functions (followed by `(`), keywords, nor the label lists of
/// `by (…)`/`on (…)` and friends.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    // Drop string literals, {…} matchers and […] ranges, keeping the structure around them.
    let mut plain = String::new();
    let (mut quote, mut depth_brace, mut depth_bracket) = (None::<char>, 0, 0);
    let mut prev = ' ';
    for c in expr.chars() {
        if let Some(q) = quote {
            if c == q && prev != '\\' {
                quote = None;
            }
            prev = c;
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace == 0 && depth_bracket == 0 => plain.push(c),
            _ => {}
        }
        if matches!(c, '{' | '}' | '[' | ']' | '"' | '\'' | '`') {
            plain.push(' ');
        }
        prev = c;
    }
    let chars: Vec<char> = plain.chars().collect();
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    // After by/without/on/…, the next parenthesised list holds label names, not metrics.
    let (mut list_next, mut list_depth) = (false, 0usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_start(c) {
            let start = i;
            while i < chars.len() && is_part(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if LABEL_LIST_KEYWORDS.contains(&word.as_str()) {
                list_next = true;
                continue;
            }
            let call = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
            if list_depth == 0 && !call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            // Numbers and durations (5m, 1e3): the whole literal.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        match c {
            '(' if list_next => {
                list_next = false;
                list_depth = 1;
            }
            '(' if list_depth > 0 => list_depth += 1,
            ')' if list_depth > 0 => list_depth -= 1,
            c if !c.is_whitespace() => list_next = false,
            _ => {}
        }
        i += 1;
    }
    names
}

/// Problems with `dashboards` against `exposition`; empty when every query is fine.
pub fn check_queries_in(dashboards: &[(String, Value)], exposition: &str) -> Vec<String> {
    let exported = prometheus::series_names(exposition);
    let mut problems = Vec::new();
    let mut promql = Vec::new();
    for (file, d) in dashboards {
        for (place, raw) in expressions(file, d) {
            let expr = substitute(&raw);
            let names = match label_values_metric(&expr) {
                Some(metric) => BTreeSet::from([metric]),
                None => {
                    promql.push((place.clone(), expr.clone()));
                    metric_names(&expr)
                }
            };
            if names.is_empty() {
                problems.push(format!("{place}: selects no metric: {raw}"));
            }
            for name in names {
                if !exported.contains(&name) {
                    problems.push(format!(
                        "{place}: {name} is not in the live /metrics output: {raw}"
                    ));
                }
            }
        }
    }
    if let Some(tool) = prometheus::promtool() {
        problems.extend(parse_with_promtool(&tool, &promql));
    }
    problems
}

/// The checked-in dashboards against `exposition`.
pub fn check_queries(exposition: &str) -> Vec<String> {
    check_queries_in(&load_dashboards(), exposition)
}

/// Wraps each expression in a recording rule and lets `promtool check rules` parse them all;
/// on failure, checks them one by one to name the offending panels.
fn parse_with_promtool(tool: &PathBuf, exprs: &[(String, String)]) -> Vec<String> {
    let file = |list: &[(String, String)]| {
        let rules: Vec<Value> = list
            .iter()
            .enumerate()
            .map(|(i, (_, e))| serde_json::json!({ "record": format!("dashboard_query_{i}"), "expr": e }))
            .collect();
        // JSON is YAML: promtool reads it as a rules file.
        serde_json::json!({ "groups": [{ "name": "dashboards", "rules": rules }] }).to_string()
    };
    let dir = std::env::temp_dir().join(format!("sagaflow-dashboards-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |text: String| {
        let path = dir.join("rules.yml");
        std::fs::write(&path, text).unwrap();
        prometheus::run_promtool(tool, &["check", "rules", path.to_str().unwrap()], None)
    };
    let (ok, _) = check(file(exprs));
    if ok {
        return Vec::new();
    }
    exprs
        .iter()
        .filter_map(|one| {
            let (ok, out) = check(file(std::slice::from_ref(one)));
            (!ok).then(|| format!("{}: does not parse: {}\n{out}", one.0, one.1))
        })
        .collect()
}
