//! A provider refusing sagaflow's own credentials (401 or 403). Nothing the customer did can
//! cause it and no retry can cure it until an operator fixes the key, so a step parks its saga
//! (`provider_credentials`) instead of failing it: the customer is neither refunded nor told
//! the order failed, and resuming the saga once the key is fixed completes the order.

use tracing::error;

use crate::engine::action::StepError;
use crate::providers::Error as ProviderError;
use crate::providers::metrics::PROVIDER_CREDENTIALS_REJECTED_TOTAL;

/// The park code (and `last_error.code`) of a saga held for rejected credentials.
pub const CODE: &str = "provider_credentials";

/// The one place that decides "the provider rejected our credentials", for steps and periodic
/// jobs alike. It counts and logs each one. The provider's breaker has already opened by then:
/// the gate in front of every call sees the 401 or 403 first (`providers::gates`).
pub(crate) fn credentials_rejected(e: &ProviderError) -> bool {
    let ProviderError::Unauthorized { provider, message } = e else {
        return false;
    };
    metrics::counter!(PROVIDER_CREDENTIALS_REJECTED_TOTAL, "provider" => *provider).increment(1);
    error!(
        provider,
        message, "provider rejected sagaflow's credentials; fix the key, then resume parked sagas"
    );
    true
}

/// The step error for `e` when it is a rejected credential: park the saga for an operator.
pub(crate) fn park_if_rejected(e: &ProviderError) -> Option<StepError> {
    credentials_rejected(e).then(|| StepError::park(CODE, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refused_credential_parks() {
        let refused = ProviderError::Unauthorized {
            provider: "reseller",
            message: "Invalid API key".into(),
        };
        match park_if_rejected(&refused) {
            Some(StepError::Park { code, message }) => {
                assert_eq!(code, CODE);
                assert!(
                    message.contains("reseller refused our credentials"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        for other in [
            ProviderError::Server {
                provider: "reseller",
                status: 500,
                message: "down".into(),
            },
            ProviderError::InsufficientBalance {
                provider: "reseller",
                message: "low".into(),
            },
            ProviderError::NotFound {
                provider: "ishare",
                message: "none".into(),
            },
        ] {
            assert!(park_if_rejected(&other).is_none(), "{other:?}");
        }
    }
}
