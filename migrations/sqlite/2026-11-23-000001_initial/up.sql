-- Portable types only (BIGINT, TEXT, BLOB-as-binary), so a PostgreSQL twin of this
-- migration differs only in the id columns. Times are Unix seconds (UTC).

-- A person using the app. One user may link several provider identities.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL
);

-- An account at a provider, identified by the provider's stable subject (OIDC `sub`,
-- GitHub's numeric id), never by email: emails change and can be reassigned.
CREATE TABLE identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);

-- The provider's tokens for one identity, sealed with XChaCha20-Poly1305 under TOKEN_KEY.
CREATE TABLE provider_tokens (
    identity_id BIGINT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    access_token BLOB NOT NULL,
    refresh_token BLOB,
    access_token_expires_at BIGINT,
    scopes TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A sign-in that has been sent to a provider and not come back yet.
-- Looked up by the hash of `state`; single use; expires after 10 minutes.
CREATE TABLE pending_sign_ins (
    state_hash TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    pkce_verifier BLOB NOT NULL,
    nonce TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ins_created_at ON pending_sign_ins (created_at);
CREATE INDEX pending_sign_ins_browser_hash ON pending_sign_ins (browser_hash);
