//! `serve --embedded`: a node on a private PostgreSQL of its own, with no DATABASE_URL and no
//! system server involved, whose data outlives the process on the same `--data-dir`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use sagaflow::app::App;

use crate::support;
use crate::support::Process as Node;

/// Starts a worker node on the embedded cluster in `dir`; answers it and the database URL it
/// printed.
fn serve_embedded(dir: &std::path::Path) -> (Node, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["serve", "--role", "worker", "--embedded", "--data-dir"])
        .arg(dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("SAGAFLOW_WORKER__POLL_INTERVAL", "100ms")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start serve --embedded");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next()
        .expect("serve says where its database is")
        .unwrap();
    let url = line
        .strip_prefix("embedded PostgreSQL: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (Node(child), url)
}

async fn status(url: &str, saga: Uuid) -> Option<String> {
    let mut conn = PgConnection::connect(url).await.ok()?;
    sqlx::query_scalar("SELECT status FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_embedded_finds_its_sagas_again_after_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, url) = serve_embedded(dir.path());
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");

    // A saga started against that database runs on the node.
    let app = App::build(support::settings_on(url.clone()))
        .await
        .expect("the embedded database answers");
    let router = app.router();
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/sagas")
        .header("content-type", "application/json")
        .header("idempotency-key", "embedded-1")
        .header("authorization", support::bearer(support::SERVICE_TOKEN))
        .body(axum::body::Body::from(
            json!({ "workflow": "sample", "input": {} }).to_string(),
        ))
        .unwrap();
    let res = tower::ServiceExt::oneshot(router, req).await.unwrap();
    assert_eq!(res.status(), 202);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let saga: Uuid = body["saga_id"].as_str().unwrap().parse().unwrap();
    let start = Instant::now();
    while status(&url, saga).await.as_deref() != Some("completed") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "saga never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(app);

    // A second node on the same directory is refused, and the first one's server stays up.
    let second = Command::new(env!("CARGO_BIN_EXE_sagaflow"))
        .args(["serve", "--role", "worker", "--embedded", "--data-dir"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("in use by another sagaflow process"),
        "{said}"
    );
    assert_eq!(status(&url, saga).await.as_deref(), Some("completed"));

    // SIGTERM: the node drains and stops its cluster; nothing answers on that port any more.
    let term = Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exited = first.0.wait().unwrap();
    assert!(exited.success(), "serve exited with {exited}");
    assert!(
        PgConnection::connect(&url).await.is_err(),
        "the cluster stopped with the node"
    );

    // Again on the same directory: the saga is there.
    let (_second, again) = serve_embedded(dir.path());
    assert_eq!(status(&again, saga).await.as_deref(), Some("completed"));
}
