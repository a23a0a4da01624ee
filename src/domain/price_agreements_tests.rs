//! Agreement precedence through the resolver: an agreement beats the regional entry, which
//! beats the global one; only in its window, its currency and for its company; strict mode
//! refuses an unsynced agreement as it does an unsynced entry.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::domain::pricing::{
    Entry, LineRequest, NoAgreements, PriceSource, PricingError, Scope, resolve,
};

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
}

fn entry(id: &str, region: Option<&str>, amount: i64) -> Entry {
    Entry {
        id: id.into(),
        sku: "SENSOR-T1".into(),
        name: "Temperature sensor T1".into(),
        region: region.map(str::to_string),
        currency: "usd".into(),
        unit_amount_minor: amount,
        processor_price_id: Some(format!("price_{id}")),
        synced: true,
    }
}

fn book() -> Vec<Entry> {
    vec![entry("global", None, 14900), entry("ca", Some("CA"), 15900)]
}

fn terms(id: &str, from: u32, until: Option<u32>, currency: &str, synced: bool) -> AgreementTerms {
    AgreementTerms {
        id: id.into(),
        company_id: "ACME".into(),
        sku: "SENSOR-T1".into(),
        currency: currency.into(),
        unit_amount_minor: 12000,
        valid_from: at(from),
        valid_until: until.map(at),
        processor_price_id: synced.then(|| format!("price_{id}")),
        synced,
    }
}

fn line() -> LineRequest {
    LineRequest {
        sku: "SENSOR-T1".into(),
        quantity: 2,
        bespoke: None,
    }
}

fn scope<'a>(
    company: &'a str,
    region: Option<&'a str>,
    currency: &'a str,
    strict: bool,
) -> Scope<'a> {
    Scope {
        company_id: company,
        region,
        currency,
        strict,
    }
}

#[test]
fn an_agreement_beats_regional_which_beats_global() {
    let agreements = AgreementBook {
        at: at(10),
        terms: vec![terms("pa-1", 1, None, "usd", true)],
    };
    let r = resolve(
        1,
        &line(),
        &scope("ACME", Some("CA"), "usd", true),
        &book(),
        &agreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::PriceAgreement);
    assert_eq!(r.price_agreement_id.as_deref(), Some("pa-1"));
    assert_eq!(r.price_book_entry_id, None);
    assert_eq!((r.unit_amount_minor, r.line_total_minor), (12000, 24000));
    assert_eq!(r.processor_price_id.as_deref(), Some("price_pa-1"));

    // Without an agreement the same line takes the regional entry, then the global one.
    let r = resolve(
        1,
        &line(),
        &scope("ACME", Some("CA"), "usd", true),
        &book(),
        &NoAgreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::PricebookRegional);
    let r = resolve(
        1,
        &line(),
        &scope("ACME", None, "usd", true),
        &book(),
        &NoAgreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::PricebookGlobal);
    assert_eq!(r.unit_amount_minor, 14900);
}

#[test]
fn an_agreement_applies_only_inside_its_window() {
    let terms = vec![terms("pa-1", 5, Some(20), "usd", true)];
    for (day, applies) in [(4, false), (5, true), (19, true), (20, false), (25, false)] {
        let agreements = AgreementBook {
            at: at(day),
            terms: terms.clone(),
        };
        let r = resolve(
            1,
            &line(),
            &scope("ACME", Some("CA"), "usd", true),
            &book(),
            &agreements,
        )
        .unwrap();
        let want = if applies {
            PriceSource::PriceAgreement
        } else {
            PriceSource::PricebookRegional
        };
        assert_eq!(r.source, want, "day {day}");
    }
    assert_eq!(terms[0].state(at(4)), AgreementState::Scheduled);
    assert_eq!(terms[0].state(at(5)), AgreementState::Active);
    assert_eq!(terms[0].state(at(20)), AgreementState::Expired);
}

