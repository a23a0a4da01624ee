//! `fulfill`: route by network, pre-check the reseller balance, submit under a per-submission
//! reference derived from the step's idempotency key, then wait for the provider's webhook
//! (`poll` asks for the status when none comes).
//!
//! Verify before act: neither provider takes an idempotency key, so an attempt that may have
//! run before (a later attempt, a recovery after a crash, an operator's retry) and every
//! unknown outcome first ask the provider about every reference the step has used, its own
//! included. An order still pending or delivered is adopted, never placed again; one the
//! provider cannot prove absent is an unknown outcome, looked at again later.
//!
//! A failed delivery that will be retried tells the customer at once ("Retrying…"), in the
//! checkpoint that records the failure.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::warn;

use super::lookup::{Found, Route, Status, Verdict, reseller_order, verify};
use super::{Deps, LowBalance, OrderInput, RESELLER_BALANCE, db_error};
use crate::domain::phone::PhoneNumber;
use crate::engine::action::{Action, Effect, Signal, StepContext, StepError, StepOutcome};
use crate::families::credentials::park_if_rejected;
use crate::families::data_bundle::customer_sms;
use crate::families::data_bundle::status::{AttemptStatus, FulfillmentStatus, OrderStatus};
use crate::families::data_bundle::store::{
    AttemptLog, FailedAttempt, NewNotification, complete_fulfillment_in, fail_attempt_in,
    notify_in_app_in, set_order_status_in,
};
use crate::providers::Error as ProviderError;
use crate::providers::exchange::Exchange;
use crate::providers::webhooks;

/// What the customer is told when an attempt failed and another follows.
pub(crate) const RETRY_TEXT: &str = "Failed to deliver data. Retrying…";

/// The provider reference of submission `n`: `{saga_id}:fulfill:{n}`, where `n` is the attempt
/// unless an earlier run already used that number. It differs per submission because
/// AT-iShare never delivers a reference twice, even after that delivery failed.
fn reference(ctx: &StepContext, n: u32) -> String {
    format!("{}:{n}", ctx.idempotency_key)
}

/// Every reference submissions `1..=upto` used, oldest first.
fn references(ctx: &StepContext, upto: u32) -> Vec<String> {
    (1..=upto).map(|n| reference(ctx, n)).collect()
}

/// The submission number of one of `references`.
fn number_of(references: &[String], reference: &str) -> u32 {
    references
        .iter()
        .position(|r| r == reference)
        .and_then(|i| u32::try_from(i + 1).ok())
        .unwrap_or(1)
}

/// The attempt whose reference the step is waiting on (an adopted earlier one, or this one).
fn waiting_attempt(ctx: &StepContext) -> u32 {
    ctx.output_of("fulfill")
        .and_then(|o| o["attempt"].as_u64())
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(ctx.attempt)
}

/// The outcome for an order the provider has: done when delivered, else wait for its webhook.
fn adopt(
    order: &OrderInput,
    route: Route,
    attempt: u32,
    reference: &str,
    found: &Found,
    now: DateTime<Utc>,
) -> StepOutcome {
    let output = json!({
        "provider": route.provider(),
        "reference": reference,
        "external_id": found.external_id,
        "attempt": attempt,
    });
    let order_id = order.order_id;
    match found.status {
        Status::Completed => {
            let external = found.external_id.clone();
            StepOutcome::done(output).with_write(Box::new(move |conn| {
                Box::pin(async move {
                    complete_fulfillment_in(conn, order_id, attempt as i32, Some(&external), now)
                        .await
                })
            }))
        }
        _ => StepOutcome::wait(output)
            .correlate(route.correlation(&found.external_id))
            .with_write(Box::new(move |conn| {
                Box::pin(async move {
                    set_order_status_in(
                        conn,
                        order_id,
                        OrderStatus::Pending,
                        FulfillmentStatus::Processing,
                        now,
                    )
                    .await
                })
            })),
    }
}

/// The in-app notice that attempt `next` follows a failed one; its dedup key is also the SMS's
/// idempotency key, so however the failure was noticed the customer hears of it once.
fn retry_note(ctx: &StepContext, order: &OrderInput, next: u32) -> NewNotification {
    NewNotification {
        user_id: order.user_id,
        order_id: Some(order.order_id),
        kind: "retrying".into(),
        message: format!("Order {}: {RETRY_TEXT}", order.order_code),
        dedup_key: format!("{}:retry-notice:{next}", ctx.idempotency_key),
    }
}

