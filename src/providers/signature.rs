//! HMAC-SHA256 webhook signatures: signing what sagaflow sends and checking what providers send,
//! with constant-time comparison over the raw bytes. Time is always passed in, never read here.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error("signature timestamp is outside the accepted window")]
    Stale,
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Hex HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = mac(key);
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check of a hex HMAC against `message`.
fn verify_hex(key: &[u8], message_parts: &[&[u8]], candidate_hex: &str) -> bool {
    let Ok(candidate) = hex::decode(candidate_hex.trim()) else {
        return false;
    };
    let mut mac = mac(key);
    for part in message_parts {
        mac.update(part);
    }
    mac.verify_slice(&candidate).is_ok()
}

// ---- Reseller: `X-Webhook-Signature: sha256=<hex HMAC of the raw body>` ----

/// The header name the MTN-style reseller signs with.
pub const RESELLER_SIGNATURE_HEADER: &str = "x-webhook-signature";

/// `sha256=<hex>` over the raw body.
pub fn sign_reseller(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(secret, body))
}

/// Checks a reseller `X-Webhook-Signature` value (`None` when the header is absent).
pub fn verify_reseller(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_sig.is_empty() || hex::decode(hex_sig).is_err() {
        return Err(SignatureError::Malformed);
    }
    if verify_hex(secret, &[body], hex_sig) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

// ---- Timestamped: `t=<unix>,v1=<hex>` over "{t}.{body}" (Stripe, partners, couriers, iShare) ----

/// The header name of Stripe-compatible payment events.
pub const STRIPE_SIGNATURE_HEADER: &str = "stripe-signature";
/// The header sagaflow signs partner webhooks with.
pub const PARTNER_SIGNATURE_HEADER: &str = "x-signature";
/// The header couriers sign tracking events with.
pub const COURIER_SIGNATURE_HEADER: &str = "x-courier-signature";
/// The header AT-iShare signs its status webhooks with.
pub const ISHARE_SIGNATURE_HEADER: &str = "x-ishare-signature";
/// How old a Stripe signature may be.
pub const STRIPE_TOLERANCE: Duration = Duration::from_secs(300);

/// The `v1` hex for timestamp `t` and `body`.
pub fn timestamped_v1(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `t=<unix>,v1=<hex>` for `body` signed at `t`.
pub fn sign_timestamped(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", timestamped_v1(secret, t, body))
}

/// Checks a `t=…,v1=…[,v1=…]` header: any matching `v1` passes, and `t` must lie within
/// `tolerance` of `now` (older is stale; further in the future is refused as well).
pub fn verify_timestamped(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<i64> = None;
    let mut candidates: Vec<&str> = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(value.parse().map_err(|_| SignatureError::Malformed)?);
            }
            "v1" => candidates.push(value),
            // Other schemes (Stripe's v0 test signatures) are ignored.
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let t_text = t.to_string();
    let matched = candidates
        .iter()
        .any(|candidate| verify_hex(secret, &[t_text.as_bytes(), b".", body], candidate));
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let window = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now_unix.saturating_sub(t) > window || t.saturating_sub(now_unix) > window {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Checks a `Stripe-Signature` header: key is the whole `whsec_…` string, 300 s tolerance.
pub fn verify_stripe(
    webhook_secret: &str,
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    verify_timestamped(
        webhook_secret.as_bytes(),
        header,
        body,
        now_unix,
        STRIPE_TOLERANCE,
    )
}

// ---- AT-iShare request signing ----

/// The request signature AT-iShare expects: hex HMAC of `"{t}.{METHOD}.{path}.{body}"` under
/// the API secret, where `path` includes any query string.
pub(crate) fn ishare_request_signature(
    api_secret: &[u8],
    t: i64,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let mut mac = mac(api_secret);
    mac.update(format!("{t}.{method}.{path}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks an AT-iShare request signature (the simulator's side of the contract).
pub(crate) fn verify_ishare_request(
    api_secret: &[u8],
    t: i64,
    method: &str,
    path: &str,
    body: &[u8],
    signature_hex: &str,
) -> bool {
    verify_hex(
        api_secret,
        &[format!("{t}.{method}.{path}.").as_bytes(), body],
        signature_hex,
    )
}
