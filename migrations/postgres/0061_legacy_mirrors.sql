-- Legacy mirrors: read-through copies of the legacy system's companies, assets and devices,
-- keyed by the legacy id and refreshed from the bridge. `source_updated_at` is the legacy
-- record's own version when it was copied; drift detection compares it with the bridge.
CREATE TABLE company_mirrors (
    legacy_id          text        PRIMARY KEY,
    data               jsonb       NOT NULL,
    source_updated_at  timestamptz NOT NULL,
    refreshed_at       timestamptz NOT NULL
);

CREATE TABLE asset_mirrors (
    legacy_id          text        PRIMARY KEY,
    data               jsonb       NOT NULL,
    source_updated_at  timestamptz NOT NULL,
    refreshed_at       timestamptz NOT NULL
);

CREATE TABLE device_mirrors (
    legacy_id          text        PRIMARY KEY,
    data               jsonb       NOT NULL,
    source_updated_at  timestamptz NOT NULL,
    refreshed_at       timestamptz NOT NULL
);

-- What drift detection found: one row per flagged record per run. A later run that finds the
-- record in agreement closes the open row (resolved_at).
CREATE TABLE legacy_sync_reports (
    id           uuid        PRIMARY KEY,
    saga_id      uuid        NOT NULL,
    entity       text        NOT NULL CHECK (entity IN ('company', 'asset', 'device')),
    legacy_id    text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('missing_mirror', 'orphaned', 'stale', 'inconsistent')),
    detail       jsonb       NOT NULL,
    detected_at  timestamptz NOT NULL,
    resolved_at  timestamptz
);
CREATE INDEX legacy_sync_reports_open ON legacy_sync_reports (entity, legacy_id) WHERE resolved_at IS NULL;
CREATE INDEX legacy_sync_reports_detected ON legacy_sync_reports (detected_at DESC);

-- The legacy id of each company: its mirror's key. Added here only where the directory has not
-- added it already; drift detection flags a company whose mirror is missing.
ALTER TABLE companies ADD COLUMN IF NOT EXISTS company_mirror_id text;

-- Legacy syncs are not about one order: their domain events (legacy.sync_requested,
-- legacy.sync_completed) carry no order.
ALTER TABLE domain_events ALTER COLUMN order_id DROP NOT NULL;
