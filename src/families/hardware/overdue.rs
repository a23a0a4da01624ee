//! `hardware.mark_overdue`, the one step of the daily `invoice_overdue` cron workflow: every
//! open invoice past its due date is flagged overdue once, with an `invoice.overdue` event,
//! in the step's checkpoint.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, db_error, domain_write};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::mark_overdue_in;

/// Most invoices one run flags; the next day's run takes any rest.
const BATCH: i64 = 1000;

pub(crate) struct MarkOverdue(pub Deps);

#[async_trait]
impl Action for MarkOverdue {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let ids = self
            .0
            .store
            .overdue_candidates(ctx.now, BATCH)
            .await
            .map_err(db_error)?;
        let (saga, now, found) = (ctx.saga_id, ctx.now, ids.len());
        Ok(
            StepOutcome::done(json!({ "overdue": found, "as_of": now })).with_write(domain_write(
                move |conn| {
                    Box::pin(async move {
                        mark_overdue_in(conn, &ids, saga, now).await?;
                        Ok(())
                    })
                },
            )),
        )
    }

    /// Rows that commit with the checkpoint; a rerun finds them flagged and skips them.
    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
