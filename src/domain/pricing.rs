//! Price resolution for hardware lines: which price applies (a price agreement, a regional or a
//! global price-book entry, or a bespoke price), and whether the payment processor can charge
//! it. Pure: the caller loads the price book and passes it in.
//!
//! Over 500 lines because its unit tests (the precedence and strict-mode tables) sit at the
//! bottom beside the rules they pin; the code itself is about half the file.

use serde::{Deserialize, Serialize};

use super::money::Minor;

/// Where a line's price came from; stored on the order item as its price type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PriceSource {
    PricebookGlobal,
    PricebookRegional,
    PriceAgreement,
    Bespoke,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::PricebookGlobal => "PRICEBOOK_GLOBAL",
            PriceSource::PricebookRegional => "PRICEBOOK_REGIONAL",
            PriceSource::PriceAgreement => "PRICE_AGREEMENT",
            PriceSource::Bespoke => "BESPOKE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            PriceSource::PricebookGlobal,
            PriceSource::PricebookRegional,
            PriceSource::PriceAgreement,
            PriceSource::Bespoke,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// One price-book entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub sku: String,
    pub name: String,
    /// `None` for the global price.
    pub region: Option<String>,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub processor_price_id: Option<String>,
    pub synced: bool,
}

/// A negotiated price for one company and product. Agreements are an interface for now: the
/// resolver asks a [`PriceAgreements`] hook, and the built-in hook knows none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub id: String,
    pub unit_amount_minor: i64,
    pub currency: String,
    pub processor_price_id: Option<String>,
    pub synced: bool,
}

/// Where price agreements will plug in. Implement it and pass it to [`resolve`]; nothing else
/// in the order flow changes.
pub trait PriceAgreements: Send + Sync {
    fn find(&self, company_id: &str, sku: &str, currency: &str) -> Option<Agreement>;
}

/// The hook used until agreements exist: no company has one.
pub struct NoAgreements;

impl PriceAgreements for NoAgreements {
    fn find(&self, _company_id: &str, _sku: &str, _currency: &str) -> Option<Agreement> {
        None
    }
}

/// What a line asks for.
#[derive(Debug, Clone)]
pub struct LineRequest {
    pub sku: String,
    pub quantity: i32,
    /// A price agreed outside the price book (minor units), with why.
    pub bespoke: Option<(i64, String)>,
}

/// The resolved price of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Resolution {
    pub sku: String,
    pub description: String,
    pub quantity: i32,
    pub source: PriceSource,
    pub price_book_entry_id: Option<String>,
    pub price_agreement_id: Option<String>,
    pub processor_price_id: Option<String>,
    pub unit_amount_minor: i64,
    pub line_total_minor: i64,
    pub currency: String,
    /// True when the processor can charge this line by its price id (or the line carries its
    /// own amount, as bespoke lines do).
    pub synced: bool,
    pub bespoke_notes: Option<String>,
}

/// Why a line cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("line {line}: unknown SKU {sku:?}")]
    UnknownSku { line: usize, sku: String },
    #[error("line {line} ({sku}): no price in {currency} for region {region}")]
    NoPrice {
        line: usize,
        sku: String,
        currency: String,
        region: String,
    },
    #[error("line {line} ({sku}): quantity must be at least 1")]
    Quantity { line: usize, sku: String },
    /// A unit price or line total outside `0..=Minor::MAX`: refused before any total can
    /// overflow.
    #[error("line {line} ({sku}): {what} {amount} is outside 0 to {max}", max = Minor(Minor::MAX))]
    OutOfRange {
        line: usize,
        sku: String,
        what: &'static str,
        amount: Minor,
    },
    /// The lines together come to more than `Minor::MAX`.
    #[error("the order's lines come to more than {max}", max = Minor(Minor::MAX))]
    TotalTooLarge,
    #[error(
        "line {line} ({sku}): the processor price {price} of {source_name} entry {entry} is not \
         synced; sync it in the payment processor (or mark the entry synced once it is) and send \
         the checkout again"
    )]
    Unsynced {
        line: usize,
        sku: String,
        price: String,
        source_name: &'static str,
        entry: String,
    },
}

