-- Price agreements: a company's negotiated unit price for one SKU in one currency, in force
-- over [valid_from, valid_until). The resolver applies one before the regional and global
-- price book; `synced` says the payment processor holds `processor_price_id` at this amount,
-- and strict checkouts refuse an unsynced one as they do an unsynced price-book entry.
-- Agreements are archived, never deleted: order snapshots name them.
CREATE TABLE price_agreements (
    id                  text        PRIMARY KEY,
    company_id          text        NOT NULL REFERENCES companies (id),
    sku                 text        NOT NULL REFERENCES price_book_products (sku),
    currency            text        NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    unit_amount_minor   bigint      NOT NULL CHECK (unit_amount_minor > 0),
    valid_from          timestamptz NOT NULL,
    valid_until         timestamptz CHECK (valid_until IS NULL OR valid_until > valid_from),
    notes               text,
    processor_price_id  text,
    synced              boolean     NOT NULL DEFAULT false,
    synced_at           timestamptz,
    -- Bumped by every change of amount or currency: the price sync's idempotency key names
    -- it, so a repeat creates no second processor price and a change creates a new one.
    revision            integer     NOT NULL DEFAULT 1,
    archived_at         timestamptz,
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX price_agreements_company ON price_agreements (company_id, sku, currency);
CREATE INDEX price_agreements_unsynced ON price_agreements (id) WHERE NOT synced AND archived_at IS NULL;

-- Who changed an agreement, how, and what it looked like before and after.
CREATE TABLE price_agreement_audit (
    id            bigserial   PRIMARY KEY,
    agreement_id  text        NOT NULL REFERENCES price_agreements (id),
    action        text        NOT NULL CHECK (action IN ('created', 'updated', 'archived', 'synced')),
    actor         text        NOT NULL,
    before        jsonb,
    after         jsonb       NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX price_agreement_audit_agreement ON price_agreement_audit (agreement_id, id);

-- A price-book entry's processor price version, as for agreements.
ALTER TABLE price_book_entries ADD COLUMN revision integer NOT NULL DEFAULT 1;
ALTER TABLE price_book_entries ADD COLUMN synced_at timestamptz;

-- The full resolution behind an order line's price snapshot: the scope it was priced in, the
-- candidates (agreements and price-book entries) and why each won or lost. Rewritten while
-- the snapshot is provisional; the one written when the snapshot locks stays.
CREATE TABLE pricing_resolutions (
    order_item_id  uuid        PRIMARY KEY REFERENCES hardware_order_items (id) ON DELETE CASCADE,
    order_id       uuid        NOT NULL REFERENCES hardware_orders (id) ON DELETE CASCADE,
    resolution     jsonb       NOT NULL,
    locked         boolean     NOT NULL,
    resolved_at    timestamptz NOT NULL
);
