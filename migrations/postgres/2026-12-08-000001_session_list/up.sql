-- PostgreSQL twin of migrations/sqlite/2026-12-08-000001_session_list
-- (what /account/sessions shows; read the comments there).
ALTER TABLE sessions ADD COLUMN handle TEXT NOT NULL DEFAULT '';
UPDATE sessions SET handle = md5(random()::text || id_hash);
ALTER TABLE sessions ADD COLUMN browser TEXT;
