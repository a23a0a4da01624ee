-- Trust boundaries: who moved money, and the console's server-side sessions.

-- Who credited a wallet by hand (`<role>:<token name>`); NULL for the saga's own debits and
-- refunds, whose saga records who started it.
ALTER TABLE wallet_ledger ADD COLUMN actor text;

-- Who recorded a manual payment (`<role>:<token name>`); NULL for the processor's own.
ALTER TABLE payment_records ADD COLUMN actor text;

-- The service whose customer a wallet is (its first top-up's token); NULL when an operator
-- opened it. Another service's token gets 404 for it.
ALTER TABLE wallets ADD COLUMN owner text;

-- One row per signed-in console session. Only the SHA-256 of the random session id is kept,
-- so a copy of this table lets no one in; the row goes at sign-out.
CREATE TABLE console_sessions (
    id_sha256     text        PRIMARY KEY,
    -- Which configured token signed in: a token removed from [auth] ends its sessions.
    token_sha256  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX console_sessions_created ON console_sessions (created_at);
