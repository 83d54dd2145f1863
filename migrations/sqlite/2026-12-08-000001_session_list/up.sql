-- What `/account/sessions` shows of each signed-in session, and how its
-- "End" button names it:
-- `handle`: a random 128-bit name for the row, shown in the page's form
--   (`/account/sessions/{handle}/end`). Never the session id or its hash:
--   the id opens the session, and the hash is how the server finds it.
--   Rows from before this migration get one here.
-- `browser`: a short description of the browser that signed in ("Firefox
--   on Linux"), made from its User-Agent when the session began; the raw
--   header is not kept.
ALTER TABLE sessions ADD COLUMN handle TEXT NOT NULL DEFAULT '';
UPDATE sessions SET handle = lower(hex(randomblob(16)));
ALTER TABLE sessions ADD COLUMN browser TEXT;