/// The total of priced lines, refused when it would pass `Minor::MAX` (each line already
/// stays within it, so no step can overflow).
pub(crate) fn order_total(lines: &[Resolution]) -> Result<i64, PricingError> {
    Minor::total(lines.iter().map(|l| l.line_total_minor))
        .map(|t| t.0)
        .ok_or(PricingError::TotalTooLarge)
}

/// A resolution whose unit price and line total are both within `0..=Minor::MAX`.
fn in_range(line: usize, r: Resolution) -> Result<Resolution, PricingError> {
    let out_of_range = |what, amount| PricingError::OutOfRange {
        line,
        sku: r.sku.clone(),
        what,
        amount: Minor(amount),
    };
    if Minor::in_range(r.unit_amount_minor).is_none() {
        return Err(out_of_range("the unit price", r.unit_amount_minor));
    }
    if Minor::in_range(r.line_total_minor).is_none() {
        return Err(out_of_range("the line total", r.line_total_minor));
    }
    Ok(r)
}

/// Who is buying, where and in what currency, and whether unsynced prices are refused.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub company_id: &'a str,
    pub region: Option<&'a str>,
    pub currency: &'a str,
    pub strict: bool,
}

/// Resolves one line (1-based `line` for messages). A regional entry beats the global one; an
/// agreement beats both; a bespoke amount beats everything. `strict` refuses a price the
/// processor cannot charge by id.
pub(crate) fn resolve(
    line: usize,
    req: &LineRequest,
    scope: &Scope<'_>,
    book: &[Entry],
    agreements: &dyn PriceAgreements,
) -> Result<Resolution, PricingError> {
    // Bounded here, where every price is resolved, so no caller's total can overflow.
    resolve_price(line, req, scope, book, agreements).and_then(|r| in_range(line, r))
}

/// [`resolve`] before the range check.
fn resolve_price(
    line: usize,
    req: &LineRequest,
    scope: &Scope<'_>,
    book: &[Entry],
    agreements: &dyn PriceAgreements,
) -> Result<Resolution, PricingError> {
    let Scope {
        company_id,
        region,
        currency,
        strict,
    } = *scope;
    if req.quantity < 1 {
        return Err(PricingError::Quantity {
            line,
            sku: req.sku.clone(),
        });
    }
    let for_sku: Vec<&Entry> = book.iter().filter(|e| e.sku == req.sku).collect();
    let Some(any) = for_sku.first() else {
        return Err(PricingError::UnknownSku {
            line,
            sku: req.sku.clone(),
        });
    };
    let description = any.name.clone();
    let base = |source, unit: i64| Resolution {
        sku: req.sku.clone(),
        description: description.clone(),
        quantity: req.quantity,
        source,
        price_book_entry_id: None,
        price_agreement_id: None,
        processor_price_id: None,
        unit_amount_minor: unit,
        line_total_minor: unit.saturating_mul(i64::from(req.quantity)),
        currency: currency.to_string(),
        synced: true,
        bespoke_notes: None,
    };
    if let Some((amount, notes)) = &req.bespoke {
        return Ok(Resolution {
            bespoke_notes: Some(notes.clone()),
            ..base(PriceSource::Bespoke, *amount)
        });
    }
    if let Some(a) = agreements.find(company_id, &req.sku, currency) {
        let r = Resolution {
            price_agreement_id: Some(a.id.clone()),
            processor_price_id: a.processor_price_id.clone(),
            synced: a.synced && a.processor_price_id.is_some(),
            ..base(PriceSource::PriceAgreement, a.unit_amount_minor)
        };
        return check_strict(line, r, strict, &a.id);
    }
    let currency_matches = |e: &&&Entry| e.currency.eq_ignore_ascii_case(currency);
    let regional = region.and_then(|r| {
        for_sku.iter().filter(currency_matches).find(|e| {
            e.region
                .as_deref()
                .is_some_and(|er| er.eq_ignore_ascii_case(r))
        })
    });
    let (entry, source) = match regional {
        Some(e) => (*e, PriceSource::PricebookRegional),
        None => match for_sku
            .iter()
            .filter(currency_matches)
            .find(|e| e.region.is_none())
        {
            Some(e) => (*e, PriceSource::PricebookGlobal),
            None => {
                return Err(PricingError::NoPrice {
                    line,
                    sku: req.sku.clone(),
                    currency: currency.to_string(),
                    region: region.unwrap_or("(global)").to_string(),
                });
            }
        },
    };
    let r = Resolution {
        price_book_entry_id: Some(entry.id.clone()),
        processor_price_id: entry.processor_price_id.clone(),
        synced: entry.synced && entry.processor_price_id.is_some(),
        ..base(source, entry.unit_amount_minor)
    };
    check_strict(line, r, strict, &entry.id)
}

