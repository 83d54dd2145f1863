-- What happened at each step of a sign-in attempt, for the person who made it
-- to read at /flow. Secrets are never stored here: codes, tokens, verifiers and
-- state appear only as a short prefix plus a hash (see teaching::record).
-- Found by the browser that started it (`browser_hash`) until it succeeds, then
-- by its user; deleted with the user, after 7 days, or beyond 10 per browser or user.
CREATE TABLE sign_in_attempts (
    id INTEGER PRIMARY KEY NOT NULL,
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
