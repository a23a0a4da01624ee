-- The customers' billing portal. A link is single use and short lived; only the SHA-256 of
-- its token is kept, with who asked for it (the audit of its creation). Opening it once
-- starts a portal session scoped to that one company: the cookie holds a random id, this
-- table its hash, with an idle and an absolute expiry, apart from the console's sessions so
-- neither kind can stand in for the other.
CREATE TABLE portal_links (
    token_sha256  text        PRIMARY KEY,
    company_id    text        NOT NULL REFERENCES companies (id),
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX portal_links_company ON portal_links (company_id, created_at);

CREATE TABLE portal_sessions (
    id_sha256     text        PRIMARY KEY,
    company_id    text        NOT NULL REFERENCES companies (id),
    link_sha256   text        NOT NULL UNIQUE REFERENCES portal_links (token_sha256),
    created_at    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL
);

-- A checkout a billing contact opened from the portal for an invoice's balance. No saga
-- waits for it: the processor's signed event (or its answer when the contact comes back)
-- records the payment against the invoice, once.
CREATE TABLE portal_payments (
    session_id    text        PRIMARY KEY,
    invoice_id    uuid        NOT NULL REFERENCES invoices (id),
    company_id    text        NOT NULL REFERENCES companies (id),
    amount_minor  bigint      NOT NULL CHECK (amount_minor > 0),
    currency      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('open', 'paid', 'cancelled', 'expired')),
    created_at    timestamptz NOT NULL,
    settled_at    timestamptz
);
CREATE INDEX portal_payments_invoice ON portal_payments (invoice_id, created_at);