/// A failed delivery of submission `attempt`. When another attempt follows, the checkpoint
/// that records the failure also tells the customer (the in-app notice commits with it and the
/// SMS leaves through the outbox, instead of waiting for the next attempt, up to an hour later)
/// and marks the submission failed with the time the next attempt is due.
fn delivery_failed(
    ctx: &StepContext,
    order: &OrderInput,
    phone: &PhoneNumber,
    attempt: u32,
    err: StepError,
) -> Result<StepOutcome, StepError> {
    if !matches!(err, StepError::Retryable { .. }) || !ctx.retry_follows() {
        return Err(err);
    }
    let note = retry_note(ctx, order, ctx.attempt + 1);
    let sms = customer_sms::row(phone, RETRY_TEXT, &note.dedup_key);
    let now = ctx.now;
    let failed = FailedAttempt {
        order_id: order.order_id,
        attempt_number: i32::try_from(attempt).unwrap_or(i32::MAX),
        error_message: err.message().to_string(),
        retry_after: ctx.retry_at(&err),
    };
    Ok(StepOutcome::failed(err)
        .with_outbox(sms)
        .with_write(Box::new(move |conn| {
            Box::pin(async move { notify_in_app_in(conn, &note, now).await.map(drop) })
        }))
        .with_write(Box::new(move |conn| {
            Box::pin(async move { fail_attempt_in(conn, &failed, now).await })
        })))
}

/// When the engine tries again after `result`, if it is a failure a retry follows.
fn retry_at(ctx: &StepContext, result: &Result<StepOutcome, StepError>) -> Option<DateTime<Utc>> {
    match result {
        Err(e) => ctx.retry_at(e),
        Ok(outcome) => outcome.failure.as_ref().and_then(|e| ctx.retry_at(e)),
    }
}

/// A submit a provider gate held was never sent: the saga waits, at the same attempt, and
/// nothing is logged as a submission (there was none to look up later).
fn held<T>(result: &Result<T, ProviderError>) -> Result<(), StepError> {
    match result {
        Err(e @ ProviderError::Held { .. }) => Err(crate::families::provider_error(e.clone())),
        _ => Ok(()),
    }
}

fn exchange_json(x: &Exchange) -> (Value, Value) {
    let body = |b: &Option<String>| {
        b.as_deref()
            .map(|t| serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())))
    };
    (
        json!({ "method": x.method, "url": x.url, "endpoint": x.endpoint,
                "idempotency_key": x.idempotency_key, "body": body(&x.request_body) }),
        json!({ "status": x.status, "body": body(&x.response_body),
                "latency_ms": x.latency_ms, "error_code": x.error_code }),
    )
}

pub(crate) struct Fulfill(pub Deps);

