//! The ops API beyond single sagas: the audit trail, bulk jobs, stats, queues, the CSV export
//! and the OpenAPI document.

pub mod audit;
pub mod bulk;
pub mod export;
pub mod openapi;
pub mod search;
pub mod stats;
