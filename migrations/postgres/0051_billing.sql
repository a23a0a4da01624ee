-- Billing in depth: invoices belong to a company (an order's, or a manual one an operator
-- drafts), fall due by the company's payment terms and are flagged overdue by a daily cron;
-- adjustments and credit notes are lines and the total follows them; a manual invoice's
-- payments name it directly. Each checkout session an order opened is kept.

ALTER TABLE invoices
    ALTER COLUMN order_id DROP NOT NULL,
    ADD COLUMN company_id  text REFERENCES companies (id),
    ADD COLUMN kind        text NOT NULL DEFAULT 'order' CHECK (kind IN ('order', 'manual')),
    -- When the overdue cron flagged it (it emits `invoice.overdue` in the same transaction).
    ADD COLUMN overdue_at  timestamptz,
    ADD COLUMN notes       text,
    -- Who drafted a manual invoice (`operator:<name>`); NULL for an order's.
    ADD COLUMN created_by  text;
UPDATE invoices i SET company_id = o.company_id FROM hardware_orders o WHERE o.id = i.order_id;
ALTER TABLE invoices
    ALTER COLUMN company_id SET NOT NULL,
    ADD CHECK ((kind = 'order') = (order_id IS NOT NULL));
CREATE INDEX invoices_company ON invoices (company_id, created_at);
-- What the overdue cron looks at: open invoices not yet flagged, by due date.
CREATE INDEX invoices_open_due ON invoices (due_at)
    WHERE status IN ('issued', 'partially_paid') AND overdue_at IS NULL;

-- An item (an order line or a manual one), an adjustment (either sign) or a credit note
-- (negative). Who added a line after issue is recorded.
ALTER TABLE invoice_lines
    ADD COLUMN kind        text NOT NULL DEFAULT 'item' CHECK (kind IN ('item', 'adjustment', 'credit')),
    ADD COLUMN created_at  timestamptz,
    ADD COLUMN created_by  text,
    ADD CHECK (kind <> 'credit' OR amount_minor < 0),
    ADD CHECK (kind <> 'item' OR amount_minor >= 0);

-- A manual invoice's payments have no order.
ALTER TABLE payment_records
    ALTER COLUMN order_id DROP NOT NULL,
    ADD COLUMN invoice_id uuid REFERENCES invoices (id),
    ADD CHECK (order_id IS NOT NULL OR invoice_id IS NOT NULL);

-- Billing events of a manual invoice belong to no order.
ALTER TABLE domain_events ALTER COLUMN order_id DROP NOT NULL;
CREATE INDEX domain_events_type ON domain_events (event_type, id);

-- Every checkout session an order opened, oldest first: a recovered payment opens a new one
-- under a new saga and keeps the old one here.
CREATE TABLE hardware_checkouts (
    order_id    uuid        NOT NULL REFERENCES hardware_orders (id),
    attempt     integer     NOT NULL CHECK (attempt >= 1),
    saga_id     uuid        NOT NULL UNIQUE,
    session_id  text,
    outcome     text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, attempt)
);
INSERT INTO hardware_checkouts (order_id, attempt, saga_id, session_id, outcome, created_at)
SELECT id, 1, saga_id, checkout_session,
       CASE WHEN payment_status IN ('draft', 'checkout_sent', 'payment_processing') THEN NULL
            ELSE payment_status END,
       updated_at
FROM hardware_orders WHERE saga_id IS NOT NULL;
