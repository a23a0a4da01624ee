//! The shipment allocation guardrail: a shipment never asks for more than its fulfilment still
//! has to ship.

use std::collections::HashSet;

use uuid::Uuid;

/// What one fulfilment item still has to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub item_id: Uuid,
    pub sku: String,
    pub remaining: i32,
}

/// Quantity asked for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub item_id: Uuid,
    pub quantity: i32,
}

/// Why a shipment's quantities were refused; each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("a shipment needs at least one item")]
    Empty,
    #[error("item {0} is not on this fulfilment")]
    UnknownItem(Uuid),
    #[error("cannot allocate {quantity} of {sku}: ask for at least 1")]
    NotPositive { sku: String, quantity: i32 },
    #[error("{sku} is asked for twice: give each item once, with its total")]
    Duplicate { sku: String },
    #[error("cannot allocate {requested} of {sku}: only {remaining} left to ship")]
    Exceeds {
        sku: String,
        requested: i32,
        remaining: i32,
    },
}

/// Refuses the first ask that names an item not in `open`, asks for less than one, repeats an
/// item, or wants more than is left.
pub fn check(open: &[Open], asks: &[Ask]) -> Result<(), AllocationError> {
    if asks.is_empty() {
        return Err(AllocationError::Empty);
    }
    let mut seen = HashSet::new();
    for ask in asks {
        let item = open
            .iter()
            .find(|o| o.item_id == ask.item_id)
            .ok_or(AllocationError::UnknownItem(ask.item_id))?;
        if ask.quantity < 1 {
            return Err(AllocationError::NotPositive {
                sku: item.sku.clone(),
                quantity: ask.quantity,
            });
        }
        // Two lines for one item would each pass the check below while their sum does not.
        if !seen.insert(ask.item_id) {
            return Err(AllocationError::Duplicate {
                sku: item.sku.clone(),
            });
        }
        if ask.quantity > item.remaining {
            return Err(AllocationError::Exceeds {
                sku: item.sku.clone(),
                requested: ask.quantity,
                remaining: item.remaining,
            });
        }
    }
    Ok(())
}

/// Everything still open, as asks (the default "ship the rest" shipment); empty when nothing is left.
pub fn rest(open: &[Open]) -> Vec<Ask> {
    open.iter()
        .filter(|o| o.remaining > 0)
        .map(|o| Ask {
            item_id: o.item_id,
            quantity: o.remaining,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(sku: &str, remaining: i32) -> Open {
        Open {
            item_id: Uuid::now_v7(),
            sku: sku.to_string(),
            remaining,
        }
    }

    fn ask(item: &Open, quantity: i32) -> Ask {
        Ask {
            item_id: item.item_id,
            quantity,
        }
    }

    #[test]
    fn a_shipment_must_ask_for_something() {
        let sensor = open("SENSOR-X", 2);
        assert_eq!(check(&[sensor], &[]), Err(AllocationError::Empty));
    }

    #[test]
    fn items_from_elsewhere_are_refused() {
        let sensor = open("SENSOR-X", 2);
        let stranger = open("GATEWAY-1", 5);
        let err = check(&[sensor], &[ask(&stranger, 1)]);
        assert_eq!(err, Err(AllocationError::UnknownItem(stranger.item_id)));
    }

    #[test]
    fn zero_and_negative_quantities_are_refused() {
        let sensor = open("SENSOR-X", 2);
        for quantity in [0, -1] {
            let err = check(std::slice::from_ref(&sensor), &[ask(&sensor, quantity)]);
            assert_eq!(
                err,
                Err(AllocationError::NotPositive {
                    sku: "SENSOR-X".into(),
                    quantity
                })
            );
        }
    }

    #[test]
    fn an_item_asked_twice_is_refused_even_when_each_line_fits() {
        let sensor = open("SENSOR-X", 2);
        let err = check(
            std::slice::from_ref(&sensor),
            &[ask(&sensor, 1), ask(&sensor, 1)],
        )
        .expect_err("duplicate");
        assert_eq!(
            err,
            AllocationError::Duplicate {
                sku: "SENSOR-X".into()
            }
        );
        assert!(err.to_string().contains("SENSOR-X"), "{err}");
    }

    #[test]
    fn asking_beyond_what_is_left_names_the_sku_and_the_numbers() {
        let sensor = open("SENSOR-X", 2);
        let err = check(std::slice::from_ref(&sensor), &[ask(&sensor, 3)]).expect_err("too many");
        assert_eq!(
            err.to_string(),
            "cannot allocate 3 of SENSOR-X: only 2 left to ship"
        );
    }

    #[test]
    fn the_first_bad_line_is_the_one_reported() {
        let sensor = open("SENSOR-X", 2);
        let gateway = open("GATEWAY-1", 1);
        let err = check(
            &[sensor.clone(), gateway.clone()],
            &[ask(&sensor, 2), ask(&gateway, 2), ask(&sensor, 0)],
        );
        assert_eq!(
            err,
            Err(AllocationError::Exceeds {
                sku: "GATEWAY-1".into(),
                requested: 2,
                remaining: 1
            })
        );
    }

    #[test]
    fn partial_shipments_may_add_up_to_exactly_what_is_left() {
        let mut sensor = open("SENSOR-X", 5);
        let gateway = open("GATEWAY-1", 3);
        // First shipment: part of the sensors only.
        assert_eq!(
            check(&[sensor.clone(), gateway.clone()], &[ask(&sensor, 2)]),
            Ok(())
        );
        sensor.remaining -= 2;
        // Second: the rest of both, to the unit; one more sensor is too many.
        let items = [sensor.clone(), gateway.clone()];
        assert_eq!(check(&items, &[ask(&sensor, 3), ask(&gateway, 3)]), Ok(()));
        assert_eq!(
            check(&items, &[ask(&sensor, 4), ask(&gateway, 3)]),
            Err(AllocationError::Exceeds {
                sku: "SENSOR-X".into(),
                requested: 4,
                remaining: 3
            })
        );
    }

    #[test]
    fn nothing_can_be_allocated_once_all_has_shipped() {
        let sensor = open("SENSOR-X", 0);
        let err = check(std::slice::from_ref(&sensor), &[ask(&sensor, 1)]);
        assert_eq!(
            err.map_err(|e| e.to_string()),
            Err("cannot allocate 1 of SENSOR-X: only 0 left to ship".to_string())
        );
    }

    #[test]
    fn the_rest_is_every_open_quantity_and_passes_the_check() {
        let sensor = open("SENSOR-X", 3);
        let shipped = open("CABLE-2M", 0);
        let gateway = open("GATEWAY-1", 1);
        let items = [sensor.clone(), shipped, gateway.clone()];
        let rest = rest(&items);
        assert_eq!(rest, [ask(&sensor, 3), ask(&gateway, 1)]);
        assert_eq!(check(&items, &rest), Ok(()));
    }

    #[test]
    fn the_rest_is_empty_when_nothing_is_left() {
        assert!(rest(&[open("SENSOR-X", 0)]).is_empty());
        assert!(rest(&[]).is_empty());
    }
}
