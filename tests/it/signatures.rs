//! Webhook signature schemes: round trips, every rejection, and the Stripe test vector.

use std::time::Duration;

use sagaflow::providers::signature::{
    SignatureError, sign_reseller, sign_timestamped, timestamped_v1, verify_reseller,
    verify_stripe, verify_timestamped,
};

const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
const T: i64 = 1_700_000_000;

#[test]
fn stripe_known_vector() {
    assert_eq!(
        timestamped_v1(b"whsec_test", T, BODY),
        "4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021"
    );
    let header = "t=1700000000,v1=4c15fb2a43f93ef61eaa3e0893866d57cad9cad4223242cfb96f362480cb4021";
    assert_eq!(
        verify_stripe("whsec_test", Some(header), BODY, T + 10),
        Ok(())
    );
}

#[test]
fn stripe_accepts_any_matching_v1_and_ignores_v0() {
    let good = timestamped_v1(b"whsec_test", T, BODY);
    let header = format!("t={T},v1={},v0=abc,v1={good}", "00".repeat(32));
    assert_eq!(verify_stripe("whsec_test", Some(&header), BODY, T), Ok(()));
}

#[test]
fn timestamped_round_trip_and_rejections() {
    let secret = b"partner-secret";
    let header = sign_timestamped(secret, T, BODY);
    let tol = Duration::from_secs(300);
    assert_eq!(
        verify_timestamped(secret, Some(&header), BODY, T + 299, tol),
        Ok(())
    );

    let tampered = br#"{"id":"evt_2","object":"event"}"#;
    assert_eq!(
        verify_timestamped(secret, Some(&header), tampered, T, tol),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_timestamped(b"other-secret", Some(&header), BODY, T, tol),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_timestamped(secret, Some(&header), BODY, T + 301, tol),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify_timestamped(secret, Some(&header), BODY, T - 301, tol),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify_timestamped(secret, None, BODY, T, tol),
        Err(SignatureError::Missing)
    );
    // A changed timestamp breaks the signature even inside the window.
    let shifted = header.replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
    assert_eq!(
        verify_timestamped(secret, Some(&shifted), BODY, T, tol),
        Err(SignatureError::Mismatch)
    );
    for malformed in [
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        &format!("t={T}"),
        &format!("t={T},t={T},v1=00"),
    ] {
        assert_eq!(
            verify_timestamped(secret, Some(malformed), BODY, T, tol),
            Err(SignatureError::Malformed),
            "{malformed:?}"
        );
    }
    // A v1 that is not hex can never match.
    assert_eq!(
        verify_timestamped(secret, Some(&format!("t={T},v1=zz")), BODY, T, tol),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn reseller_round_trip_and_rejections() {
    let secret = b"reseller-secret";
    let header = sign_reseller(secret, BODY);
    assert!(header.starts_with("sha256="));
    assert_eq!(verify_reseller(secret, Some(&header), BODY), Ok(()));
    assert_eq!(
        verify_reseller(secret, Some(&header), b"{}"),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_reseller(b"wrong", Some(&header), BODY),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_reseller(secret, None, BODY),
        Err(SignatureError::Missing)
    );
    let bare = header.trim_start_matches("sha256=");
    assert_eq!(
        verify_reseller(secret, Some(bare), BODY),
        Err(SignatureError::Malformed)
    );
    assert_eq!(
        verify_reseller(secret, Some("sha256=xyz"), BODY),
        Err(SignatureError::Malformed)
    );
    assert_eq!(
        verify_reseller(secret, Some("sha256="), BODY),
        Err(SignatureError::Malformed)
    );
}
