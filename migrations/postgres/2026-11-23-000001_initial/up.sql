-- PostgreSQL twin of migrations/sqlite/2026-11-23-000001_initial: the same
-- tables and columns (read the comments there); ids are BIGSERIAL and binary
-- columns BYTEA. Times are Unix seconds (UTC).
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    display_name TEXT NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL
);

CREATE TABLE identities (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL,
    CONSTRAINT identities_provider_subject UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);

CREATE TABLE provider_tokens (
    identity_id BIGINT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    access_token BYTEA NOT NULL,
    refresh_token BYTEA,
    access_token_expires_at BIGINT,
    scopes TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE pending_sign_ins (
    state_hash TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    pkce_verifier BYTEA NOT NULL,
    nonce TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ins_created_at ON pending_sign_ins (created_at);
CREATE INDEX pending_sign_ins_browser_hash ON pending_sign_ins (browser_hash);
