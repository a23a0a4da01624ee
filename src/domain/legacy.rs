//! Legacy mirrors: the read-through copies of the legacy system's companies, assets and
//! devices, and how drift detection classifies a mirror against the bridge's record. Pure: the
//! drift saga loads both sides and keeps what [`classify`] flags.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The legacy entities sagaflow mirrors (addresses and contacts are never synced).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Company,
    Asset,
    Device,
}

impl Entity {
    pub const ALL: [Entity; 3] = [Entity::Company, Entity::Asset, Entity::Device];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Company => "company",
            Entity::Asset => "asset",
            Entity::Device => "device",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw)
    }

    /// Its mirror table.
    pub fn mirror_table(self) -> &'static str {
        match self {
            Entity::Company => "company_mirrors",
            Entity::Asset => "asset_mirrors",
            Entity::Device => "device_mirrors",
        }
    }

    /// The bridge's collection path segment (`companies`, `assets`, `devices`).
    pub fn collection(self) -> &'static str {
        match self {
            Entity::Company => "companies",
            Entity::Asset => "assets",
            Entity::Device => "devices",
        }
    }
}

/// A record as the bridge holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyRecord {
    pub id: String,
    /// When the legacy system last changed it.
    pub updated_at: DateTime<Utc>,
    pub data: Value,
}

/// A mirror row: the copy, and the legacy `updated_at` it was copied at.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorRecord {
    pub id: String,
    pub source_updated_at: DateTime<Utc>,
    pub data: Value,
}

/// What drift detection flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// The bridge holds the record and no mirror does (or a company points at a mirror that
    /// does not exist).
    MissingMirror,
    /// A mirror of a record the bridge no longer holds.
    Orphaned,
    /// The legacy record changed after the mirror copied it.
    Stale,
    /// Same version on both sides but different data, or a mirror newer than its source:
    /// something wrote one side without the other.
    Inconsistent,
}

impl Drift {
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::MissingMirror => "missing_mirror",
            Drift::Orphaned => "orphaned",
            Drift::Stale => "stale",
            Drift::Inconsistent => "inconsistent",
        }
    }
}

/// Compares one record's two sides; `None` when they agree (or neither exists).
pub fn classify(bridge: Option<&LegacyRecord>, mirror: Option<&MirrorRecord>) -> Option<Drift> {
    match (bridge, mirror) {
        (None, None) => None,
        (Some(_), None) => Some(Drift::MissingMirror),
        (None, Some(_)) => Some(Drift::Orphaned),
        (Some(b), Some(m)) => {
            if b.updated_at > m.source_updated_at {
                Some(Drift::Stale)
            } else if b.updated_at < m.source_updated_at || b.data != m.data {
                Some(Drift::Inconsistent)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    fn legacy(hour: u32, data: Value) -> LegacyRecord {
        LegacyRecord {
            id: "D-1".into(),
            updated_at: at(hour),
            data,
        }
    }

    fn mirror(hour: u32, data: Value) -> MirrorRecord {
        MirrorRecord {
            id: "D-1".into(),
            source_updated_at: at(hour),
            data,
        }
    }

    #[test]
    fn drift_is_classified_by_presence_then_version_then_data() {
        let a = json!({"status": "active"});
        let b = json!({"status": "retired"});
        let cases = [
            (None, None, None),
            (Some(legacy(9, a.clone())), None, Some(Drift::MissingMirror)),
            (None, Some(mirror(9, a.clone())), Some(Drift::Orphaned)),
            (
                Some(legacy(10, b.clone())),
                Some(mirror(9, a.clone())),
                Some(Drift::Stale),
            ),
            // Newer at the source wins over different data: a refresh fixes it.
            (
                Some(legacy(10, a.clone())),
                Some(mirror(9, a.clone())),
                Some(Drift::Stale),
            ),
            (
                Some(legacy(9, b.clone())),
                Some(mirror(9, a.clone())),
                Some(Drift::Inconsistent),
            ),
            (
                Some(legacy(8, a.clone())),
                Some(mirror(9, a.clone())),
                Some(Drift::Inconsistent),
            ),
            (Some(legacy(9, a.clone())), Some(mirror(9, a.clone())), None),
        ];
        for (bridge, mirror, want) in cases {
            assert_eq!(
                classify(bridge.as_ref(), mirror.as_ref()),
                want,
                "{bridge:?} / {mirror:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for e in Entity::ALL {
            assert_eq!(Entity::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Entity::parse("contact"), None);
        for d in [
            Drift::MissingMirror,
            Drift::Orphaned,
            Drift::Stale,
            Drift::Inconsistent,
        ] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
    }
}
