//! Who may start a workflow and who may send the signal a wait expects: the trust policy each
//! workflow file declares (`start = "api"`, `wait = { …, source = "provider" }`). The API reads
//! it; the engine only parses and stores it with the definition.

use serde::{Deserialize, Serialize};

/// Where a wait's signal may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// Only a provider's verified webhook (`POST /v1/webhooks/{provider}`): never the signal
    /// route, whoever calls it, since a caller could claim anything a provider would say.
    Provider,
    /// An operator, with a reason, in the audit trail.
    Operator,
    /// The service that started the saga.
    Service,
}

impl SignalSource {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "provider" => Some(Self::Provider),
            "operator" => Some(Self::Operator),
            "service" => Some(Self::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Operator => "operator",
            Self::Service => "service",
        }
    }
}

/// Who may start a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartPolicy {
    /// `POST /v1/sagas`, by a service, with its input checked at the door.
    Api,
    /// Only its family's own routes (which write the domain rows the saga acts on).
    Family,
    /// Only a cron job.
    Cron,
    /// Only the server itself (a bulk job). The default of a file that says nothing, so a
    /// workflow is never opened to callers by omission.
    #[default]
    System,
}

impl StartPolicy {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(Self::Api),
            "family" => Some(Self::Family),
            "cron" => Some(Self::Cron),
            "system" => Some(Self::System),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Family => "family",
            Self::Cron => "cron",
            Self::System => "system",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            SignalSource::Provider,
            SignalSource::Operator,
            SignalSource::Service,
        ] {
            assert_eq!(SignalSource::parse(s.as_str()), Some(s));
        }
        for p in [
            StartPolicy::Api,
            StartPolicy::Family,
            StartPolicy::Cron,
            StartPolicy::System,
        ] {
            assert_eq!(StartPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(SignalSource::parse("anyone"), None);
        assert_eq!(StartPolicy::parse("public"), None);
    }
}
