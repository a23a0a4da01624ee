//! The `sagaflow sagas` CLI against a real server on a real port: list, show, retry with a
//! reason, a bulk dry run and job, and the CSV export, with URL and token from the environment.

use std::process::Command;

use crate::support::*;
use serde_json::json;

fn cli(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .arg("sagas")
        .args(args)
        .env("SAGAFLOW_URL", base)
        .env("SAGAFLOW_TOKEN", token)
        .output()
        .expect("run sagaflow");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn the_cli_lists_shows_retries_bulks_and_exports() {
    let t = app().await;
    let parked = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    let done = t.start("sample", json!({})).await;
    t.run().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = t.app.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let b = base.clone();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || cli(&b, VIEWER_TOKEN, &["list", "--status", "parked"]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains(&parked.to_string()) && !out.contains(&done.to_string()),
        "{out}"
    );
    assert!(out.contains("scripted"), "the reason code column: {out}");

    let b = base.clone();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || cli(&b, VIEWER_TOKEN, &["show", &parked.to_string()]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("status: parked") && out.contains("timeline") && out.contains("step_parked"),
        "{out}"
    );

    // A viewer cannot retry; the message says why.
    let b = base.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        cli(
            &b,
            VIEWER_TOKEN,
            &["retry", &parked.to_string(), "--reason", "x"],
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("403"), "{err}");
    let b = base.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        cli(
            &b,
            OPERATOR_TOKEN,
            &["cancel", &parked.to_string(), "--reason", "order withdrawn"],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("cancel: saga"), "{out}");
    let (_, audit) = t.call("GET", "/v1/audit", None, &[]).await;
    assert_eq!(audit["items"][0]["reason"], "order withdrawn");

    // Bulk: the dry run names the targets; the real job reports through the progress bar.
    let other = t
        .start(
            "sample_park",
            json!({ "steps": { "inspect": { "fail": "park" } } }),
        )
        .await;
    t.run().await;
    let b = base.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        cli(
            &b,
            OPERATOR_TOKEN,
            &[
                "bulk",
                "resume",
                "--status",
                "parked",
                "--reason",
                "fixed",
                "--dry-run",
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(
        out.contains("would resume 1 saga(s)") && out.contains(&other.to_string()),
        "{out}"
    );
    let b = base.clone();
    let job = tokio::task::spawn_blocking(move || {
        cli(
            &b,
            OPERATOR_TOKEN,
            &["bulk", "resume", "--status", "parked", "--reason", "fixed"],
        )
    });
    // The CLI polls until the job is done; run the worker meanwhile.
    for _ in 0..50 {
        t.run().await;
        if job.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (ok, out, err) = job.await.unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("1 done, 0 failed of 1"), "{out}");

    let b = base.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        cli(
            &b,
            VIEWER_TOKEN,
            &["export", "--csv", "--workflow", "sample_park"],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.starts_with("id,workflow,status"));
    assert_eq!(out.lines().count(), 3, "{out}");

    // No token: a clear message, not a request.
    let (ok, _, err) = tokio::task::spawn_blocking(move || cli(&base, "", &["list"]))
        .await
        .unwrap();
    assert!(!ok && err.contains("SAGAFLOW_TOKEN"), "{err}");
}
