-- PostgreSQL twin of migrations/sqlite/2026-11-30-000002_identity_issuer:
-- identities are keyed by (issuer, subject) (OpenID Connect Core §5.7; read the
-- comments there). PostgreSQL changes the constraint in place, inside the
-- migration's transaction; rows from before get `legacy:{provider}` and the
-- next sign-in fills in the real issuer.
ALTER TABLE identities ADD COLUMN issuer TEXT;
UPDATE identities SET issuer = 'legacy:' || provider;
ALTER TABLE identities ALTER COLUMN issuer SET NOT NULL;
ALTER TABLE identities DROP CONSTRAINT identities_provider_subject;
ALTER TABLE identities ADD CONSTRAINT identities_issuer_subject UNIQUE (issuer, subject);
