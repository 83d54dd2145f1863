ALTER TABLE identities DROP CONSTRAINT identities_issuer_subject;
ALTER TABLE identities ADD CONSTRAINT identities_provider_subject UNIQUE (provider, subject);
ALTER TABLE identities DROP COLUMN issuer;
