//! Tracing set-up and metric names.

/// Installs the tracing subscriber; `RUST_LOG` filters, `SAGAFLOW_LOG_JSON=1` switches to JSON.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::env::var("SAGAFLOW_LOG_JSON").is_ok_and(|v| v == "1") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) is harmless; the first subscriber stays.
    let _ = result;
}
