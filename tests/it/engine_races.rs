//! The engine's remaining races, each provoked for real: a cron tick that fell due while the
//! database was unreachable, and a signal that arrives while a worker holds a waiting saga
//! mid-poll.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use sagaflow::config::CronJob;
use sagaflow::engine::clock::Clock;

use crate::support;

/// Runs `sql` on the server's admin database (not the test's own).
async fn admin(sql: &str) {
    let mut conn = PgConnection::connect(&support::admin_url()).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_tick_due_while_the_database_was_down_fires_once_when_it_is_back() {
    let mut settings = support::settings().await;
    settings.database.acquire_timeout = Duration::from_secs(2);
    settings.cron.clear();
    settings.cron.insert(
        "every_ten".into(),
        CronJob {
            schedule: "0 */10 * * * *".into(),
            workflow: "sample_six".into(),
            input: json!({ "from": "cron" }),
        },
    );
    let db = settings
        .database
        .url
        .rsplit_once('/')
        .map(|(_, name)| name.to_string())
        .unwrap();
    let t = support::app_with(settings, |_| {}).await;
    let scheduler = t.app.scheduler("node-1").unwrap();
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 1, 55, 0).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 0, "nothing due yet");

    // The database goes away: no new connections, and the open ones are cut.
    admin(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
    admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;
    for at in [(2, 5), (2, 25)] {
        t.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 2, at.0, at.1, 0).unwrap());
        assert!(
            scheduler.tick_once().await.is_err(),
            "the database is unreachable at {at:?}"
        );
    }
    admin(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;

    // Back: the ticks of 02:00, 02:10 and 02:20 collapse into the latest, fired once.
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 2, 2, 26, 0).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    assert_eq!(scheduler.tick_once().await.unwrap(), 0, "and only once");
    let runs: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT scheduled_for FROM cron_runs")
            .fetch_all(t.app.store().pool())
            .await
            .unwrap();
    assert_eq!(runs, [Utc.with_ymd_and_hms(2026, 3, 2, 2, 20, 0).unwrap()]);
}

#[tokio::test]
async fn a_signal_during_a_poll_leaves_the_saga_to_the_worker_holding_it() {
    let t = support::app().await;
    let saga = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } }, "polls": { "deliver": "pending" } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(saga).await, "waiting");
    // The wait times out: the saga is due for its poll, and worker A claims it.
    t.advance(support::mins(11));
    let now = t.clock.now();
    let store = t.app.store();
    let lease = now + chrono::Duration::seconds(30);
    let held = store.claim("worker-a", now, lease, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, saga);

    // Mid-poll, the signal arrives.
    let (status, body) = t
        .signal(
            saga,
            "sample.delivered",
            "mid-poll",
            json!({ "status": "done" }),
        )
        .await;
    assert!(status.is_success(), "{body}");

    // Worker B finds nothing to claim: A still holds the saga.
    let second = store.claim("worker-b", now, lease, 10).await.unwrap();
    assert!(
        second.is_empty(),
        "a second worker claimed a held saga: {second:?}"
    );
    // Just after A's lease ran out, B still leaves it: a call A had sent gets half a lease to
    // land before anyone else looks.
    t.advance(Duration::from_secs(31));
    let now = t.clock.now();
    let early = store
        .claim("worker-b", now, now + chrono::Duration::seconds(30), 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "taken over at once: {early:?}");
    // Half a lease after that, the saga (and its signal) is taken over, and finishes with the
    // signal read exactly once.
    t.advance(Duration::from_secs(15));
    t.run().await;
    assert_eq!(t.status(saga).await, "completed");
    let consumed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM saga_signals WHERE saga_id = $1 AND consumed_at IS NOT NULL",
    )
    .bind(saga)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(consumed, 1);
}
