-- The built-in sample workflows' side effects: one row per action run, so tests (and the
-- crash-recovery test across processes) can count how often each effect really happened.
CREATE TABLE sample_effects (
    id               bigserial   PRIMARY KEY,
    saga_id          uuid        NOT NULL,
    step             text        NOT NULL,
    kind             text        NOT NULL,   -- action, undo, poll
    attempt          integer     NOT NULL,
    idempotency_key  text        NOT NULL,
    idempotent       boolean     NOT NULL,
    worker_pid       integer     NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX sample_effects_saga ON sample_effects (saga_id, step);
