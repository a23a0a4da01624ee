//! Headless Chromium for the console's journeys (Debian's `chromium` + `chromedriver`, driven
//! with fantoccini): start a browser, log in, keep screenshots under `test-artifacts/`, check a
//! page fits a phone's width, and audit a page's accessibility with axe-core, which is vendored
//! for the tests alone (`tests/assets/axe.min.js`, MPL-2.0) and never served by sagaflow.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills chromedriver (and its browser) when the test ends, pass or fail.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when Chromium can run here; in CI its absence is a failure, elsewhere a loud skip.
pub fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    let msg = "BROWSER TESTS SKIPPED: /usr/bin/chromium and /usr/bin/chromedriver are missing \
               (apt-get install chromium chromium-driver, or source scripts/lib/browser.sh and run ensure_browser)";
    assert!(std::env::var("CI").is_err(), "{msg}");
    eprintln!("\n{}\n{msg}\n{}\n", "!".repeat(80), "!".repeat(80));
    false
}

pub async fn start_browser(profile: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }))
    .unwrap();
    // Two rustls crypto backends are linked in; chromedriver is plain HTTP, any will do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("a chromedriver session");
    (driver, client)
}

pub async fn shot(c: &Client, name: &str, width: u32) {
    c.set_window_size(width, 900).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let png = c.screenshot().await.unwrap();
    assert!(png.len() > 1000, "{name} screenshot is empty");
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// The page must not scroll sideways at `width` (tables scroll inside their own box).
pub async fn assert_fits(c: &Client, width: u32) {
    c.set_window_size(width, 900).await.unwrap();
    let w = c
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap();
    let inner = c
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert!(
        w.as_i64().unwrap() <= inner.as_i64().unwrap(),
        "page overflows at {width}px: {w} > {inner}"
    );
}

pub async fn login(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    c.find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("section.cards"))
        .await
        .expect("the overview after login");
}

pub async fn status_text(c: &Client) -> String {
    c.find(Locator::Css("#saga-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the browser's URL satisfies `done`, failing after 15 s with `what`.
pub async fn wait_for_url(c: &Client, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !done(c.current_url().await.unwrap().as_str()) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves `router` on a free loopback port and returns the console's base URL. `localhost` is a
/// secure context, so the Secure session cookie is kept over plain HTTP.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://localhost:{port}")
}

/// Runs axe-core in the current page and fails on any critical violation, naming the rule and
/// the elements. `screen` names the page in the failure message.
pub async fn assert_accessible(c: &Client, screen: &str) {
    static AXE: &str = include_str!("../../assets/axe.min.js");
    c.execute(AXE, vec![]).await.expect("axe-core loads");
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact,
                   nodes: v.nodes.map(n => n.target.join(' ')) }))))
               .catch(e => done([{ id: 'axe-error', impact: 'critical', nodes: [String(e)] }]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    let violations = result
        .as_array()
        .unwrap_or_else(|| panic!("{screen}: axe-core answered {result}"));
    let critical: Vec<&Value> = violations
        .iter()
        .filter(|v| v["impact"] == "critical")
        .collect();
    assert!(
        critical.is_empty(),
        "{screen}: critical accessibility violations: {}",
        serde_json::to_string_pretty(&critical).unwrap()
    );
}
