-- Per-queue concurrency and job runs. A workflow step may name a queue (orders, shipments,
-- automation …); at most `[worker.queues]` N sagas run a step of a queue at once across every
-- node on this database. Steps without a queue never touch these tables.

-- One row per slot of a queue. A worker takes a free slot (or one whose holder's lease ran
-- out: a dead node frees its slots when its leases expire) for the length of one attempt.
-- Rows are added at start-up up to the configured limit; a node takes only slots numbered
-- below its own limit, so lowering the limit needs no cleanup.
CREATE TABLE queue_slots (
    queue        text        NOT NULL,
    slot         integer     NOT NULL,
    saga_id      uuid,
    owner        text,
    -- The holder's lease expiry, extended with its heartbeat.
    held_until   timestamptz,
    PRIMARY KEY (queue, slot)
);

-- A step of a queue as support sees it: one row per (saga, step), updated at each attempt.
-- Times are the engine clock's. Wait and run totals add up over the attempts, for averages:
-- the wait from due to started on the engine clock, the run as the worker timed it.
CREATE TABLE job_runs (
    saga_id        uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    step           text        NOT NULL,
    queue          text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('queued', 'active', 'completed', 'failed', 'delayed')),
    attempt        integer     NOT NULL,
    max_attempts   integer     NOT NULL,
    progress       smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    -- What the step works on, as the action reported it: {"kind": "shipment", "id": "…"}.
    related        jsonb,
    last_error     jsonb,
    next_retry_at  timestamptz,
    -- When the current attempt became due, and when it started running.
    queued_at      timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    runs           integer     NOT NULL DEFAULT 0,
    wait_ms        bigint      NOT NULL DEFAULT 0,
    run_ms         bigint      NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (saga_id, step)
);
CREATE INDEX job_runs_queue ON job_runs (queue, status, updated_at DESC);
CREATE INDEX job_runs_updated ON job_runs (updated_at DESC, saga_id, step);
