-- Trust boundaries: who moved money, and the console's server-side sessions.

-- Who credited a wallet by hand (`<role>:<token name>`); NULL for the saga's own debits and
-- refunds, whose saga records who started it.
ALTER TABLE wallet_ledger ADD COLUMN actor text;

-- One row per signed-in console session. Only the SHA-256 of the random session id is kept,
-- so a copy of this table lets no one in; the row goes at sign-out.
CREATE TABLE console_sessions (
    id_sha256   text        PRIMARY KEY,
    token_name  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX console_sessions_created ON console_sessions (created_at);
