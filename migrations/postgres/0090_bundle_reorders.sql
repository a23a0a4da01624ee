-- A refunded data-bundle order placed again from the console is a new order with its own saga,
-- linked to the one it replaces both ways, so each page names the other. `reorder_of` is
-- UNIQUE: an order is placed again at most once (retrying the new one continues the chain),
-- which backs the idempotency key against any double submit. `reorder_number` counts the links
-- back to the first order.
ALTER TABLE orders
    ADD COLUMN reorder_of     uuid UNIQUE REFERENCES orders (id),
    ADD COLUMN reordered_as   uuid UNIQUE REFERENCES orders (id),
    ADD COLUMN reorder_number integer NOT NULL DEFAULT 0 CHECK (reorder_number >= 0);

-- The console's order list runs newest first, filtered by network and date.
CREATE INDEX orders_created ON orders (created_at DESC, id DESC);
