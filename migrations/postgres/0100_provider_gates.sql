-- Provider gates, shared by every node through this database: a token bucket per (provider,
-- scope) whose row is also the lock that concurrency leases are taken under, the leases
-- themselves (a dead node's expire), a breaker per provider, pauses, and the audit of every
-- pause and resume. Scope is '' for the whole provider or an endpoint name.

CREATE TABLE provider_gates (
    provider    text        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    tokens      double precision NOT NULL DEFAULT 0,
    refilled_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (provider, scope)
);

CREATE TABLE provider_leases (
    id          uuid        PRIMARY KEY,
    provider    text        NOT NULL,
    scope       text        NOT NULL,
    holder      text        NOT NULL,               -- the node that holds the permit
    expires_at  timestamptz NOT NULL                -- past it the permit counts no more
);
CREATE INDEX provider_leases_gate ON provider_leases (provider, scope, expires_at);

CREATE TABLE provider_breakers (
    provider      text        PRIMARY KEY,
    state         text        NOT NULL DEFAULT 'closed'
                  CHECK (state IN ('closed', 'open', 'half_open')),
    failures      integer     NOT NULL DEFAULT 0,   -- consecutive
    opened_at     timestamptz,
    probe_until   timestamptz,                      -- a half-open probe is in flight until then
    last_error    text,
    last_error_at timestamptz
);

CREATE TABLE provider_pauses (
    provider  text        NOT NULL,
    endpoint  text        NOT NULL DEFAULT '',      -- '' pauses the whole provider
    reason    text        NOT NULL,
    paused_by text        NOT NULL,
    paused_at timestamptz NOT NULL,
    PRIMARY KEY (provider, endpoint)
);

CREATE TABLE provider_actions (
    id         bigserial   PRIMARY KEY,
    provider   text        NOT NULL,
    endpoint   text        NOT NULL DEFAULT '',
    action     text        NOT NULL CHECK (action IN ('pause', 'resume')),
    reason     text        NOT NULL,
    actor      text        NOT NULL,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX provider_actions_provider ON provider_actions (provider, created_at DESC);
