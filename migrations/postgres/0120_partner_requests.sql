-- Every request to the partner API (/v1/partner/...), admitted or refused, with its answer: who
-- called (the account its key matched, and a masked hint of the key), what it asked, the status
-- and both bodies with phone numbers, e-mail addresses and key-like fields masked, each cut to
-- 4 KiB. Support reads it through GET /v1/partner/requests and the partner console page.
-- Retention: rows are not pruned automatically; see docs/operations.md (keep 30 days).
CREATE TABLE partner_requests (
    id               bigserial   PRIMARY KEY,
    partner_id       text,
    key_hint         text,
    method           text        NOT NULL,
    path             text        NOT NULL,
    idempotency_key  text,
    status           integer     NOT NULL,
    request_body     text,
    response_body    text,
    duration_ms      integer     NOT NULL,
    received_at      timestamptz NOT NULL
);
CREATE INDEX partner_requests_partner ON partner_requests (partner_id, id DESC);
CREATE INDEX partner_requests_received ON partner_requests (received_at);
