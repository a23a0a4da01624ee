//! Hardware-order rows: the price book, the company directory, orders with their price snapshots,
//! fulfilment orders, shipments, automation steps, invoices with payments, and the domain
//! events each change emits.
//!
//! Functions named `*_in` run on a caller's connection: steps call them inside the checkpoint
//! transaction (a `DomainWrite`) and operator routes inside their audited transaction, so an
//! entity's state changes only together with the saga step or action that caused it.

mod agreements;
mod automation;
mod billing;
mod catalogue;
mod console;
mod directory;
mod events;
mod fulfillment;
mod invoices;
mod mirrors;
mod operator;
mod orders;
mod owners;
mod payments;
mod portal;
mod shipments;
mod support;
mod timeline;

pub use agreements::*;
pub use automation::*;
pub use billing::*;
pub use catalogue::*;
pub use console::*;
pub use directory::*;
pub use events::*;
pub use fulfillment::*;
pub use invoices::*;
pub use mirrors::*;
pub use orders::*;
pub(crate) use owners::*;
pub use payments::*;
pub use portal::*;
pub use shipments::*;
pub use timeline::*;

/// An entity's illegal transition is a conflict (409, with the entity's state).
impl From<crate::domain::hardware::IllegalTransition> for crate::store::Error {
    fn from(e: crate::domain::hardware::IllegalTransition) -> Self {
        crate::store::Error::Conflict(e.to_string())
    }
}

/// Turns a store error into the `sqlx::Error` a checkpoint's domain write returns, keeping the
/// message (an illegal transition aborts the checkpoint and says why).
pub(crate) fn into_sqlx(e: crate::store::Error) -> sqlx::Error {
    match e {
        crate::store::Error::Db(e) => e,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Reads a row's `status` under a row lock so the decider and the write see the same state.
async fn lock_status<S: std::str::FromStr<Err = crate::domain::hardware::UnknownStatus>>(
    conn: &mut sqlx::PgConnection,
    table: &'static str,
    id: uuid::Uuid,
) -> crate::store::Result<S> {
    lock_tag(conn, table, "status", id).await
}

/// Reads a status column under a row lock; a stored tag no variant matches is a corrupt row.
async fn lock_tag<S: std::str::FromStr<Err = crate::domain::hardware::UnknownStatus>>(
    conn: &mut sqlx::PgConnection,
    table: &'static str,
    column: &'static str,
    id: uuid::Uuid,
) -> crate::store::Result<S> {
    let sql = format!("SELECT {column} FROM {table} WHERE id = $1 FOR UPDATE");
    let tag: String = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(crate::store::Error::NotFound)?;
    tag.parse().map_err(corrupt)
}

fn corrupt(e: impl std::fmt::Display) -> crate::store::Error {
    crate::store::Error::Corrupt(e.to_string())
}

/// The decider's answer for one row: `Some(new status)`, `None` when the row already is where
/// the event leads (a checkpoint replayed after a crash), or the illegal transition.
fn decide<S: Copy + PartialEq, E: Copy>(
    from: S,
    event: E,
    apply: fn(S, E) -> Result<S, crate::domain::hardware::IllegalTransition>,
    target: S,
) -> crate::store::Result<Option<S>> {
    if from == target {
        return Ok(None);
    }
    Ok(Some(apply(from, event)?))
}
