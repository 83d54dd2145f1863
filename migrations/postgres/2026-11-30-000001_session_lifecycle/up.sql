-- PostgreSQL twin of migrations/sqlite/2026-11-30-000001_session_lifecycle
-- (server-side sessions; refresh generation and lease: read the comments there).
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    identity_id BIGINT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);

ALTER TABLE provider_tokens ADD COLUMN id_token BYTEA;
ALTER TABLE provider_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provider_tokens ADD COLUMN refresh_lease_until BIGINT;
