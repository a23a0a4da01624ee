//! Before the demo places anything: the kinds of hardware order it places, the body each is
//! sent with, and the prices the simulated processor charges for them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use sagaflow::domain::money::Minor;
use sagaflow::families::hardware::store::PriceSeed;

/// `(sku, quantity, scenario)` of an order line.
type Line = (&'static str, i32, &'static str);

/// One kind of order the demo places.
pub(super) struct Plan {
    /// What the order shows, for the summary.
    pub(super) label: &'static str,
    lines: &'static [Line],
    /// `(sku, quantity)` booked first; empty ships everything at once.
    pub(super) initial: &'static [(&'static str, i32)],
    courier: &'static str,
}

/// Orders that run end to end with one line, taken in turn.
const SINGLE: &[Plan] = &[
    Plan {
        label: "one line",
        lines: &[("SENSOR-T1", 2, "sensor_vendor_first_time")],
        initial: &[],
        courier: "dhl",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-H2", 3, "sensor_partner_first_time")],
        initial: &[],
        courier: "usps",
    },
    Plan {
        label: "one line",
        lines: &[("GATEWAY-G1", 1, "sensor_vendor_replacement")],
        initial: &[],
        courier: "chitchat",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-T1", 1, "sensor_partner_replacement")],
        initial: &[],
        courier: "canadapost",
    },
    Plan {
        label: "one line",
        lines: &[("SENSOR-H2", 2, "sensor_return")],
        initial: &[],
        courier: "dhl",
    },
];

const TWO_LINES: Plan = Plan {
    label: "two lines",
    lines: &[
        ("SENSOR-T1", 3, "sensor_vendor_first_time"),
        ("GATEWAY-G1", 1, "sensor_partner_first_time"),
    ],
    initial: &[],
    courier: "dhl",
};

const IN_TWO_PARTS: Plan = Plan {
    label: "two shipments",
    lines: &[("SENSOR-T1", 5, "sensor_vendor_replacement")],
    initial: &[("SENSOR-T1", 2)],
    courier: "usps",
};

/// SENSOR-X9's processor price is not synced: strict pricing refuses the checkout.
const UNSYNCED: Plan = Plan {
    label: "unsynced price",
    lines: &[("SENSOR-X9", 2, "sensor_return")],
    initial: &[],
    courier: "dhl",
};

/// The courier the rest of a two-part order goes with.
pub(super) const SECOND_COURIER: &str = "canadapost";

/// The `i`th order of a batch: the special ones early so a small batch still shows them, the
/// one-line ones in turn around them.
pub(super) fn plan(i: usize) -> &'static Plan {
    match i {
        1 => &TWO_LINES,
        2 => &IN_TWO_PARTS,
        3 => &UNSYNCED,
        _ => &SINGLE[i.saturating_sub(3) % SINGLE.len()],
    }
}

/// What the simulated processor charges per price id: every synced price-book entry at its
/// amount, so a checkout is charged what the order says (and an unsynced id is refused).
pub fn simulator_prices(book: &[PriceSeed]) -> BTreeMap<String, Option<i64>> {
    book.iter()
        .filter(|e| e.synced)
        .filter_map(|e| {
            let id = e.processor_price_id.clone()?;
            let amount = Minor::from_major(e.unit_amount)?;
            Some((id, Some(amount.0)))
        })
        .collect()
}

/// The body of `POST /v1/orders` for the `i`th order.
pub(super) fn order_body(i: usize, plan: &Plan) -> Value {
    // The company's primary billing contact, default billing and shipping addresses.
    let (company, ..) = super::directory::COMPANIES[i % super::directory::COMPANIES.len()];
    let mut body = json!({
        "company_id": company,
        "region": "CA",
        "currency": "usd",
        "courier": plan.courier,
        "lines": plan.lines.iter()
            .map(|(sku, quantity, scenario)| json!({ "sku": sku, "quantity": quantity, "scenario": scenario }))
            .collect::<Vec<_>>(),
    });
    if !plan.initial.is_empty() {
        body["initial_shipment"] = plan
            .initial
            .iter()
            .map(|(sku, quantity)| json!({ "sku": sku, "quantity": quantity }))
            .collect();
    }
    body
}

/// `2× SENSOR-T1, 1× GATEWAY-G1`.
pub(super) fn describe_lines(plan: &Plan) -> String {
    plan.lines
        .iter()
        .map(|(sku, quantity, _)| format!("{quantity}× {sku}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_batch_of_six_shows_every_kind_and_mostly_completes() {
        let labels: Vec<_> = (0..6).map(|i| plan(i).label).collect();
        assert_eq!(
            labels,
            [
                "one line",
                "two lines",
                "two shipments",
                "unsynced price",
                "one line",
                "one line"
            ]
        );
        // One-line orders take turns: a different scenario each.
        let scenarios: BTreeSet<_> = [0, 4, 5, 6, 7].map(|i| plan(i).lines[0].2).into();
        assert_eq!(scenarios.len(), 5);
        // The two-part order ships part of its only line first.
        let body = order_body(2, plan(2));
        assert_eq!(body["initial_shipment"][0]["quantity"], 2);
        assert_eq!(body["lines"][0]["quantity"], 5);
        assert!(order_body(0, plan(0)).get("initial_shipment").is_none());
    }

    #[test]
    fn the_simulator_charges_synced_prices_in_minor_units_only() {
        let seed = |id: &str, amount: f64, synced: bool| PriceSeed {
            id: id.into(),
            sku: "S".into(),
            name: "S".into(),
            region: None,
            currency: "usd".into(),
            unit_amount: amount,
            processor_price_id: Some(format!("price_{id}")),
            synced,
        };
        let prices = simulator_prices(&[seed("a", 159.0, true), seed("b", 229.0, false)]);
        assert_eq!(
            prices,
            BTreeMap::from([("price_a".to_string(), Some(15900))])
        );
    }
}
