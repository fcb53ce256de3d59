-- The control plane ("t0"): model versions, tenants, jobs and tasks, all in schema `mtx`.
--
-- JSON payloads use `json`, not `jsonb`: cds-mtxs echoes subscription metadata and job arguments
-- with their keys in the order they were sent, and `jsonb` would reorder them. Nothing queries
-- inside them except `tenants.location->>'database'`.
-- Identifier-like text columns use COLLATE "C" so ORDER BY gives byte order, as in SQLite.

CREATE SCHEMA IF NOT EXISTS mtx;

CREATE TABLE mtx.model_versions (
    hash       text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    csn        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mtx.tenants (
    id          text COLLATE "C" PRIMARY KEY,
    metadata    json NOT NULL,
    -- A serialized `StorageLocation` (`{"kind":"postgres","database":…,"schema":…}`).
    location    json NOT NULL,
    model       text,
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL
);

CREATE TABLE mtx.jobs (
    id          uuid PRIMARY KEY,
    op          text NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        json NOT NULL,
    status      text NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       text,
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL
);

-- The queue-size check counts unfinished jobs on every enqueue.
CREATE INDEX jobs_unfinished ON mtx.jobs (status) WHERE status IN ('QUEUED', 'RUNNING');
-- Listing the newest jobs.
CREATE INDEX jobs_created ON mtx.jobs (created_at DESC, id DESC);
-- Retention deletes old terminal jobs.
CREATE INDEX jobs_modified ON mtx.jobs (modified_at);

CREATE TABLE mtx.tasks (
    id          uuid PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES mtx.jobs (id) ON DELETE CASCADE,
    tenant      text COLLATE "C" NOT NULL,
    op          text NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        json NOT NULL,
    status      text NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       text,
    database_id text NOT NULL,
    model       text,
    attempt     integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker      text,
    created_at  timestamptz NOT NULL,
    modified_at timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz
);

-- A job's tasks in tenant order (get_job, list_jobs, roll-up) and the cascade on job deletion.
CREATE INDEX tasks_job_tenant ON mtx.tasks (job_id, tenant);
-- "Is any task of this job still unfinished?" after every completion.
CREATE INDEX tasks_job_unfinished ON mtx.tasks (job_id) WHERE status IN ('QUEUED', 'RUNNING');
-- Re-enqueueing after a restart.
CREATE INDEX tasks_unfinished ON mtx.tasks (created_at, id) WHERE status IN ('QUEUED', 'RUNNING');
