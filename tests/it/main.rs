//! The integration tests: one binary, one module per area, around one harness (`support`).
//! One binary links the crate once, where a binary per area linked it once each. The one test
//! outside it, `tests/cli_bench.rs`, says why in its own `//!` lines.

mod support;

mod auth_roles;
mod browser_console;
mod chaos;
mod cli_demo;
mod cli_workflows;
mod console_search;
mod crash_points;
mod crash_recovery;
mod dashboards_valid;
mod data_bundle;
mod embedded;
mod engine_concurrency;
mod engine_flows;
mod engine_queues;
mod engine_races;
mod engine_refused_writes;
mod hardware_agreements;
mod hardware_api;
mod hardware_billing;
mod hardware_directory;
mod hardware_failures;
mod hardware_fanout;
mod hardware_flows;
mod hardware_invoices;
mod hardware_job_runs;
mod hardware_legacy;
mod hardware_migration;
mod hardware_races;
mod hardware_support;
mod metrics_counters;
mod metrics_live;
mod ops_api;
mod ops_cli;
mod ops_console;
mod ops_export;
mod partner;
// The customers' billing portal (console-portal).
mod browser_portal;
mod portal_links;
mod providers_bridge;
mod providers_cancellations;
mod providers_clients;
mod providers_config;
mod providers_logs;
mod providers_reseller;
mod providers_webhooks;
mod robustness;
mod serve_metrics_port;
mod signatures;
mod simulator_control;
mod simulator_replay;
mod trust_console;
mod trust_keys;
mod trust_masking;
mod trust_outbound;
mod trust_signals;
mod trust_startup;
mod trust_tenancy;
mod webhooks_outbox;
