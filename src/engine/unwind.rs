//! Background loops outlive a panicking unit of work: the panic is caught at the unit's
//! boundary and turned into an error the loop logs, and the loop goes on.
//!
//! Without this a single panic (a provider's absurd number reaching date arithmetic, a bug in
//! one outbox handler) ends the task that runs the loop, and nothing restarts it: the node
//! keeps answering while its outbox, cron or gauges have silently stopped.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// Runs `work`; a panic inside it comes back as `Err` with the panic's message.
///
/// `AssertUnwindSafe` is sound for the loops that use this: what a unit of work shares with
/// the next one is the database (whose transaction a panic rolls back by dropping it) and
/// mutexes that every user already recovers from poisoning.
pub(crate) async fn catch<F: Future>(work: F) -> Result<F::Output, String> {
    AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| message(payload.as_ref()))
}

/// The text a panic was raised with (`panic!("…")` gives a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(catch(async { 7 }).await, Ok(7));
        let caught = catch(async { panic!("boom {}", 42) }).await;
        assert_eq!(caught, Err::<(), _>("boom 42".to_string()));
        let caught = catch(async { panic!("plain") }).await;
        assert_eq!(caught, Err::<(), _>("plain".to_string()));
    }
}
