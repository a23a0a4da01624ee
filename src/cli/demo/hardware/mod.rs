//! Hardware orders for `sagaflow demo`, placed over HTTP as a buyer and an operator would: most
//! run end to end, one has two lines, one ships in two parts and one is refused at checkout
//! for an unsynced price.
//!
//! A service token drafts each order (`POST /v1/orders`) and sends its checkout
//! (`POST /v1/orders/{id}/send-checkout`); the simulator pays the checkout and moves parcels
//! by itself. An order whose `initial_shipment` covers only part of it waits for an operator:
//! once its first shipment is delivered, the demo drafts the rest with an operator token
//! (`POST /v1/fulfillments/{id}/shipments`).
//! [`HardwareBatch::report`](batch::HardwareBatch::report) reads each order back.
//!
//! Once the orders are placed it seeds one price agreement, in force from next month
//! (`agreement.rs`).
//!
//! `directory.rs` records the two companies the orders are for, `plans.rs` holds the kinds of
//! order and what the simulator charges for them, `batch.rs`
//! places them and ships the rest of a two-part order, `report.rs` reads them back.

mod agreement;
mod batch;
mod directory;
mod plans;
mod report;

pub use batch::place;
pub use plans::simulator_prices;
pub use report::HardwareReport;
