ALTER TABLE sessions DROP COLUMN browser;
ALTER TABLE sessions DROP COLUMN handle;
