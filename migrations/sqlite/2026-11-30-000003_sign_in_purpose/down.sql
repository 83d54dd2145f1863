-- SQLite 3.35 and later drop columns in place (lang_altertable.html).
ALTER TABLE pending_sign_ins DROP COLUMN for_identity_id;
ALTER TABLE pending_sign_ins DROP COLUMN for_user_id;
ALTER TABLE pending_sign_ins DROP COLUMN purpose;
