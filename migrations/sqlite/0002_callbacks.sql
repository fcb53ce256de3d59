-- Status callbacks to the SaaS registry: a durable outbox, as in
-- migrations/postgres/0002_callbacks.sql.

CREATE TABLE callbacks (
    job_id           TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    subscription_url TEXT,
    state            TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'EXPIRED')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL
) STRICT;

CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE callback_attempts (
    job_id      TEXT NOT NULL REFERENCES callbacks (job_id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
) STRICT;
