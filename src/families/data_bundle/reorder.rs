//! Placing a refunded data-bundle order again. Its saga used up its retries, refunded the
//! wallet and ended `compensated`; it cannot run again. An operator places the same bundle for
//! the same customer as a NEW order and saga, through [`api::place`] like any order, so it
//! re-debits the wallet in its own checkout step and is exactly-once like any order.
//!
//! The new order is linked to the original both ways in its start transaction, where the
//! action is audited on both sagas. Its idempotency key is derived from the original order and
//! the link's number, so a double click starts one saga; the original's `reordered_as` is
//! claimed once, so nothing can place it twice.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::WORKFLOW;
use super::api::{Placement, place};
use super::status::OrderStatus;
use super::store::{BundleOrder, NewBundleOrder, link_reorder_in};
use crate::api::auth::Principal;
use crate::api::sagas::check_reason;
use crate::api::{ApiError, AppState};
use crate::domain::money::Minor;
use crate::domain::order_code::new_order_code;
use crate::domain::phone::Network;
use crate::store::{Actor, Started, insert_audit_in};

/// What placing again did.
#[derive(Debug)]
pub struct Reordered {
    /// The new order (or the one an earlier identical request placed).
    pub order: BundleOrder,
    /// False when the order had been placed again already (a double submit).
    pub created: bool,
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// The refusal when the wallet cannot pay, with the shortfall in GHS.
pub fn shortfall_message(balance_minor: i64, price_minor: i64) -> String {
    format!(
        "wallet has GHS {}, needs GHS {}: short by GHS {}",
        Minor(balance_minor),
        Minor(price_minor),
        Minor(price_minor - balance_minor)
    )
}

/// Places refunded order `original` again on `who`'s word, with `reason`. 404 when there is
/// no such order; 409 when it is not refunded, its package is off sale, or the wallet is short
/// (the message names the shortfall); 400 without a reason. A refusal writes nothing.
pub async fn place_again(
    s: &AppState,
    who: &Principal,
    original: Uuid,
    reason: &str,
) -> Result<Reordered, ApiError> {
    let reason = check_reason(reason)?;
    let store = &s.rt.store;
    let order = store
        .bundle_order(original)
        .await?
        .ok_or_else(|| ApiError::not_found("no such data-bundle order"))?;
    let links = store.reorder_links(original).await?;
    if let Some(new) = links.reordered_as {
        // Placed again already: answer with that order, as the identical request would.
        let order = store
            .bundle_order(new)
            .await?
            .ok_or_else(ApiError::internal)?;
        return Ok(Reordered {
            order,
            created: false,
        });
    }
    if order.status != OrderStatus::Failed || order.saga_status != "compensated" {
        return Err(conflict(
            "not_refunded",
            format!(
                "order {} is {} (saga {}); only a refunded order is placed again",
                order.order_code, order.status, order.saga_status
            ),
        ));
    }
    if store.package(&order.package_id).await?.is_none() {
        return Err(conflict(
            "package_unavailable",
            format!("package {} is no longer on sale", order.package_id),
        ));
    }
    // Checked here to refuse at once with the shortfall; the new saga's checkout checks again
    // and its guarded debit settles any race with another spend.
    let balance = store.wallet_balance(order.user_id).await?.unwrap_or(0);
    if balance < order.price_minor {
        return Err(conflict(
            "insufficient_funds",
            shortfall_message(balance, order.price_minor),
        ));
    }
    let network: Network = order.network.parse().map_err(|_| ApiError::internal())?;
    let number = links.reorder_number + 1;
    let basis = format!("reorder:{original}:{number}");
    // The shop that placed the original owns the new one too, so it can still read it back;
    // the operator who did it is in the audit trail of both sagas.
    let owner = store
        .started_by(order.saga_id)
        .await?
        .unwrap_or_else(|| format!("operator:{}", who.name));
    let new = NewBundleOrder {
        id: Uuid::now_v7(),
        user_id: order.user_id,
        package_id: order.package_id.clone(),
        network: order.network.clone(),
        size_gb: order.size_gb,
        // The price the customer was quoted stands, as for any retry.
        price_minor: order.price_minor,
        phone_number: order.phone_number.clone(),
        order_code: new_order_code("DB"),
    };
    let new_id = new.id;
    let actor = Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason,
        job_id: None,
    };
    let original_saga = order.saga_id;
    let (started, placed) = place(
        s,
        Placement {
            order: new,
            network,
            idempotency_key: format!("{WORKFLOW}:{basis}"),
            request_hash: hex::encode(Sha256::digest(&basis)),
            actor: owner,
            also: Some(Box::new(move |conn, saga_id, now| {
                Box::pin(async move {
                    link_reorder_in(&mut *conn, original, new_id, number).await?;
                    let was = ("compensated", "compensated");
                    insert_audit_in(&mut *conn, original_saga, "reorder", &actor, was, now).await?;
                    insert_audit_in(
                        conn,
                        saga_id,
                        "reorder",
                        &actor,
                        ("pending", "pending"),
                        now,
                    )
                    .await
                })
            })),
        },
    )
    .await?;
    Ok(Reordered {
        order: placed,
        created: matches!(started, Started::Created(_)),
    })
}
