-- PostgreSQL twin of migrations/sqlite/2026-11-30-000003_sign_in_purpose
-- (what a pending sign-in is for; read the comments there).
ALTER TABLE pending_sign_ins ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign_in';
ALTER TABLE pending_sign_ins ADD COLUMN for_user_id BIGINT;
ALTER TABLE pending_sign_ins ADD COLUMN for_identity_id BIGINT;
