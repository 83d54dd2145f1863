-- A signed-in session, known on the server. The session cookie carries a random
-- session id; the table holds only its SHA-256, so a copy of this table opens no
-- session. Signing out deletes the row, and every copy of that cookie stops
-- working at once (the cookie alone proves nothing any more). Times are Unix
-- seconds (UTC): `created_at` for the absolute lifetime (SESSION_MAX_AGE),
-- `last_seen_at` for the idle timeout (SESSION_IDLE_TIMEOUT).
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    identity_id BIGINT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);

-- Token refresh (RFC 6749 §6) and sign-out at the provider:
-- `id_token`: the sign-in's ID token, sealed like the others, for `id_token_hint`
--   (OpenID Connect RP-Initiated Logout 1.0 §2) and to compare a refreshed ID
--   token's `iss`, `sub` and `aud` with it (OIDC Core §12.2).
-- `generation`: counts the token sets stored for this identity; a refresh stores
--   its result only if the generation it started from is still current.
-- `refresh_lease_until`: while in the future, one process is refreshing these
--   tokens and the others wait for its result (single flight across processes:
--   a refresh token used twice makes rotating providers revoke the whole family).
ALTER TABLE provider_tokens ADD COLUMN id_token BLOB;
ALTER TABLE provider_tokens ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE provider_tokens ADD COLUMN refresh_lease_until BIGINT;
