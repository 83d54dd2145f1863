-- PostgreSQL twin of migrations/sqlite/2026-11-24-000001_sign_in_attempts.
CREATE TABLE sign_in_attempts (
    id BIGSERIAL PRIMARY KEY,
    state_hash TEXT NOT NULL UNIQUE,
    browser_hash TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    -- "in progress", "signed in" or "failed"
    outcome TEXT NOT NULL,
    -- JSON: the recorded steps
    steps TEXT NOT NULL
);
CREATE INDEX sign_in_attempts_browser_hash ON sign_in_attempts (browser_hash, started_at);
CREATE INDEX sign_in_attempts_user_id ON sign_in_attempts (user_id, started_at);
CREATE INDEX sign_in_attempts_started_at ON sign_in_attempts (started_at);
