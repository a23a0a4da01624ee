-- The company directory: companies tied to their legacy record, contacts with fixed roles,
-- and an address book per company. Orders reference a billing contact and address by id and
-- snapshot them when checkout is sent; shipments own their destination (an address id, or an
-- ad-hoc address, plus the snapshot taken when the shipment was made).

-- The legacy system's id for the company (its mirror is refreshed elsewhere; no foreign key,
-- so a company can be recorded before its mirror arrives).
ALTER TABLE companies
    ADD COLUMN company_mirror_id            text,
    ADD COLUMN created_at                   timestamptz,
    ADD COLUMN default_shipping_address_id  uuid,
    ADD COLUMN default_billing_address_id   uuid,
    -- Days an issued invoice gives the company to pay; 0 is prepaid (due on issue).
    ADD COLUMN payment_terms_days           integer NOT NULL DEFAULT 0
               CHECK (payment_terms_days BETWEEN 0 AND 365);
-- Companies made before the directory knew no legacy id: their own id stands in until an
-- operator sets the real one.
UPDATE companies SET company_mirror_id = id, created_at = updated_at;
ALTER TABLE companies
    ALTER COLUMN company_mirror_id SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL;
CREATE INDEX companies_name ON companies (lower(name));

CREATE TABLE addresses (
    id                 uuid        PRIMARY KEY,
    company_id         text        NOT NULL REFERENCES companies (id),
    label              text,
    line1              text        NOT NULL,
    line2              text,
    city               text        NOT NULL,
    region             text,
    postal_code        text        NOT NULL,
    country            text        NOT NULL,
    -- The normalised address (domain::hardware::directory::address_key): two live addresses
    -- of one company never share it.
    dedup_key          text        NOT NULL,
    validation_status  text        NOT NULL DEFAULT 'unvalidated'
                       CHECK (validation_status IN ('unvalidated', 'valid', 'invalid', 'overridden')),
    last_used_at       timestamptz,
    archived_at        timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    UNIQUE (id, company_id)
);
CREATE UNIQUE INDEX addresses_dedup ON addresses (company_id, dedup_key) WHERE archived_at IS NULL;

-- A default is one of the company's own addresses.
ALTER TABLE companies
    ADD FOREIGN KEY (default_shipping_address_id, id) REFERENCES addresses (id, company_id),
    ADD FOREIGN KEY (default_billing_address_id, id) REFERENCES addresses (id, company_id);

CREATE TABLE contacts (
    id          uuid        PRIMARY KEY,
    company_id  text        NOT NULL REFERENCES companies (id),
    first_name  text        NOT NULL,
    last_name   text        NOT NULL,
    email       text        NOT NULL,
    phone       text,
    notes       text,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (id, company_id)
);
CREATE INDEX contacts_company ON contacts (company_id, last_name, first_name);

-- A contact's roles within its company: each at most once, and one primary contact per role.
CREATE TABLE company_contact_roles (
    id          uuid        PRIMARY KEY,
    company_id  text        NOT NULL,
    contact_id  uuid        NOT NULL,
    role        text        NOT NULL
                CHECK (role IN ('billing', 'shipping', 'operations', 'technical', 'executive')),
    is_primary  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (contact_id, company_id) REFERENCES contacts (id, company_id),
    UNIQUE (company_id, contact_id, role)
);
CREATE UNIQUE INDEX company_contact_roles_primary
    ON company_contact_roles (company_id, role) WHERE is_primary;

-- Orders point at the directory; the jsonb columns become the snapshot checkout takes.
ALTER TABLE hardware_orders
    ADD COLUMN billing_contact_id  uuid,
    ADD COLUMN billing_address_id  uuid,
    ALTER COLUMN billing_contact DROP NOT NULL,
    ALTER COLUMN billing_address DROP NOT NULL;

ALTER TABLE shipments ADD COLUMN address_id uuid REFERENCES addresses (id);

