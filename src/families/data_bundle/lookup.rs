//! Routing by network and asking a provider about our references: the verification that runs
//! before an attempt that may have run before acts, and after every unknown outcome, so a
//! bundle is never delivered twice. Neither provider takes an idempotency key, so only its
//! proof that it holds nothing lets an order be placed again.

use chrono::{DateTime, Utc};

use super::{Deps, OrderInput};
use crate::domain::phone::{Network, PhoneNumber};
use crate::engine::action::StepError;
use crate::families::credentials::park_if_rejected;
use crate::providers::reseller::{History, NewOrder};
use crate::providers::webhooks::{self, Inbound};

/// Which provider delivers a network's bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// MTN and Telecel.
    Reseller,
    /// AirtelTigo.
    Ishare,
}

impl Route {
    pub(crate) fn for_network(network: Network) -> Self {
        match network {
            Network::AirtelTigo => Route::Ishare,
            _ => Route::Reseller,
        }
    }

    /// The provider's inbound contract: its name, its webhook's signal and correlation keys.
    pub fn contract(self) -> &'static Inbound {
        match self {
            Route::Reseller => &webhooks::reseller::CONTRACT,
            Route::Ishare => &webhooks::ishare::CONTRACT,
        }
    }

    pub fn provider(self) -> &'static str {
        self.contract().name
    }

    /// The reference the provider's webhooks name.
    pub fn correlation(self, external_id: &str) -> String {
        (self.contract().reference)(external_id)
    }
}

/// A provider's view of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Completed,
    Failed(String),
}

impl Status {
    pub fn parse(status: &str, message: Option<&str>) -> Self {
        match status {
            "completed" | "success" | "delivered" => Status::Completed,
            "failed" | "error" => Status::Failed(message.unwrap_or("failed").to_string()),
            _ => Status::Pending,
        }
    }
}

/// An order the provider knows under our reference.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The provider's own id (the reseller's order id; for AT-iShare our reference).
    pub external_id: String,
    pub status: Status,
}

/// Builds the reseller order for a reference.
pub(crate) fn reseller_order(order: &OrderInput, phone: &PhoneNumber, reference: &str) -> NewOrder {
    NewOrder {
        phone: phone.clone(),
        network: order.network,
        size_gb: order.size_gb,
        reference: Some(reference.to_string()),
    }
}

/// What the provider proves about a set of our references.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// It holds an order under one of them that is not failed (the latest such when there
    /// are several): adopt it, never place another.
    Found { reference: String, found: Found },
    /// It holds none that is not failed: placing one is safe. `failed` is the provider's
    /// message for one it holds as failed, if any.
    Absent { failed: Option<String> },
    /// It cannot prove either (an error, a truncated history, orders it keeps without our
    /// reference, an order it accepted from us and no longer shows).
    Unknown(String),
    /// The lookup was held by a provider gate before it was sent: ask again later, at the
    /// same attempt.
    Held(crate::providers::Error),
}

