//! The company directory's rules: the fixed contact roles, one primary contact per role, an
//! address's validation states, and the normalised form two addresses are compared by.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::UnknownStatus;

/// A contact's role within its company. The tags are a storage contract: never rename them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown_role)]
pub enum ContactRole {
    Billing,
    Shipping,
    Operations,
    Technical,
    Executive,
}

fn unknown_role(value: &str) -> UnknownStatus {
    UnknownStatus::new("contact role", value)
}

impl ContactRole {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Whether an address is known to be deliverable. The tags are a storage contract.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown_validation)]
pub enum ValidationStatus {
    Unvalidated,
    Valid,
    Invalid,
    /// An operator accepts the address although a check called it invalid.
    Overridden,
}

fn unknown_validation(value: &str) -> UnknownStatus {
    UnknownStatus::new("address validation status", value)
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One role a contact holds in its company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub contact: Uuid,
    pub primary: bool,
}

/// What giving a contact a role changes: insert the role (or only promote it), and whose
/// primary flag goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolePlan {
    /// The contact does not hold the role yet.
    pub insert: bool,
    /// The contact is (or becomes) the role's primary.
    pub primary: bool,
    /// The contact that was primary for the role and no longer is.
    pub demote: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("the contact already has the {0} role")]
    Duplicate(ContactRole),
    #[error("the contact is archived: restore it before giving it a role")]
    Archived,
}

/// Gives `contact` the `role` among the role's current `holders` in its company. A role is held
/// once per contact; asking again with `primary` promotes it. The first holder of a role is
/// its primary, and a new primary takes the flag from the old one, so a company always has
/// at most one primary contact per role.
pub fn assign_role(
    holders: &[Holder],
    contact: Uuid,
    role: ContactRole,
    primary: bool,
    active: bool,
) -> Result<RolePlan, RoleError> {
    if !active {
        return Err(RoleError::Archived);
    }
    let current = holders.iter().find(|h| h.primary).map(|h| h.contact);
    match holders.iter().find(|h| h.contact == contact) {
        Some(h) if h.primary || !primary => Err(RoleError::Duplicate(role)),
        Some(_) => Ok(RolePlan {
            insert: false,
            primary: true,
            demote: current,
        }),
        None => {
            let primary = primary || current.is_none();
            Ok(RolePlan {
                insert: true,
                primary,
                demote: current.filter(|_| primary),
            })
        }
    }
}

/// The parts of a postal address that identify it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressParts<'a> {
    pub line1: &'a str,
    pub line2: Option<&'a str>,
    pub city: &'a str,
    pub region: Option<&'a str>,
    pub postal_code: &'a str,
    pub country: &'a str,
}

/// Lowercased words of `s`: punctuation and runs of spaces count as one space.
fn words(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The form two addresses are compared by: case, punctuation and spacing do not count, and a
/// postal code is its letters and digits alone (`M5H 1A1` is `m5h1a1`). The migration that
/// moved old orders into the directory computes the same key in SQL.
pub fn address_key(a: &AddressParts<'_>) -> String {
    let postal: String = a
        .postal_code
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    [
        words(a.line1),
        words(a.line2.unwrap_or("")),
        words(a.city),
        words(a.region.unwrap_or("")),
        postal,
        words(a.country),
    ]
    .join("\u{1f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_role_is_held_once_per_contact() {
        let holders = [Holder {
            contact: id(1),
            primary: true,
        }];
        assert_eq!(
            assign_role(&holders, id(1), ContactRole::Billing, false, true),
            Err(RoleError::Duplicate(ContactRole::Billing))
        );
        assert_eq!(
            assign_role(&holders, id(1), ContactRole::Billing, true, true),
            Err(RoleError::Duplicate(ContactRole::Billing))
        );
        // Another contact may hold the same role.
        assert_eq!(
            assign_role(&holders, id(2), ContactRole::Billing, false, true),
            Ok(RolePlan {
                insert: true,
                primary: false,
                demote: None
            })
        );
    }

    #[test]
    fn one_primary_per_role() {
        // The first holder is primary without asking.
        assert_eq!(
            assign_role(&[], id(1), ContactRole::Shipping, false, true),
            Ok(RolePlan {
                insert: true,
                primary: true,
                demote: None
            })
        );
        let holders = [
            Holder {
                contact: id(1),
                primary: true,
            },
            Holder {
                contact: id(2),
                primary: false,
            },
        ];
        // A new primary takes the flag from the old one.
        assert_eq!(
            assign_role(&holders, id(3), ContactRole::Shipping, true, true),
            Ok(RolePlan {
                insert: true,
                primary: true,
                demote: Some(id(1))
            })
        );
        // A holder asked again as primary is promoted, not inserted twice.
        assert_eq!(
            assign_role(&holders, id(2), ContactRole::Shipping, true, true),
            Ok(RolePlan {
                insert: false,
                primary: true,
                demote: Some(id(1))
            })
        );
    }

    #[test]
    fn archived_contacts_get_no_role() {
        assert_eq!(
            assign_role(&[], id(1), ContactRole::Technical, false, false),
            Err(RoleError::Archived)
        );
    }

    #[test]
    fn roles_and_statuses_keep_their_tags() {
        let roles: Vec<&str> = ContactRole::VARIANTS.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            roles,
            [
                "billing",
                "shipping",
                "operations",
                "technical",
                "executive"
            ]
        );
        assert_eq!("executive".parse(), Ok(ContactRole::Executive));
        assert!("ceo".parse::<ContactRole>().is_err());
        let statuses: Vec<&str> = ValidationStatus::VARIANTS
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(statuses, ["unvalidated", "valid", "invalid", "overridden"]);
    }

    fn parts<'a>(line1: &'a str, city: &'a str, postal: &'a str) -> AddressParts<'a> {
        AddressParts {
            line1,
            line2: None,
            city,
            region: Some("ON"),
            postal_code: postal,
            country: "CA",
        }
    }

    #[test]
    fn addresses_compare_normalised() {
        let a = address_key(&parts("1 King St. W", "Toronto", "M5H 1A1"));
        assert_eq!(
            a,
            address_key(&parts("  1  king st w ", "TORONTO", "m5h1a1"))
        );
        assert_eq!(
            a,
            address_key(&parts("1 King St, W.", "toronto", "M5H-1A1"))
        );
        // A missing optional part is the same as a blank one.
        let mut blank = parts("1 King St W", "Toronto", "M5H 1A1");
        blank.line2 = Some("  ");
        assert_eq!(a, address_key(&blank));
    }

    #[test]
    fn different_addresses_stay_apart() {
        let a = address_key(&parts("1 King St W", "Toronto", "M5H 1A1"));
        assert_ne!(a, address_key(&parts("11 King St W", "Toronto", "M5H 1A1")));
        assert_ne!(a, address_key(&parts("1 King St W", "Ottawa", "M5H 1A1")));
        assert_ne!(a, address_key(&parts("1 King St W", "Toronto", "M5H 1A2")));
        let mut suite = parts("1 King St W", "Toronto", "M5H 1A1");
        suite.line2 = Some("Suite 200");
        assert_ne!(a, address_key(&suite));
        // The parts are kept apart: text cannot slide from one field into the next.
        let mut moved = parts("1 King St", "W Toronto", "M5H 1A1");
        moved.region = Some("ON");
        assert_ne!(a, address_key(&moved));
    }
}
