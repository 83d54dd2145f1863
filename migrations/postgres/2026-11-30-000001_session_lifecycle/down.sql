ALTER TABLE provider_tokens DROP COLUMN refresh_lease_until;
ALTER TABLE provider_tokens DROP COLUMN generation;
ALTER TABLE provider_tokens DROP COLUMN id_token;
DROP TABLE sessions;
