-- Data-bundle orders: the catalogue, wallets and their ledger, orders, one log row per
-- provider attempt, in-app notifications and receipts. Money is integer pesewas (GHS / 100)
-- so sums are exact.

CREATE TABLE packages (
    id            text        PRIMARY KEY,               -- e.g. 'mtn-5gb'
    network       text        NOT NULL,                  -- MTN, TELECEL, AIRTELTIGO
    size_gb       integer     NOT NULL CHECK (size_gb > 0),
    price_minor   bigint      NOT NULL CHECK (price_minor > 0),
    active        boolean     NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL,
    UNIQUE (network, size_gb)
);

CREATE TABLE wallets (
    user_id        uuid        PRIMARY KEY,
    -- The CHECK is the last line of defence; debits are also guarded in their UPDATE.
    balance_minor  bigint      NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    updated_at     timestamptz NOT NULL
);

CREATE TABLE wallet_ledger (
    id               bigserial   PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES wallets (user_id),
    order_id         uuid,
    kind             text        NOT NULL CHECK (kind IN ('top_up', 'debit', 'refund')),
    -- Signed: debits are negative, so a wallet's ledger sums to its balance.
    amount_minor     bigint      NOT NULL,
    -- One row per money movement: a retried step or a replayed top-up cannot move money twice.
    idempotency_key  text        NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL
);
CREATE INDEX wallet_ledger_order ON wallet_ledger (order_id);

CREATE TABLE orders (
    id                  uuid        PRIMARY KEY,
    user_id             uuid        NOT NULL,
    package_id          text        NOT NULL REFERENCES packages (id),
    network             text        NOT NULL,
    size_gb             integer     NOT NULL,
    price_minor         bigint      NOT NULL,
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'completed', 'failed')),
    fulfillment_status  text        NOT NULL DEFAULT 'pending'
                        CHECK (fulfillment_status IN ('pending', 'processing', 'completed', 'failed')),
    phone_number        text        NOT NULL,
    order_code          text        NOT NULL UNIQUE,
    saga_id             uuid        NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_fulfillment_status ON orders (fulfillment_status);

CREATE TABLE fulfillment_logs (
    id                 bigserial   PRIMARY KEY,
    order_id           uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    network            text        NOT NULL,
    phone_masked       text        NOT NULL,             -- never the full number
    status             text        NOT NULL CHECK (status IN ('pending', 'processing', 'success', 'failed')),
    attempt_number     integer     NOT NULL,
    max_attempts       integer     NOT NULL,
    provider           text        NOT NULL,
    reference          text        NOT NULL,             -- what we sent as the provider reference
    external_order_id  text,
    api_request        jsonb,                            -- the redacted exchange
    api_response       jsonb,
    error_message      text,
    retry_after        timestamptz,
    fulfilled_at       timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    UNIQUE (order_id, attempt_number)
);
CREATE INDEX fulfillment_logs_status ON fulfillment_logs (status);

CREATE TABLE notifications (
    id          bigserial   PRIMARY KEY,
    user_id     uuid        NOT NULL,
    order_id    uuid,
    kind        text        NOT NULL,                    -- delivered, retrying, failed
    message     text        NOT NULL,
    -- A rerun step must not notify twice.
    dedup_key   text        NOT NULL UNIQUE,
    read_at     timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);

CREATE TABLE receipts (
    id            bigserial   PRIMARY KEY,
    order_id      uuid        NOT NULL UNIQUE REFERENCES orders (id),
    receipt_no    text        NOT NULL UNIQUE,
    amount_minor  bigint      NOT NULL,
    detail        jsonb       NOT NULL,
    created_at    timestamptz NOT NULL
);
