//! Who may see and change what, in one place. Route groups say which roles reach a route
//! (`auth::Allow`); this says which rows a caller of that role reaches once there:
//!
//! - operators and viewers: every row (viewers only read: their routes change nothing);
//! - a service token: only what it created (its sagas, orders, wallets and what hangs off
//!   them: fulfilments, shipments, invoices, timelines). Anything else answers 404, not 403,
//!   so another shop cannot learn that an id exists. A company is reached through an order
//!   the service placed for it (the billing portal's links);
//! - partner keys are their own scheme and reach only their partner's records
//!   (`families::partner::api`).

use super::ApiError;
use super::auth::{Principal, Role};

/// The name a service's rows are owned under: its token's name, as `created_by` and the
/// `service:<name>` start actor record it.
pub(crate) fn tenant(who: &Principal) -> Option<&str> {
    match who.role {
        Role::Operator | Role::Viewer => None,
        Role::Service => Some(who.name.as_str()),
    }
}

/// Whether `who` may reach a row created by `owner` (`None`: no service owns it).
pub(crate) fn reaches(who: &Principal, owner: Option<&str>) -> bool {
    match tenant(who) {
        None => true,
        Some(me) => owner == Some(me),
    }
}

/// 404 `no such <what>` unless `who` reaches a row created by `owner`.
pub(crate) fn visible(who: &Principal, owner: Option<&str>, what: &str) -> Result<(), ApiError> {
    if reaches(who, owner) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no such {what}")))
    }
}

/// The owner recorded in a saga's start actor (`service:<name>`), if a service started it.
pub(crate) fn saga_owner(start_actor: Option<&str>) -> Option<&str> {
    start_actor.and_then(|a| a.strip_prefix("service:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, name: &str) -> Principal {
        Principal {
            name: name.into(),
            role,
            token_hash: String::new(),
        }
    }

    #[test]
    fn services_reach_their_own_rows_and_others_reach_all() {
        let shop = who(Role::Service, "shop");
        assert!(reaches(&shop, Some("shop")));
        assert!(!reaches(&shop, Some("other-shop")));
        assert!(!reaches(&shop, None));
        for role in [Role::Operator, Role::Viewer] {
            assert!(reaches(&who(role, "olivia"), Some("shop")));
            assert!(reaches(&who(role, "olivia"), None));
        }
        assert_eq!(saga_owner(Some("service:shop")), Some("shop"));
        assert_eq!(saga_owner(Some("cron:daily")), None);
        let err = visible(&shop, Some("other-shop"), "order").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::NOT_FOUND);
    }
}
