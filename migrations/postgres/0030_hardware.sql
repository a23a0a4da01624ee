-- Hardware orders: the price book, companies, orders and their price-snapshotted lines,
-- fulfilment orders, shipments, automation steps, invoices with payments, and the domain
-- events every change emits. Money is integer minor units (cents) so sums are exact.
-- Each status column holds a lifecycle state from src/domain/hardware; the CHECKs repeat the
-- state sets so a bad write fails loudly, and every change commits with a saga checkpoint or
-- an audited operator action.

CREATE TABLE price_book_products (
    sku          text        PRIMARY KEY,
    name         text        NOT NULL,
    active       boolean     NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL
);

-- A price for a product: global (region NULL) or for one region. `synced` says the payment
-- processor holds `processor_price_id` at this amount; strict checkouts refuse unsynced lines.
CREATE TABLE price_book_entries (
    id                  text        PRIMARY KEY,
    sku                 text        NOT NULL REFERENCES price_book_products (sku),
    region              text,
    currency            text        NOT NULL,
    unit_amount_minor   bigint      NOT NULL CHECK (unit_amount_minor > 0),
    processor_price_id  text,
    synced              boolean     NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX price_book_entries_scope
    ON price_book_entries (sku, coalesce(region, ''), currency);

CREATE TABLE companies (
    id                        text        PRIMARY KEY,
    name                      text        NOT NULL,
    -- Where shipments go unless an order says otherwise.
    default_shipping_address  jsonb,
    updated_at                timestamptz NOT NULL
);

CREATE TABLE hardware_orders (
    id                 uuid        PRIMARY KEY,
    order_code         text        NOT NULL UNIQUE,
    company_id         text        NOT NULL REFERENCES companies (id),
    billing_contact    jsonb       NOT NULL,
    billing_address    jsonb       NOT NULL,
    -- Snapshot of the destination at order time; shipments copy it again when they are made.
    shipping_address   jsonb       NOT NULL,
    region             text,
    currency           text        NOT NULL,
    courier_code       text        NOT NULL,
    payment_status     text        NOT NULL DEFAULT 'draft'
                       CHECK (payment_status IN ('draft', 'checkout_sent', 'payment_processing',
                              'paid', 'payment_failed', 'checkout_expired', 'refunded', 'cancelled')),
    total_minor        bigint      NOT NULL CHECK (total_minor >= 0),
    -- The rest of the input the saga needs (initial shipment plan, notes).
    options            jsonb       NOT NULL DEFAULT '{}',
    saga_id            uuid        UNIQUE,
    checkout_session   text,
    checkout_url       text,
    payment_intent     text,
    -- A repeated create with the same key answers the first order instead of a second one.
    idempotency_key    text        UNIQUE,
    request_hash       text,
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX hardware_orders_company ON hardware_orders (company_id, created_at);

-- A line and its price snapshot. The snapshot is provisional until the order's checkout locks
-- it; a locked snapshot never changes (the trigger below enforces that).
CREATE TABLE hardware_order_items (
    id                  uuid        PRIMARY KEY,
    order_id            uuid        NOT NULL REFERENCES hardware_orders (id) ON DELETE CASCADE,
    line_no             integer     NOT NULL,
    sku                 text        NOT NULL,
    description         text        NOT NULL,
    quantity            integer     NOT NULL CHECK (quantity > 0),
    scenario            text        NOT NULL,
    price_type          text        NOT NULL CHECK (price_type IN
                        ('PRICEBOOK_GLOBAL', 'PRICEBOOK_REGIONAL', 'PRICE_AGREEMENT', 'BESPOKE')),
    price_book_entry_id text,
    price_agreement_id  text,
    processor_price_id  text,
    unit_amount_minor   bigint      NOT NULL CHECK (unit_amount_minor > 0),
    currency            text        NOT NULL,
    bespoke_notes       text,
    snapshot_locked_at  timestamptz,
    UNIQUE (order_id, line_no)
);

CREATE FUNCTION hardware_snapshot_immutable() RETURNS trigger AS $$
BEGIN
    IF OLD.snapshot_locked_at IS NOT NULL AND (
        NEW.price_type IS DISTINCT FROM OLD.price_type
        OR NEW.price_book_entry_id IS DISTINCT FROM OLD.price_book_entry_id
        OR NEW.price_agreement_id IS DISTINCT FROM OLD.price_agreement_id
        OR NEW.processor_price_id IS DISTINCT FROM OLD.processor_price_id
        OR NEW.unit_amount_minor IS DISTINCT FROM OLD.unit_amount_minor
        OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.quantity IS DISTINCT FROM OLD.quantity
        OR NEW.snapshot_locked_at IS DISTINCT FROM OLD.snapshot_locked_at) THEN
        RAISE EXCEPTION 'price snapshot of order item % is locked', OLD.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER hardware_order_items_snapshot
    BEFORE UPDATE ON hardware_order_items
    FOR EACH ROW EXECUTE FUNCTION hardware_snapshot_immutable();

CREATE TABLE fulfillment_orders (
    id          uuid        PRIMARY KEY,
    order_id    uuid        NOT NULL UNIQUE REFERENCES hardware_orders (id),
    status      text        NOT NULL CHECK (status IN
                ('ready_to_prepare', 'awaiting_shipment', 'in_transit', 'completed', 'cancelled')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE fulfillment_items (
    id              uuid     PRIMARY KEY,
    fulfillment_id  uuid     NOT NULL REFERENCES fulfillment_orders (id),
    order_item_id   uuid     NOT NULL UNIQUE REFERENCES hardware_order_items (id),
    sku             text     NOT NULL,
    quantity        integer  NOT NULL CHECK (quantity > 0),
    -- Not yet allocated to a live shipment. The CHECK is the guardrail's last line.
    remaining       integer  NOT NULL CHECK (remaining >= 0 AND remaining <= quantity)
);

CREATE TABLE shipments (
    id                uuid        PRIMARY KEY,
    fulfillment_id    uuid        NOT NULL REFERENCES fulfillment_orders (id),
    seq               integer     NOT NULL,
    status            text        NOT NULL CHECK (status IN
                      ('draft', 'ready', 'in_transit', 'delivered', 'cancelled')),
    address_snapshot  jsonb       NOT NULL,
    courier_code      text        NOT NULL,
    tracking_number   text        UNIQUE,
    tracking_url      text,
    -- Who made it: the saga (`saga`) or an operator (`operator:<name>`).
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL,
    ready_at          timestamptz,
    in_transit_at     timestamptz,
    delivered_at      timestamptz,
    cancelled_at      timestamptz,
    updated_at        timestamptz NOT NULL,
    UNIQUE (fulfillment_id, seq)
);

CREATE TABLE shipment_items (
    id                   uuid     PRIMARY KEY,
    shipment_id          uuid     NOT NULL REFERENCES shipments (id),
    fulfillment_item_id  uuid     NOT NULL REFERENCES fulfillment_items (id),
    quantity             integer  NOT NULL CHECK (quantity > 0),
    UNIQUE (shipment_id, fulfillment_item_id)
);

CREATE TABLE automation_steps (
    id                     uuid        PRIMARY KEY,
    shipment_item_id       uuid        NOT NULL UNIQUE REFERENCES shipment_items (id),
    order_id               uuid        NOT NULL REFERENCES hardware_orders (id),
    scenario               text        NOT NULL CHECK (scenario IN ('sensor_vendor_first_time',
                           'sensor_partner_first_time', 'sensor_vendor_replacement',
                           'sensor_partner_replacement', 'sensor_return')),
    payload                jsonb       NOT NULL,
    status                 text        NOT NULL CHECK (status IN
                           ('queued', 'retrying', 'succeeded', 'failed', 'fallback_triggered')),
    attempts               integer     NOT NULL DEFAULT 0,
    max_attempts           integer     NOT NULL,
    next_attempt_at        timestamptz,
    last_attempted_at      timestamptz,
    last_error             text,
    bridge_reference       text,
    fallback_note          text,
    fallback_triggered_at  timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE INDEX automation_steps_order ON automation_steps (order_id);

-- Gap-free invoice numbers: the counter row is bumped inside the issuing transaction, so a
-- rolled-back issue gives its number back and concurrent issues queue on the row lock.
CREATE TABLE invoice_counters (
    name  text    PRIMARY KEY,
    last  bigint  NOT NULL
);
INSERT INTO invoice_counters (name, last) VALUES ('INV', 0);

CREATE TABLE invoices (
    id               uuid        PRIMARY KEY,
    order_id         uuid        NOT NULL UNIQUE REFERENCES hardware_orders (id),
    number           text        UNIQUE,
    status           text        NOT NULL CHECK (status IN
                     ('draft', 'issued', 'partially_paid', 'paid', 'void')),
    currency         text        NOT NULL,
    total_minor      bigint      NOT NULL CHECK (total_minor >= 0),
    allocated_minor  bigint      NOT NULL DEFAULT 0 CHECK (allocated_minor >= 0),
    issued_at        timestamptz,
    due_at           timestamptz,
    paid_at          timestamptz,
    voided_at        timestamptz,
    void_reason      text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- Numbered exactly when issued: a draft has none, everything after draft has one.
    CHECK ((status = 'draft') = (number IS NULL))
);

CREATE TABLE invoice_lines (
    id                 uuid     PRIMARY KEY,
    invoice_id         uuid     NOT NULL REFERENCES invoices (id),
    order_item_id      uuid     REFERENCES hardware_order_items (id),
    description        text     NOT NULL,
    quantity           integer  NOT NULL,
    unit_amount_minor  bigint   NOT NULL,
    amount_minor       bigint   NOT NULL
);

-- Money in or out for an order: a processor payment, a refund (negative) or a manual entry.
CREATE TABLE payment_records (
    id            uuid        PRIMARY KEY,
    order_id      uuid        NOT NULL REFERENCES hardware_orders (id),
    kind          text        NOT NULL CHECK (kind IN ('payment', 'refund', 'manual')),
    amount_minor  bigint      NOT NULL,
    currency      text        NOT NULL,
    provider_ref  text        NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL
);

CREATE TABLE payment_allocations (
    id                 uuid        PRIMARY KEY,
    payment_record_id  uuid        NOT NULL REFERENCES payment_records (id),
    invoice_id         uuid        NOT NULL REFERENCES invoices (id),
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    created_at         timestamptz NOT NULL,
    UNIQUE (payment_record_id, invoice_id)
);

-- What happened to a business entity, written in the transaction that made it happen.
CREATE TABLE domain_events (
    id             bigserial   PRIMARY KEY,
    event_type     text        NOT NULL,
    aggregate_id   uuid        NOT NULL,
    -- The hardware order the aggregate belongs to, so an order's timeline is one index scan.
    order_id       uuid        NOT NULL,
    payload        jsonb       NOT NULL,
    source_module  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    -- The writing transaction's id: timelines order by it, so a cause sorts before its effect
    -- even when a test's manual clock (or two nodes' skewed clocks) gives both the same time.
    xact           xid8        NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX domain_events_aggregate ON domain_events (aggregate_id, id);
CREATE INDEX domain_events_order ON domain_events (order_id, id);

-- The same transaction order for the saga history and received signals, which timelines merge.
ALTER TABLE saga_events ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE saga_signals ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
