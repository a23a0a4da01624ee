//! A data-bundle order's statuses, as `orders` and `fulfillment_logs` store them. The tags are
//! a storage contract (the CHECK constraints of migration 0004 list them too): never rename one.

use serde::{Deserialize, Serialize};

use crate::domain::UnknownStatus;

/// Gives a status its stored tag and reads one back (`#[sqlx(try_from = "String")]`).
macro_rules! stored_tag {
    ($status:ty, $entity:literal, $unknown:ident) => {
        fn $unknown(tag: &str) -> UnknownStatus {
            UnknownStatus::new($entity, tag)
        }

        impl $status {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl TryFrom<String> for $status {
            type Error = UnknownStatus;

            fn try_from(tag: String) -> Result<Self, UnknownStatus> {
                tag.parse()
            }
        }
    };
}

/// `orders.status`: the order as the customer sees it.
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
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown_order)]
pub enum OrderStatus {
    Pending,
    Completed,
    Failed,
}

stored_tag!(OrderStatus, "bundle order", unknown_order);

/// `orders.fulfillment_status`: where delivery through the provider stands.
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
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown_fulfillment)]
pub enum FulfillmentStatus {
    Pending,
    /// Submitted to the provider, waiting for its answer.
    Processing,
    Completed,
    Failed,
}

stored_tag!(FulfillmentStatus, "bundle fulfillment", unknown_fulfillment);

/// `fulfillment_logs.status`: one provider attempt.
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
#[strum(serialize_all = "snake_case", parse_err_ty = UnknownStatus, parse_err_fn = unknown_attempt)]
pub enum AttemptStatus {
    Pending,
    /// The provider took the order; its webhook or a poll will say how it ended.
    Processing,
    Success,
    Failed,
}

stored_tag!(AttemptStatus, "fulfillment attempt", unknown_attempt);

impl AttemptStatus {
    /// The attempts still open: a retry, or the order failing, closes them as failed.
    pub const OPEN: [AttemptStatus; 2] = [AttemptStatus::Pending, AttemptStatus::Processing];

    /// [`AttemptStatus::OPEN`] as stored, for `status = ANY($n)`.
    pub(crate) fn open_tags() -> Vec<&'static str> {
        Self::OPEN.iter().map(|s| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::{Debug, Display};
    use std::str::FromStr;

    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use strum::VariantArray;

    use super::*;

    /// Every variant's tag, whichever way it is written or read, is exactly `tags`.
    fn assert_tags<S>(entity: &'static str, tags: &[&str])
    where
        S: VariantArray + Copy + PartialEq + Debug + Display + Serialize + DeserializeOwned,
        S: FromStr<Err = UnknownStatus> + TryFrom<String, Error = UnknownStatus>,
    {
        let shown: Vec<String> = S::VARIANTS.iter().map(ToString::to_string).collect();
        assert_eq!(shown, tags);
        for (&status, &tag) in S::VARIANTS.iter().zip(tags) {
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{tag}\""));
            assert_eq!(
                serde_json::from_str::<S>(&json).expect("deserialize"),
                status
            );
            assert_eq!(tag.parse::<S>(), Ok(status));
            assert_eq!(S::try_from(tag.to_string()), Ok(status));
        }
        for bad in ["", "Pending", "done", "in progress"] {
            let unknown = UnknownStatus::new(entity, bad);
            assert_eq!(bad.parse::<S>(), Err(unknown.clone()));
            assert_eq!(S::try_from(bad.to_string()), Err(unknown));
        }
    }

    #[test]
    fn every_stored_tag_is_pinned() {
        assert_tags::<OrderStatus>("bundle order", &["pending", "completed", "failed"]);
        assert_tags::<FulfillmentStatus>(
            "bundle fulfillment",
            &["pending", "processing", "completed", "failed"],
        );
        assert_tags::<AttemptStatus>(
            "fulfillment attempt",
            &["pending", "processing", "success", "failed"],
        );
        assert_eq!(AttemptStatus::open_tags(), ["pending", "processing"]);
    }

    /// The database refuses any other tag: the CHECK constraints list exactly these.
    #[test]
    fn the_migration_allows_exactly_these_tags() {
        let sql = include_str!("../../../migrations/postgres/0004_data_bundles.sql");
        let allowed = |table: &str, column: &str| -> Vec<String> {
            let body = &sql[sql.find(&format!("CREATE TABLE {table} (")).expect("table")..];
            let check = format!("CHECK ({column} IN (");
            let from = body.find(&check).expect("check") + check.len();
            let list = &body[from..from + body[from..].find(')').expect("list end")];
            list.split(',')
                .map(|t| t.trim().trim_matches('\'').to_string())
                .collect()
        };
        let tags = |all: &[&'static str]| all.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let order: Vec<&str> = OrderStatus::VARIANTS.iter().map(|s| s.as_str()).collect();
        let fulfillment: Vec<&str> = FulfillmentStatus::VARIANTS
            .iter()
            .map(|s| s.as_str())
            .collect();
        let attempt: Vec<&str> = AttemptStatus::VARIANTS.iter().map(|s| s.as_str()).collect();
        assert_eq!(allowed("orders", "status"), tags(&order));
        assert_eq!(allowed("orders", "fulfillment_status"), tags(&fulfillment));
        assert_eq!(allowed("fulfillment_logs", "status"), tags(&attempt));
    }
}