impl Fulfill {
    /// Records one submit in `fulfillment_logs`: accepted (with the provider's id) or failed
    /// (with why), and `retry_at`, when the next attempt is due if one follows.
    #[allow(clippy::too_many_arguments)]
    async fn log(
        &self,
        ctx: &StepContext,
        n: u32,
        order: &OrderInput,
        phone: &PhoneNumber,
        route: Route,
        reference: &str,
        exchange: &Exchange,
        outcome: Result<Option<String>, String>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StepError> {
        let (api_request, api_response) = exchange_json(exchange);
        let (status, external, error, retry_after) = match outcome {
            Ok(external) => (AttemptStatus::Processing, external, None, None),
            Err(e) => (AttemptStatus::Failed, None, Some(e), retry_at),
        };
        let log = AttemptLog {
            order_id: order.order_id,
            network: order.network.as_str().to_string(),
            phone_masked: phone.masked(),
            status,
            attempt_number: i32::try_from(n).unwrap_or(i32::MAX),
            // The workflow file's retry policy is the one source of the attempt budget.
            max_attempts: i32::try_from(ctx.max_attempts).unwrap_or(i32::MAX),
            provider: route.provider().to_string(),
            reference: reference.to_string(),
            external_order_id: external,
            api_request: Some(api_request),
            api_response: Some(api_response),
            error_message: error,
            retry_after,
        };
        self.0
            .store
            .log_attempt(&log, ctx.now)
            .await
            .map_err(db_error)
    }

    /// Tells the customer an earlier attempt failed, when the failure itself could not (the
    /// step timed out, or its wait did). Once per attempt, and never blocking: the in-app
    /// notice is recorded first, and only the call that recorded it sends the SMS.
    async fn retry_notice(&self, ctx: &StepContext, order: &OrderInput, phone: &PhoneNumber) {
        let note = retry_note(ctx, order, ctx.attempt);
        match self.0.store.notify_in_app(&note, ctx.now).await {
            Ok(true) => {}
            Ok(false) => return, // told when the failure was recorded
            Err(e) => {
                warn!(error = %e, "retry notice not recorded");
                return;
            }
        }
        let sent = self
            .0
            .providers
            .sms
            .send(phone, RETRY_TEXT, &note.dedup_key)
            .await;
        if let Err(e) = sent.result {
            // Best effort, so nothing parks here; a refused key is still counted and alerted.
            crate::families::credentials::credentials_rejected(&e);
            warn!(code = e.code(), "retry notice SMS not sent");
        }
    }

    /// A provider too short of funds to serve us: wait or park, as configured, rather than
    /// failing the customer.
    fn low_balance(&self, route: Route, balance: Option<f64>) -> StepError {
        let s = &self.0.settings;
        warn!(
            provider = route.provider(),
            balance,
            threshold = s.low_balance_threshold,
            action = ?s.on_low_balance,
            "provider balance too low to fulfil data bundles; top it up"
        );
        let message = match balance {
            Some(b) => format!(
                "{} balance {b:.2} GHS is below the {:.2} GHS threshold",
                route.provider(),
                s.low_balance_threshold
            ),
            None => format!("{} reports insufficient balance", route.provider()),
        };
        match s.on_low_balance {
            LowBalance::Wait => StepError::Retryable {
                code: "low_provider_balance".into(),
                message,
                retry_after: Some(s.low_balance_retry),
            },
            LowBalance::Park => StepError::park("low_provider_balance", message),
        }
    }

    async fn check_balance(&self, route: Route) -> Result<(), StepError> {
        if route != Route::Reseller {
            return Ok(()); // AT-iShare has no balance endpoint; its 402 is handled on submit
        }
        let attempt = self.0.providers.reseller.get_balance().await;
        match attempt.result {
            Ok(b) => {
                metrics::gauge!(RESELLER_BALANCE, "provider" => route.provider()).set(b.balance);
                metrics::gauge!(super::metrics::RESELLER_BALANCE_THRESHOLD, "provider" => route.provider()).set(self.0.settings.low_balance_threshold);
                if b.balance < self.0.settings.low_balance_threshold {
                    return Err(self.low_balance(route, Some(b.balance)));
                }
                Ok(())
            }
            Err(e) => {
                // A refused key would refuse the order too: park now rather than submit.
                if let Some(park) = park_if_rejected(&e) {
                    return Err(park);
                }
                // Otherwise the pre-check is advisory: the order itself will say 402 if it must.
                warn!(code = e.code(), "reseller balance pre-check failed");
                Ok(())
            }
        }
    }

    /// Maps a failed submit, first resolving an unknown outcome by asking the provider.
    #[allow(clippy::too_many_arguments)]
    async fn submit_failed(
        &self,
        ctx: &StepContext,
        n: u32,
        order: &OrderInput,
        phone: &PhoneNumber,
        route: Route,
        reference: &str,
        e: ProviderError,
    ) -> Result<StepOutcome, StepError> {
        held::<()>(&Err(e.clone()))?;
        if e.outcome_unknown() {
            let ours = [reference.to_string()];
            match verify(&self.0, route, phone, &ours, &[], ctx.saga_created_at).await? {
                Verdict::Found { found, .. } => {
                    return Ok(adopt(order, route, n, reference, &found, ctx.now));
                }
                // The submit was sent: a held lookup proves nothing, and waiting without
                // spending the attempt would run it again as a first try, which does not look.
                Verdict::Held(h) => {
                    return Err(StepError::unknown(
                        route.provider(),
                        format!("{e}; then the lookup was held: {}", h.held_message()),
                    ));
                }
                Verdict::Unknown(why) => {
                    return Err(StepError::unknown(
                        route.provider(),
                        format!("{e}; then {why}"),
                    ));
                }
                // Proven never placed (or failed): an ordinary failure, retried as such.
                Verdict::Absent { .. } => {}
            }
        }
        super::metrics::fulfilment_error(order.network.as_str(), e.code());
        // Our own key refused: park (no refund, no failure told) until an operator fixes it.
        if let Some(park) = park_if_rejected(&e) {
            return Err(park);
        }
        if matches!(e, ProviderError::InsufficientBalance { .. }) {
            return Err(self.low_balance(route, None));
        }
        if e.retryable() {
            let err = StepError::Retryable {
                code: e.code().to_string(),
                message: e.to_string(),
                retry_after: e.retry_after(),
            };
            return delivery_failed(ctx, order, phone, n, err);
        }
        Err(StepError::permanent(e.code(), e.to_string()))
    }

    /// Before an attempt that may have run before acts: asks the provider about every
    /// reference the step has used. `Ok(Ok(n))` is the submission number to place under (a
    /// number no earlier submission used, unless the provider proved this attempt's own
    /// absent); `Ok(Err(outcome))` adopts an order the provider holds.
    async fn look_first(
        &self,
        ctx: &StepContext,
        order: &OrderInput,
        phone: &PhoneNumber,
        route: Route,
    ) -> Result<Result<u32, StepOutcome>, StepError> {
        let logged = self
            .0
            .store
            .fulfillment_attempts(order.order_id)
            .await
            .map_err(db_error)?;
        let highest = logged
            .iter()
            .filter_map(|a| u32::try_from(a.attempt_number).ok())
            .max()
            .unwrap_or(0);
        let ours = references(ctx, ctx.attempt.max(highest));
        let accepted: Vec<String> = logged
            .iter()
            .filter(|a| a.provider == route.provider())
            .filter_map(|a| a.external_order_id.clone())
            .collect();
        match verify(&self.0, route, phone, &ours, &accepted, ctx.saga_created_at).await? {
            Verdict::Found { reference, found } => {
                let n = number_of(&ours, &reference);
                Ok(Err(adopt(order, route, n, &reference, &found, ctx.now)))
            }
            Verdict::Held(h) => Err(crate::families::provider_error(h)),
            Verdict::Unknown(why) => Err(StepError::unknown(route.provider(), why)),
            Verdict::Absent { .. } => {
                let n = ctx.attempt.max(highest.saturating_add(1));
                self.0
                    .store
                    .close_open_attempts(order.order_id, n as i32, "not delivered", ctx.now)
                    .await
                    .map_err(db_error)?;
                Ok(Ok(n))
            }
        }
    }
}

#[async_trait]
impl Action for Fulfill {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let phone = order.phone()?;
        let route = Route::for_network(order.network);
        if ctx.attempt > 1 {
            self.retry_notice(ctx, &order, &phone).await;
        }
        let n = if ctx.may_have_run_before() {
            match self.look_first(ctx, &order, &phone, route).await? {
                Ok(n) => n,
                Err(adopted) => return Ok(adopted),
            }
        } else {
            ctx.attempt
        };
        self.check_balance(route).await?;
        let reference = reference(ctx, n);
        match route {
            Route::Reseller => {
                let attempt = self
                    .0
                    .providers
                    .reseller
                    .create_order(&reseller_order(&order, &phone, &reference))
                    .await;
                held(&attempt.result)?;
                let logged = match &attempt.result {
                    Ok(c) => Ok(Some(c.order_id.to_string())),
                    Err(e) => Err(e.to_string()),
                };
                let result = match attempt.result {
                    Ok(created) => {
                        let found = Found {
                            external_id: created.order_id.to_string(),
                            status: Status::Pending,
                        };
                        Ok(adopt(&order, route, n, &reference, &found, ctx.now))
                    }
                    Err(e) => {
                        self.submit_failed(ctx, n, &order, &phone, route, &reference, e)
                            .await
                    }
                };
                let retry = retry_at(ctx, &result);
                let exchange = &attempt.exchange;
                self.log(
                    ctx, n, &order, &phone, route, &reference, exchange, logged, retry,
                )
                .await?;
                result
            }
            Route::Ishare => {
                let attempt = self
                    .0
                    .providers
                    .ishare
                    .fulfill_order(&phone, order.size_gb, &reference)
                    .await;
                held(&attempt.result)?;
                let mut logged = match &attempt.result {
                    Ok(_) => Ok(Some(reference.clone())),
                    Err(e) => Err(e.to_string()),
                };
                let result = match attempt.result {
                    Ok(f) => {
                        let status = Status::parse(
                            f.status.as_deref().unwrap_or("pending"),
                            f.message.as_deref(),
                        );
                        if let Status::Failed(m) = &status {
                            logged = Err(m.clone());
                            let err = StepError::retryable("provider_failed", m.clone());
                            delivery_failed(ctx, &order, &phone, n, err)
                        } else {
                            let found = Found {
                                external_id: reference.clone(),
                                status,
                            };
                            Ok(adopt(&order, route, n, &reference, &found, ctx.now))
                        }
                    }
                    Err(e) => {
                        self.submit_failed(ctx, n, &order, &phone, route, &reference, e)
                            .await
                    }
                };
                let retry = retry_at(ctx, &result);
                let exchange = &attempt.exchange;
                self.log(
                    ctx, n, &order, &phone, route, &reference, exchange, logged, retry,
                )
                .await?;
                result
            }
        }
    }

