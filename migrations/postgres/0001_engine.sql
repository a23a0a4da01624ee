-- The durable saga engine: sagas, their history, signals, the outbox and cron claims.
-- Time columns are written from the engine's Clock, never from now(), so tests can move time.

CREATE TABLE workflow_definitions (
    name        text        NOT NULL,
    version     integer     NOT NULL,
    -- The definition as it was first registered; a saga pinned to (name, version) runs it even
    -- after the file changes or disappears.
    body        jsonb       NOT NULL,
    body_hash   text        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE sagas (
    id                uuid        PRIMARY KEY,            -- uuid v7: time-ordered
    workflow          text        NOT NULL,
    workflow_version  integer     NOT NULL,
    business_key      text,
    idempotency_key   text        UNIQUE,
    request_hash      text,
    status            text        NOT NULL,               -- plain copy of the state's tag
    state             jsonb       NOT NULL,               -- serialized lifecycle state
    data              jsonb       NOT NULL,               -- {"input": …, "steps": {name: output}}
    current_step      text,
    attempt           integer     NOT NULL DEFAULT 0,
    -- When the saga is next due. NULL means it waits for an outside event (or is finished).
    -- While a worker holds the lease this is the lease expiry, so a crashed worker's sagas
    -- become due again on their own: the claim query is also the lease reaper.
    next_run_at       timestamptz,
    lease_owner       text,
    lease_expires_at  timestamptz,
    version           bigint      NOT NULL DEFAULT 0,     -- fences every write after a claim
    event_seq         integer     NOT NULL DEFAULT 0,     -- last history sequence number
    signal_seq        bigint      NOT NULL DEFAULT 0,     -- bumped by every arriving signal
    last_error        jsonb,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    finished_at       timestamptz
);

-- The claim query's index: only due-able sagas are in it, so millions of finished sagas cost
-- nothing.
CREATE INDEX sagas_runnable ON sagas (next_run_at) WHERE next_run_at IS NOT NULL;
-- Ops listings: newest first per workflow/status, keyset on (created_at, id).
CREATE INDEX sagas_created ON sagas (created_at DESC, id DESC);
CREATE INDEX sagas_workflow_created ON sagas (workflow, created_at DESC, id DESC);
CREATE INDEX sagas_status_created ON sagas (status, created_at DESC, id DESC);
CREATE INDEX sagas_business_key ON sagas (business_key) WHERE business_key IS NOT NULL;
-- "Needs attention" and in-flight gauges scan only unfinished sagas.
CREATE INDEX sagas_unfinished ON sagas (workflow, status) WHERE finished_at IS NULL;

CREATE TABLE saga_events (
    saga_id     uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    seq         integer     NOT NULL,
    step        text,
    kind        text        NOT NULL,
    attempt     integer     NOT NULL DEFAULT 0,
    detail      jsonb       NOT NULL DEFAULT '{}',
    actor       text        NOT NULL DEFAULT 'system', -- 'system' or 'operator:<name>'
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (saga_id, seq)
);

CREATE TABLE saga_signals (
    id               bigserial   PRIMARY KEY,
    saga_id          uuid        REFERENCES sagas (id) ON DELETE CASCADE,
    -- Provider reference the signal was addressed to; kept so a signal that arrives before
    -- its saga registered the reference is attached when the reference appears.
    correlation_key  text,
    name             text        NOT NULL,
    dedup_key        text        NOT NULL UNIQUE,
    payload          jsonb       NOT NULL,
    received_at      timestamptz NOT NULL,
    consumed_at      timestamptz
);
CREATE INDEX saga_signals_pending ON saga_signals (saga_id, name, id) WHERE consumed_at IS NULL;
CREATE INDEX saga_signals_uncorrelated ON saga_signals (correlation_key) WHERE saga_id IS NULL;

-- Provider references a saga answers to (for example "reseller:123").
CREATE TABLE saga_correlations (
    correlation_key  text        PRIMARY KEY,
    saga_id          uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL
);

CREATE TABLE outbox (
    id               bigserial   PRIMARY KEY,
    saga_id          uuid        REFERENCES sagas (id) ON DELETE SET NULL,
    topic            text        NOT NULL,                -- what kind of delivery
    destination      text,                                -- where it goes, if fixed
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending', -- pending, delivered, dead
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE TABLE cron_runs (
    job            text        NOT NULL,
    scheduled_for  timestamptz NOT NULL,
    saga_id        uuid,
    fired_at       timestamptz NOT NULL,
    fired_by       text        NOT NULL,
    PRIMARY KEY (job, scheduled_for)
);
