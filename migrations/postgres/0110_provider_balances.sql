-- Provider balances read by the balance watch (`[bundles] balance_poll`, a periodic job, not a
-- saga): one row per reading, failed readings included with their error. A day's readings are
-- kept per provider; `GET /v1/providers/reseller/balance` shows the newest.
CREATE TABLE provider_balances (
    id        bigserial        PRIMARY KEY,
    provider  text             NOT NULL,
    balance   double precision,
    currency  text,
    read_at   timestamptz      NOT NULL,
    error     text,
    CHECK ((balance IS NULL) <> (error IS NULL))
);
CREATE INDEX provider_balances_newest ON provider_balances (provider, read_at DESC);