    /// The reseller's `order.status_changed` or AT-iShare's `fulfillment.updated`.
    async fn on_signal(
        &self,
        ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let p = &signal.payload;
        let (status, message, external) = if signal.name == webhooks::ishare::ORDER_STATUS {
            (
                p["status"].as_str(),
                p["message"].as_str(),
                p["reference"].to_string(),
            )
        } else {
            let o = &p["order"];
            (
                o["status"].as_str(),
                o["message"].as_str(),
                o["id"].to_string(),
            )
        };
        let external = external.trim_matches('"').to_string();
        match Status::parse(status.unwrap_or("pending"), message) {
            Status::Completed => Ok(completed(ctx, &order, external, "webhook")),
            Status::Failed(m) => {
                super::metrics::fulfilment_error(order.network.as_str(), "provider_failed");
                let err = StepError::retryable("provider_failed", m);
                delivery_failed(ctx, &order, &order.phone()?, waiting_attempt(ctx), err)
            }
            Status::Pending => Ok(StepOutcome::pending()),
        }
    }

    fn effect(&self) -> Effect {
        Effect::VerifyFirst {
            provider: "reseller, ishare",
        }
    }
}

fn completed(ctx: &StepContext, order: &OrderInput, external: String, via: &str) -> StepOutcome {
    let (order_id, attempt, now) = (order.order_id, waiting_attempt(ctx) as i32, ctx.now);
    StepOutcome::done(json!({ "delivered": true, "external_id": external, "via": via })).with_write(
        Box::new(move |conn| {
            Box::pin(async move {
                complete_fulfillment_in(conn, order_id, attempt, Some(&external), now).await
            })
        }),
    )
}

