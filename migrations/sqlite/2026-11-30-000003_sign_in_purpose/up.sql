-- What a pending sign-in is for. `sign_in` is an ordinary sign-in (every row
-- from before this migration). `add_mail` asks an identity that is already
-- signed in for the mail permission (incremental consent): the callback must
-- come back to the same signed-in user (`for_user_id`) with the same identity
-- (`for_identity_id`). A later purpose (linking a second provider to a user)
-- reuses the same columns.
--
-- No foreign keys: a pending row lives at most 10 minutes, and the callback
-- checks the ids against the session and the identities table anyway.
ALTER TABLE pending_sign_ins ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign_in';
ALTER TABLE pending_sign_ins ADD COLUMN for_user_id BIGINT;
ALTER TABLE pending_sign_ins ADD COLUMN for_identity_id BIGINT;
