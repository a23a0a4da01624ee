-- Partner subscriptions: the licence catalogue partners buy from, their orders (unique by
-- their orderId and by Idempotency-Key), the licences we provisioned, and one reminder row per
-- licence and expiry date so an expiry reminder is sent once however often the cron runs.
-- Renewals are sagas of their own (partner_renewal), deduplicated by their Idempotency-Key.

CREATE TABLE partner_products (
    id                     text        PRIMARY KEY,
    name                   text        NOT NULL,
    description            text        NOT NULL DEFAULT '',
    price_1_month_minor    bigint      NOT NULL CHECK (price_1_month_minor > 0),
    price_12_months_minor  bigint      NOT NULL CHECK (price_12_months_minor > 0),
    currency               text        NOT NULL,
    active                 boolean     NOT NULL DEFAULT true,
    updated_at             timestamptz NOT NULL
);

CREATE TABLE partner_orders (
    id                     uuid        PRIMARY KEY,
    partner_id             text        NOT NULL,
    order_id               text        NOT NULL,          -- the partner's orderId
    idempotency_key        text        NOT NULL,
    request_hash           text        NOT NULL,
    product_id             text        NOT NULL REFERENCES partner_products (id),
    customer_id            text        NOT NULL,
    customer_name          text        NOT NULL,
    customer_email         text        NOT NULL,
    customer_phone         text        NOT NULL,
    tenure                 text        NOT NULL CHECK (tenure IN ('1_MONTH', '12_MONTHS')),
    status                 text        NOT NULL DEFAULT 'PROCESSING'
                           CHECK (status IN ('PROCESSING', 'FULFILLED', 'FAILED')),
    price_minor            bigint,
    -- Recorded the moment the CRM answers, outside the checkpoint, so the compensation can
    -- cancel a sales order even when provisioning then failed.
    sales_order_id         text,
    sales_order_attempted  boolean     NOT NULL DEFAULT false,
    activation_reference   text,
    saga_id                uuid        NOT NULL UNIQUE,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    UNIQUE (partner_id, order_id),
    UNIQUE (partner_id, idempotency_key)
);

CREATE TABLE licences (
    id                    bigserial   PRIMARY KEY,
    partner_order_id      uuid        NOT NULL UNIQUE REFERENCES partner_orders (id),
    partner_id            text        NOT NULL,
    activation_reference  text        NOT NULL UNIQUE,
    sales_order_id        text        NOT NULL,
    product_id            text        NOT NULL,
    customer_id           text        NOT NULL,
    tenure                text        NOT NULL,
    status                text        NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'EXPIRED')),
    expires_on            date        NOT NULL,
    renewals              integer     NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX licences_expiry ON licences (expires_on) WHERE status = 'ACTIVE';

CREATE TABLE licence_reminders (
    licence_id  bigint      NOT NULL REFERENCES licences (id),
    expires_on  date        NOT NULL,
    saga_id     uuid,
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (licence_id, expires_on)
);

