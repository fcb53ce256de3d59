-- The control plane of the embedded mode: model versions, tenants, jobs and tasks, in one SQLite
-- file. The same design as migrations/postgres/0001_control_plane.sql, in SQLite's types: JSON,
-- ids and timestamps (ISO-8601 with milliseconds and `Z`, which sorts as text) are TEXT.

CREATE TABLE model_versions (
    hash       TEXT PRIMARY KEY,
    csn        TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    location    TEXT NOT NULL,
    model       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_modified ON jobs (modified_at);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant      TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    database_id TEXT NOT NULL,
    model       TEXT,
    attempt     INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker      TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
) STRICT;

CREATE INDEX tasks_job_tenant ON tasks (job_id, tenant);
CREATE INDEX tasks_job_unfinished ON tasks (job_id) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX tasks_unfinished ON tasks (created_at, id) WHERE status IN ('QUEUED', 'RUNNING');
