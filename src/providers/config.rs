//! Provider settings: base URLs, credentials and timeouts, loaded from `[providers]`.

use serde::Deserialize;

/// Settings for every provider client; each section points at the built-in simulator by default.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProvidersConfig {}
