//! How the CLI prints sagas: a table for lists, facts plus a timeline for one saga.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The saga list as a table.
pub fn saga_table(items: &[Value]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "id", "workflow", "status", "step", "error", "key", "created", "age",
        ]);
    for i in items {
        t.add_row([
            s(&i["id"]),
            s(&i["workflow"]),
            s(&i["status"]),
            s(&i["current_step"]),
            s(&i["reason_code"]),
            s(&i["business_key"]),
            s(&i["created_at"]),
            i["age_seconds"]
                .as_i64()
                .map(|a| format!("{a}s"))
                .unwrap_or_default(),
        ]);
    }
    t.to_string()
}

/// One saga: its state, then its history as a timeline.
pub fn saga_detail(v: &Value) -> String {
    let mut out = String::new();
    for (label, key) in [
        ("saga", "id"),
        ("workflow", "workflow"),
        ("status", "status"),
        ("business key", "business_key"),
        ("current step", "current_step"),
        ("attempt", "attempt"),
        ("next retry", "next_retry_at"),
        ("created", "created_at"),
        ("finished", "finished_at"),
    ] {
        out.push_str(&format!("{label:>13}: {}\n", s(&v[key])));
    }
    if let Some(e) = v.get("last_error").filter(|e| !e.is_null()) {
        out.push_str(&format!(
            "{:>13}: {}: {}\n",
            "last error",
            s(&e["code"]),
            s(&e["message"])
        ));
    }
    out.push_str("\ntimeline\n");
    for e in v["history"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let step = s(&e["step"]);
        let d = &e["detail"];
        let mut line = format!(
            "  {:>3}  {}  {:<28} {}{}",
            s(&e["seq"]),
            s(&e["created_at"]),
            s(&e["kind"]),
            if step.is_empty() {
                String::new()
            } else {
                format!("step={step} ")
            },
            format_args!("attempt={} by {}", s(&e["attempt"]), s(&e["actor"]))
        );
        if let Some(ms) = d["duration_ms"].as_i64() {
            line.push_str(&format!(" ({ms} ms)"));
        }
        if !d["error"].is_null() {
            line.push_str(&format!("\n         error: {}", s(&d["error"])));
        }
        if let Some(r) = d["reason"].as_str() {
            line.push_str(&format!("\n         reason: {r}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}
