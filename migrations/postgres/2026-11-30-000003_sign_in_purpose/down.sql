ALTER TABLE pending_sign_ins DROP COLUMN for_identity_id;
ALTER TABLE pending_sign_ins DROP COLUMN for_user_id;
ALTER TABLE pending_sign_ins DROP COLUMN purpose;