/// `data_bundle.poll`: the status of the reference the step waits on, when no webhook came.
pub(crate) struct Poll(pub Deps);

#[async_trait]
impl Action for Poll {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let phone = order.phone()?;
        let route = Route::for_network(order.network);
        let output = ctx.output_of("fulfill");
        let reference = output
            .and_then(|o| o["reference"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| reference(ctx, ctx.attempt));
        // The reseller told us its id for the order: a history without it has lost it.
        let accepted: Vec<String> = output
            .filter(|_| route == Route::Reseller)
            .and_then(|o| o["external_id"].as_str())
            .map(|id| vec![id.to_string()])
            .unwrap_or_default();
        let ours = [reference];
        match verify(
            &self.0,
            route,
            &phone,
            &ours,
            &accepted,
            ctx.saga_created_at,
        )
        .await?
        {
            Verdict::Found {
                found:
                    Found {
                        status: Status::Completed,
                        external_id,
                    },
                ..
            } => Ok(completed(ctx, &order, external_id, "poll")),
            Verdict::Found { .. } => Ok(StepOutcome::pending()),
            Verdict::Absent {
                failed: Some(message),
            } => delivery_failed(
                ctx,
                &order,
                &phone,
                waiting_attempt(ctx),
                StepError::retryable("provider_failed", message),
            ),
            Verdict::Absent { failed: None } => Err(StepError::unknown(
                route.provider(),
                "it accepted the order and has none under our reference",
            )),
            Verdict::Held(h) => Err(crate::families::provider_error(h)),
            Verdict::Unknown(why) => Err(StepError::unknown(route.provider(), why)),
        }
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
