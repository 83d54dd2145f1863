PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE identities_old (
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
INSERT INTO identities_old
    (id, user_id, provider, subject, email, display_name, created_at, last_sign_in_at)
SELECT id, user_id, provider, subject, email, display_name, created_at, last_sign_in_at
FROM identities;
DROP TABLE identities;
ALTER TABLE identities_old RENAME TO identities;
CREATE INDEX identities_user_id ON identities (user_id);
COMMIT;
PRAGMA foreign_keys = ON;