fn check_strict(
    line: usize,
    r: Resolution,
    strict: bool,
    entry: &str,
) -> Result<Resolution, PricingError> {
    if strict && !r.synced {
        return Err(PricingError::Unsynced {
            line,
            sku: r.sku.clone(),
            price: r
                .processor_price_id
                .clone()
                .unwrap_or_else(|| "(none)".into()),
            source_name: r.source.as_str(),
            entry: entry.to_string(),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, region: Option<&str>, amount: i64, synced: bool) -> Entry {
        Entry {
            id: id.into(),
            sku: "SENSOR-T1".into(),
            name: "Temperature sensor".into(),
            region: region.map(str::to_string),
            currency: "usd".into(),
            unit_amount_minor: amount,
            processor_price_id: Some(format!("price_{id}")),
            synced,
        }
    }

    fn line(qty: i32) -> LineRequest {
        LineRequest {
            sku: "SENSOR-T1".into(),
            quantity: qty,
            bespoke: None,
        }
    }

    struct OneAgreement;
    impl PriceAgreements for OneAgreement {
        fn find(&self, company: &str, sku: &str, _c: &str) -> Option<Agreement> {
            (company == "ACME" && sku == "SENSOR-T1").then(|| Agreement {
                id: "pa-1".into(),
                unit_amount_minor: 9000,
                currency: "usd".into(),
                processor_price_id: Some("price_pa1".into()),
                synced: true,
            })
        }
    }

    #[test]
    fn amounts_past_the_limit_are_refused_not_overflowed() {
        let scope = Scope {
            company_id: "X",
            region: None,
            currency: "usd",
            strict: false,
        };
        // A price-book entry too large to multiply, and one whose line total passes the limit.
        for (unit, qty, what) in [
            (i64::MAX, 2, "the unit price"),
            (Minor::MAX / 2, 3, "the line total"),
            (-1, 1, "the unit price"),
        ] {
            let err = resolve(
                1,
                &line(qty),
                &scope,
                &[entry("g", None, unit, true)],
                &NoAgreements,
            )
            .unwrap_err();
            assert!(
                matches!(&err, PricingError::OutOfRange { what: w, .. } if *w == what),
                "{err}"
            );
        }
        let ok = resolve(
            1,
            &line(2),
            &scope,
            &[entry("g", None, Minor::MAX / 2, true)],
            &NoAgreements,
        )
        .unwrap();
        assert_eq!(order_total(std::slice::from_ref(&ok)), Ok(Minor::MAX));
        assert_eq!(
            order_total(&[ok.clone(), ok]),
            Err(PricingError::TotalTooLarge)
        );
    }

    #[test]
    fn regional_beats_global_and_totals_multiply() {
        let book = [
            entry("g", None, 14900, true),
            entry("eu", Some("EU"), 13900, true),
        ];
        let r = resolve(
            1,
            &line(3),
            &Scope {
                company_id: "X",
                region: Some("eu"),
                currency: "usd",
                strict: true,
            },
            &book,
            &NoAgreements,
        )
        .unwrap();
        assert_eq!(r.source, PriceSource::PricebookRegional);
        assert_eq!(r.price_book_entry_id.as_deref(), Some("eu"));
        assert_eq!(r.line_total_minor, 41700);
        let r = resolve(
            1,
            &line(1),
            &Scope {
                company_id: "X",
                region: Some("CA"),
                currency: "usd",
                strict: true,
            },
            &book,
            &NoAgreements,
        )
        .unwrap();
        assert_eq!(r.source, PriceSource::PricebookGlobal);
        assert_eq!(r.unit_amount_minor, 14900);
    }

    #[test]
    fn strict_mode_names_the_unsynced_line() {
        let book = [entry("g", None, 14900, false)];
        let lenient = resolve(
            2,
            &line(1),
            &Scope {
                company_id: "X",
                region: None,
                currency: "usd",
                strict: false,
            },
            &book,
            &NoAgreements,
        )
        .unwrap();
        assert!(!lenient.synced);
        let err = resolve(
            2,
            &line(1),
            &Scope {
                company_id: "X",
                region: None,
                currency: "usd",
                strict: true,
            },
            &book,
            &NoAgreements,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("line 2 (SENSOR-T1)"), "{msg}");
        assert!(
            msg.contains("price_g") && msg.contains("PRICEBOOK_GLOBAL"),
            "{msg}"
        );
    }

    #[test]
    fn agreements_and_bespoke_take_precedence() {
        let book = [entry("g", None, 14900, true)];
        let r = resolve(
            1,
            &line(2),
            &Scope {
                company_id: "ACME",
                region: None,
                currency: "usd",
                strict: true,
            },
            &book,
            &OneAgreement,
        )
        .unwrap();
        assert_eq!(r.source, PriceSource::PriceAgreement);
        assert_eq!(r.price_agreement_id.as_deref(), Some("pa-1"));
        let bespoke = LineRequest {
            bespoke: Some((5000, "trade-in".into())),
            ..line(2)
        };
        let r = resolve(
            1,
            &bespoke,
            &Scope {
                company_id: "ACME",
                region: None,
                currency: "usd",
                strict: true,
            },
            &book,
            &OneAgreement,
        )
        .unwrap();
        assert_eq!(r.source, PriceSource::Bespoke);
        assert_eq!(r.line_total_minor, 10000);
        assert!(r.synced);
    }

    #[test]
    fn unknown_sku_missing_currency_and_bad_quantity_are_errors() {
        let book = [entry("g", None, 14900, true)];
        let unknown = LineRequest {
            sku: "NOPE".into(),
            ..line(1)
        };
        assert!(matches!(
            resolve(
                1,
                &unknown,
                &Scope {
                    company_id: "X",
                    region: None,
                    currency: "usd",
                    strict: false
                },
                &book,
                &NoAgreements
            ),
            Err(PricingError::UnknownSku { .. })
        ));
        assert!(matches!(
            resolve(
                1,
                &line(1),
                &Scope {
                    company_id: "X",
                    region: None,
                    currency: "eur",
                    strict: false
                },
                &book,
                &NoAgreements
            ),
            Err(PricingError::NoPrice { .. })
        ));
        assert!(matches!(
            resolve(
                1,
                &line(0),
                &Scope {
                    company_id: "X",
                    region: None,
                    currency: "usd",
                    strict: false
                },
                &book,
                &NoAgreements
            ),
            Err(PricingError::Quantity { .. })
        ));
    }

    #[test]
    fn source_tags_round_trip() {
        for s in [
            PriceSource::PricebookGlobal,
            PriceSource::PricebookRegional,
            PriceSource::PriceAgreement,
            PriceSource::Bespoke,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(PriceSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(PriceSource::parse("pricebook_global"), None);
    }
}
