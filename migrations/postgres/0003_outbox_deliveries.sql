-- One row per outbox delivery attempt: the delivery log operators read and replay from.
CREATE TABLE outbox_deliveries (
    id           bigserial   PRIMARY KEY,
    outbox_id    bigint      NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    outcome      text        NOT NULL,   -- delivered, retry, failed
    status_code  integer,
    latency_ms   bigint      NOT NULL,
    error        text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX outbox_deliveries_row ON outbox_deliveries (outbox_id, id);
CREATE INDEX outbox_saga ON outbox (saga_id);
