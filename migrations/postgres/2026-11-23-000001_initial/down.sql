DROP TABLE pending_sign_ins;
DROP TABLE provider_tokens;
DROP TABLE identities;
DROP TABLE users;
