-- One row per licence and expiry date that the daily licence_expiry job has marked EXPIRED and
-- announced (SUBSCRIPTION_EXPIRED), so the announcement is sent once however often the job runs;
-- a licence renewed after it expired and expiring again gets a row for its new date.
CREATE TABLE licence_expiries (
    licence_id  bigint      NOT NULL REFERENCES licences (id),
    expires_on  date        NOT NULL,
    saga_id     uuid,
    expired_at  timestamptz NOT NULL,
    PRIMARY KEY (licence_id, expires_on)
);
