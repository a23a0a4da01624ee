-- The operator's surface: an audit trail of every operator action, and the progress of bulk
-- jobs (each runs as its own `ops_bulk` saga, whose id is the job id).

CREATE TABLE operator_actions (
    id          bigserial   PRIMARY KEY,
    saga_id     uuid        NOT NULL,
    action      text        NOT NULL,               -- retry, resume, cancel
    actor       text        NOT NULL,               -- the token's name
    role        text        NOT NULL,
    reason      text        NOT NULL,
    from_status text        NOT NULL,
    to_status   text        NOT NULL,
    job_id      uuid,                               -- set when a bulk job did it
    created_at  timestamptz NOT NULL
);
CREATE INDEX operator_actions_created ON operator_actions (created_at DESC, id DESC);
CREATE INDEX operator_actions_saga ON operator_actions (saga_id);

CREATE TABLE bulk_jobs (
    id          uuid        PRIMARY KEY,            -- the ops_bulk saga's id
    action      text        NOT NULL,
    reason      text        NOT NULL,
    actor       text        NOT NULL,
    role        text        NOT NULL,
    total       integer     NOT NULL,
    created_at  timestamptz NOT NULL
);

-- One row per targeted saga; outcome NULL until the job has acted on it, so a job that crashes
-- resumes with the rows still NULL.
CREATE TABLE bulk_job_items (
    job_id      uuid        NOT NULL REFERENCES bulk_jobs (id) ON DELETE CASCADE,
    saga_id     uuid        NOT NULL,
    outcome     text,                               -- done, failed
    error       text,
    PRIMARY KEY (job_id, saga_id)
);
CREATE INDEX bulk_job_items_open ON bulk_job_items (job_id) WHERE outcome IS NULL;

-- A phone number in Ghana's national form (0244123456) from any way it was typed
-- (+233 24 412 3456, 233244123456, 244123456), so search matches however it was stored.
CREATE FUNCTION ops_phone(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN d ~ '^00233' THEN '0' || substr(d, 6)
        WHEN d ~ '^233' THEN '0' || substr(d, 4)
        WHEN length(d) = 9 THEN '0' || d
        ELSE d END
    FROM regexp_replace(coalesce(t, ''), '\D', '', 'g') AS d
$$;