#[test]
fn an_agreement_applies_only_in_its_currency_and_to_its_company() {
    let mut cad = entry("global-cad", None, 19900);
    cad.currency = "cad".into();
    let mut book = book();
    book.push(cad);
    let agreements = AgreementBook {
        at: at(10),
        terms: vec![terms("pa-eur", 1, None, "EUR", true)],
    };
    // A euro agreement does not price a dollar or a Canadian-dollar line.
    for currency in ["usd", "cad"] {
        let r = resolve(
            1,
            &line(),
            &scope("ACME", None, currency, true),
            &book,
            &agreements,
        )
        .unwrap();
        assert_ne!(r.source, PriceSource::PriceAgreement, "{currency}");
    }
    // It prices a euro line (matched without regard to case), even with no euro entry.
    let r = resolve(
        1,
        &line(),
        &scope("ACME", None, "eur", true),
        &book,
        &agreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::PriceAgreement);
    assert_eq!(r.currency, "eur");
    // Another company never gets ACME's price.
    let r = resolve(
        1,
        &line(),
        &scope("OTHER", None, "eur", false),
        &book,
        &agreements,
    );
    assert!(matches!(r, Err(PricingError::NoPrice { .. })), "{r:?}");
}

#[test]
fn strict_mode_refuses_an_unsynced_agreement_and_lenient_mode_flags_it() {
    let agreements = AgreementBook {
        at: at(10),
        terms: vec![terms("pa-new", 1, None, "usd", false)],
    };
    let err = resolve(
        1,
        &line(),
        &scope("ACME", None, "usd", true),
        &book(),
        &agreements,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PricingError::Unsynced { .. }), "{msg}");
    assert!(
        msg.contains("PRICE_AGREEMENT") && msg.contains("pa-new"),
        "{msg}"
    );
    let r = resolve(
        1,
        &line(),
        &scope("ACME", None, "usd", false),
        &book(),
        &agreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::PriceAgreement);
    assert!(!r.synced);
}

#[test]
fn bespoke_still_beats_an_agreement() {
    let agreements = AgreementBook {
        at: at(10),
        terms: vec![terms("pa-1", 1, None, "usd", true)],
    };
    let bespoke = LineRequest {
        bespoke: Some((5000, "trade-in".into())),
        ..line()
    };
    let r = resolve(
        1,
        &bespoke,
        &scope("ACME", None, "usd", true),
        &book(),
        &agreements,
    )
    .unwrap();
    assert_eq!(r.source, PriceSource::Bespoke);
}

#[test]
fn the_latest_agreement_in_force_wins_whatever_the_load_order() {
    let older = terms("pa-a", 1, None, "usd", true);
    let newer = AgreementTerms {
        unit_amount_minor: 11000,
        ..terms("pa-b", 3, None, "usd", true)
    };
    for order in [
        vec![older.clone(), newer.clone()],
        vec![newer.clone(), older.clone()],
    ] {
        let book = AgreementBook {
            at: at(10),
            terms: order,
        };
        assert_eq!(
            book.applicable("ACME", "SENSOR-T1", "usd").unwrap().id,
            "pa-b"
        );
    }
}

#[test]
fn windows_clash_only_when_they_share_an_instant() {
    let a = terms("a", 1, Some(10), "usd", true);
    // Back to back: the first ends as the second begins.
    assert!(!a.clashes_with(&terms("b", 10, None, "usd", true)));
    assert!(a.clashes_with(&terms("b", 9, Some(12), "usd", true)));
    // Open-ended windows overlap everything after their start.
    assert!(terms("c", 1, None, "usd", true).clashes_with(&terms("d", 20, Some(25), "usd", true)));
    // Another currency or SKU never clashes; an agreement never clashes with itself.
    assert!(!a.clashes_with(&terms("e", 1, Some(10), "eur", true)));
    assert!(!a.clashes_with(&a.clone()));
    let mut other_sku = terms("f", 1, Some(10), "usd", true);
    other_sku.sku = "SENSOR-H2".into();
    assert!(!a.clashes_with(&other_sku));
}

#[test]
fn empty_windows_are_refused_and_expiry_counts_only_agreements_in_force() {
    assert!(check_window(at(5), Some(at(5))).is_err());
    assert!(check_window(at(5), Some(at(4))).is_err());
    assert!(check_window(at(5), Some(at(6))).is_ok());
    assert!(check_window(at(5), None).is_ok());
    let ending = terms("x", 1, Some(20), "usd", true);
    assert!(ending.expiring_within(at(10), Duration::days(14)));
    assert!(!ending.expiring_within(at(1), Duration::days(14)));
    assert!(
        !ending.expiring_within(at(20), Duration::days(14)),
        "already expired"
    );
    assert!(!terms("y", 1, None, "usd", true).expiring_within(at(10), Duration::days(365)));
}