/// Asks the provider about `references` (ours, oldest first), whose orders were placed no
/// earlier than `since`. `accepted` are the provider's own ids for orders it told us it took:
/// a complete history that lacks one of them has lost it, which proves nothing. A provider
/// that refuses our credentials is the `Err`: the saga parks until the key is fixed, rather
/// than asking again and again with a key that cannot work.
pub(crate) async fn verify(
    deps: &Deps,
    route: Route,
    phone: &PhoneNumber,
    references: &[String],
    accepted: &[String],
    since: DateTime<Utc>,
) -> Result<Verdict, StepError> {
    Ok(match route {
        Route::Reseller => {
            let attempt = deps.providers.reseller.history_since(phone, since).await;
            match attempt.result {
                Ok(history) => reseller_verdict(&history, references, accepted, since),
                Err(e @ crate::providers::Error::Held { .. }) => Verdict::Held(e),
                Err(e) => {
                    if let Some(park) = park_if_rejected(&e) {
                        return Err(park);
                    }
                    Verdict::Unknown(format!("could not read the order history: {e}"))
                }
            }
        }
        Route::Ishare => {
            let (mut found, mut failed) = (None, None);
            for reference in references {
                let attempt = deps.providers.ishare.verify_fulfillment(reference).await;
                match attempt.result {
                    Ok(Some(f)) => {
                        let status = Status::parse(
                            f.status.as_deref().unwrap_or("pending"),
                            f.message.as_deref(),
                        );
                        match status {
                            Status::Failed(m) => failed = Some(m),
                            status => {
                                found = Some(Verdict::Found {
                                    reference: reference.clone(),
                                    found: Found {
                                        external_id: f.reference.clone(),
                                        status,
                                    },
                                });
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e @ crate::providers::Error::Held { .. }) => return Ok(Verdict::Held(e)),
                    Err(e) => {
                        if let Some(park) = park_if_rejected(&e) {
                            return Err(park);
                        }
                        return Ok(Verdict::Unknown(format!(
                            "could not check {reference}: {e}"
                        )));
                    }
                }
            }
            found.unwrap_or(Verdict::Absent { failed })
        }
    })
}

/// The reseller's answer, read from one phone's history. Pure, so every way it can fail to
/// prove absence is tested on its own.
pub(crate) fn reseller_verdict(
    history: &History,
    references: &[String],
    accepted: &[String],
    since: DateTime<Utc>,
) -> Verdict {
    let ours = history.orders.iter().filter_map(|o| {
        let r = o.reference.as_deref()?;
        let i = references.iter().position(|x| x == r)?;
        Some((i, o, Status::parse(&o.status, o.message.as_deref())))
    });
    let mut failed = None;
    let mut live = None;
    for (i, o, status) in ours {
        match status {
            Status::Failed(m) => failed = Some(m),
            status if live.as_ref().is_none_or(|(j, _, _)| i > *j) => live = Some((i, o, status)),
            _ => {}
        }
    }
    if let Some((i, o, status)) = live {
        return Verdict::Found {
            reference: references[i].clone(),
            found: Found {
                external_id: o.id.to_string(),
                status,
            },
        };
    }
    if !history.complete {
        return Verdict::Unknown(
            "the order history could not be read back to the attempt's start".into(),
        );
    }
    let cutoff = since - chrono::Duration::seconds(60);
    let unreferenced = history
        .orders
        .iter()
        .any(|o| o.reference.is_none() && o.created_at_utc().is_none_or(|at| at >= cutoff));
    if unreferenced {
        return Verdict::Unknown(
            "the reseller keeps orders for this number without our reference".into(),
        );
    }
    if let Some(lost) = accepted
        .iter()
        .find(|id| !history.orders.iter().any(|o| o.id.to_string() == **id))
    {
        return Verdict::Unknown(format!(
            "the reseller accepted order {lost} and its history no longer shows it"
        ));
    }
    Verdict::Absent { failed }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::providers::reseller::ResellerOrder;

    fn at(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, min, 0).unwrap()
    }

    fn placed(id: i64, reference: Option<&str>, status: &str, min: u32) -> ResellerOrder {
        ResellerOrder {
            id,
            status: status.into(),
            message: None,
            amount: None,
            recipient_phone: "0241234567".into(),
            plan_name: None,
            network: "MTN".into(),
            size_mb: Some(5120),
            reference: reference.map(str::to_string),
            created_at: Some(at(min).format("%Y-%m-%d %H:%M:%S").to_string()),
            updated_at: None,
        }
    }

    fn history(orders: Vec<ResellerOrder>, complete: bool) -> History {
        History { orders, complete }
    }

    fn refs() -> Vec<String> {
        vec!["s:fulfill:1".into(), "s:fulfill:2".into()]
    }

    #[test]
    fn an_order_under_any_of_our_references_is_found_the_latest_live_one_first() {
        let h = history(
            vec![
                placed(7, Some("s:fulfill:2"), "pending", 20),
                placed(5, Some("s:fulfill:1"), "completed", 10),
                placed(3, Some("other:fulfill:1"), "pending", 9),
            ],
            false,
        );
        // Found even in a truncated history: presence needs no complete page.
        match reseller_verdict(&h, &refs(), &[], at(5)) {
            Verdict::Found { reference, found } => {
                assert_eq!(reference, "s:fulfill:2");
                assert_eq!(found.external_id, "7");
                assert_eq!(found.status, Status::Pending);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absence_needs_a_complete_history_with_every_order_accounted_for() {
        let failed = placed(5, Some("s:fulfill:1"), "failed", 10);
        let someone_else = placed(6, Some("other:fulfill:1"), "pending", 11);
        // Complete, ours failed, the rest not ours: safe to place again.
        let h = history(vec![someone_else.clone(), failed.clone()], true);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &["5".into()], at(5)),
            Verdict::Absent { failed: Some(_) }
        ));
        // The same pages without reaching back to the start prove nothing.
        let h = history(vec![someone_else.clone(), failed.clone()], false);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &[], at(5)),
            Verdict::Unknown(_)
        ));
        // An order without a reference since the start could be ours.
        let bare = placed(8, None, "pending", 12);
        let h = history(vec![bare, failed.clone()], true);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &[], at(5)),
            Verdict::Unknown(_)
        ));
        // One from before the start cannot.
        let old = placed(2, None, "completed", 0);
        let h = history(vec![failed.clone(), old], true);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &[], at(5)),
            Verdict::Absent { .. }
        ));
        // An order the reseller accepted from us and no longer shows: it lost the reference.
        let h = history(vec![someone_else], true);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &["9".into()], at(5)),
            Verdict::Unknown(_)
        ));
        // Nothing at all for the number since the start: absent.
        let h = history(vec![], true);
        assert!(matches!(
            reseller_verdict(&h, &refs(), &[], at(5)),
            Verdict::Absent { failed: None }
        ));
    }
}