-- Existing rows move into the directory. The key below is the SQL twin of address_key.
CREATE FUNCTION directory_migration_key(a jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws(chr(31),
        lower(trim(regexp_replace(coalesce(a->>'line1', ''), '[^[:alnum:]]+', ' ', 'g'))),
        lower(trim(regexp_replace(coalesce(a->>'line2', ''), '[^[:alnum:]]+', ' ', 'g'))),
        lower(trim(regexp_replace(coalesce(a->>'city', ''), '[^[:alnum:]]+', ' ', 'g'))),
        lower(trim(regexp_replace(coalesce(a->>'region', ''), '[^[:alnum:]]+', ' ', 'g'))),
        lower(regexp_replace(coalesce(a->>'postal_code', ''), '[^[:alnum:]]+', '', 'g')),
        lower(trim(regexp_replace(coalesce(a->>'country', ''), '[^[:alnum:]]+', ' ', 'g'))))
$$;

-- Every address an order, shipment or company default used, once per company.
INSERT INTO addresses (id, company_id, line1, line2, city, region, postal_code, country,
                       dedup_key, created_at, updated_at)
SELECT DISTINCT ON (company_id, directory_migration_key(a))
       gen_random_uuid(), company_id, coalesce(a->>'line1', ''), a->>'line2',
       coalesce(a->>'city', ''), a->>'region', coalesce(a->>'postal_code', ''),
       coalesce(a->>'country', ''), directory_migration_key(a), at, at
FROM (
    SELECT company_id, billing_address AS a, created_at AS at FROM hardware_orders
    UNION ALL SELECT company_id, shipping_address, created_at FROM hardware_orders
    UNION ALL SELECT o.company_id, s.address_snapshot, s.created_at
        FROM shipments s JOIN fulfillment_orders f ON f.id = s.fulfillment_id
        JOIN hardware_orders o ON o.id = f.order_id
    UNION ALL SELECT id, default_shipping_address, updated_at FROM companies
        WHERE default_shipping_address IS NOT NULL
) used
ORDER BY company_id, directory_migration_key(a), at;

-- One contact per e-mail address a company's orders were billed to.
INSERT INTO contacts (id, company_id, first_name, last_name, email, phone, created_at, updated_at)
SELECT DISTINCT ON (company_id, lower(billing_contact->>'email'))
       gen_random_uuid(), company_id,
       split_part(trim(coalesce(billing_contact->>'name', '')), ' ', 1),
       trim(substr(trim(coalesce(billing_contact->>'name', '')),
                   length(split_part(trim(coalesce(billing_contact->>'name', '')), ' ', 1)) + 1)),
       coalesce(billing_contact->>'email', ''), billing_contact->>'phone', created_at, created_at
FROM hardware_orders
ORDER BY company_id, lower(billing_contact->>'email'), created_at DESC;

UPDATE hardware_orders o SET billing_contact_id = c.id
FROM contacts c
WHERE c.company_id = o.company_id AND lower(c.email) = lower(coalesce(o.billing_contact->>'email', ''));

UPDATE hardware_orders o SET billing_address_id = a.id
FROM addresses a
WHERE a.company_id = o.company_id AND a.dedup_key = directory_migration_key(o.billing_address);

-- An order still to ship keeps its destination as the first shipment's address.
UPDATE hardware_orders o
SET options = o.options || jsonb_build_object('ship_to', jsonb_build_object('address_id', a.id))
FROM addresses a
WHERE a.company_id = o.company_id AND a.dedup_key = directory_migration_key(o.shipping_address);

UPDATE shipments s SET address_id = a.id
FROM fulfillment_orders f, hardware_orders o, addresses a
WHERE f.id = s.fulfillment_id AND o.id = f.order_id AND a.company_id = o.company_id
  AND a.dedup_key = directory_migration_key(s.address_snapshot);

UPDATE companies c SET default_shipping_address_id = a.id
FROM addresses a
WHERE a.company_id = c.id AND c.default_shipping_address IS NOT NULL
  AND a.dedup_key = directory_migration_key(c.default_shipping_address);

-- Billing contacts already chosen for past orders are the company's billing contacts.
INSERT INTO company_contact_roles (id, company_id, contact_id, role, is_primary, created_at)
SELECT gen_random_uuid(), c.company_id, c.id, 'billing',
       row_number() OVER (PARTITION BY c.company_id ORDER BY c.created_at DESC, c.id) = 1,
       c.created_at
FROM contacts c;

DROP FUNCTION directory_migration_key(jsonb);

ALTER TABLE hardware_orders
    ALTER COLUMN billing_contact_id SET NOT NULL,
    ALTER COLUMN billing_address_id SET NOT NULL,
    ADD FOREIGN KEY (billing_contact_id, company_id) REFERENCES contacts (id, company_id),
    ADD FOREIGN KEY (billing_address_id, company_id) REFERENCES addresses (id, company_id),
    DROP COLUMN shipping_address;
ALTER TABLE companies DROP COLUMN default_shipping_address;
