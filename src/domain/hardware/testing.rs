//! Checks shared by every entity's tests: the full transition table and the status tags.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{IllegalTransition, UnknownStatus};

/// One entity's decider and names, as its tests see them.
pub struct Entity<S: 'static, E: 'static> {
    pub name: &'static str,
    pub statuses: &'static [S],
    pub events: &'static [E],
    pub event_name: fn(E) -> &'static str,
    pub apply: fn(S, E) -> Result<S, IllegalTransition>,
}

impl<S, E> Entity<S, E>
where
    S: Copy + PartialEq + Debug + Display,
    E: Copy + PartialEq + Debug,
{
    /// Runs every status × event pair: those in `legal` must land where it says, every other
    /// pair must be refused with an error naming the current state.
    pub(crate) fn assert_table(&self, legal: &[(S, E, S)]) {
        for (i, (from, event, _)) in legal.iter().enumerate() {
            assert!(
                !legal[..i].iter().any(|(f, e, _)| f == from && e == event),
                "{from:?} × {event:?} is listed twice"
            );
            assert!(self.statuses.contains(from), "{from:?} missing from ALL");
            assert!(self.events.contains(event), "{event:?} missing from ALL");
        }
        for &from in self.statuses {
            for &event in self.events {
                let want = legal
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|&(_, _, to)| to);
                match ((self.apply)(from, event), want) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{from:?} × {event:?}"),
                    (Err(err), None) => {
                        assert_eq!(err.entity, self.name);
                        assert_eq!(err.from, from.to_string());
                        assert_eq!(err.event, (self.event_name)(event));
                        assert!(err.to_string().ends_with(&format!("it is {from}")), "{err}");
                    }
                    (got, want) => panic!("{from:?} × {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    /// A status is terminal exactly when no event moves it.
    pub(crate) fn assert_terminal(&self, is_terminal: fn(S) -> bool) {
        for &from in self.statuses {
            let stuck = self.events.iter().all(|&e| (self.apply)(from, e).is_err());
            assert_eq!(is_terminal(from), stuck, "{from:?}");
        }
    }
}

/// The stored tags are a contract with the database: `tags` is what the test expects them to be.
pub(crate) fn assert_tags<S>(entity: &'static str, statuses: &[S], tags: &[&str])
where
    S: Copy + PartialEq + Debug + Display + Serialize + DeserializeOwned,
    S: FromStr<Err = UnknownStatus>,
{
    let shown: Vec<String> = statuses.iter().map(ToString::to_string).collect();
    assert_eq!(shown, tags);
    for (&status, tag) in statuses.iter().zip(tags) {
        let json = serde_json::to_string(&status).expect("serialize");
        assert_eq!(json, format!("\"{tag}\""));
        assert_eq!(
            serde_json::from_str::<S>(&json).expect("deserialize"),
            status
        );
        assert_eq!(tag.parse::<S>(), Ok(status));
    }
    for bad in ["", "Draft", "shipped", "in transit"] {
        assert_eq!(
            bad.parse::<S>(),
            Err(UnknownStatus {
                entity,
                value: bad.to_string()
            })
        );
    }
}
