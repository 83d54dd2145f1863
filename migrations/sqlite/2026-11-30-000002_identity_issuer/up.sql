-- Identities are keyed by (issuer, subject), not (provider, subject).
--
-- OpenID Connect Core §5.7: `sub` is unique only at its issuer, so only the
-- pair identifies a person. One configured provider can stand for several
-- issuers: Microsoft's `common` endpoint signs every tenant's tokens with that
-- tenant's own issuer (`https://login.microsoftonline.com/{tid}/v2.0`). For
-- plain OAuth 2.0 providers (GitHub) the issuer is the origin of the
-- authorization endpoint, the authority that numbers its users.
--
-- Rows from before this migration do not know their issuer: they get
-- `legacy:{provider}`, and the next sign-in of that person fills in the real
-- issuer (`db::accounts::record_sign_in`), so nobody loses their account.
--
-- SQLite's documented twelve-step rebuild (lang_altertable.html §7): foreign
-- keys off so that dropping the old table does not cascade to the tokens and
-- sessions that point at it, then checked before commit.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE identities_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
INSERT INTO identities_new
    (id, user_id, provider, issuer, subject, email, display_name, created_at, last_sign_in_at)
SELECT id, user_id, provider, 'legacy:' || provider, subject, email, display_name,
       created_at, last_sign_in_at
FROM identities;
DROP TABLE identities;
ALTER TABLE identities_new RENAME TO identities;
CREATE INDEX identities_user_id ON identities (user_id);
COMMIT;
PRAGMA foreign_keys = ON;
