-- The Storage API's "would this upload pass?" test in one round trip (idempotent).
--
-- The real server runs, per upload and per TUS PATCH, a transaction that sets the
-- request's settings (request.jwt.claims, ..., role) and tries the INSERT (or upsert)
-- the upload will make, then rolls it back: row-level security and triggers decide.
-- This function does exactly that inside one statement: the settings are
-- transaction-local (is_local), the role switch applies to the INSERT, and the
-- sentinel exception undoes the row. Any other error (42501 RLS, 23505 duplicate,
-- a trigger's) leaves the function with its own SQLSTATE and message.
CREATE SCHEMA IF NOT EXISTS _hybridkit;
REVOKE ALL ON SCHEMA _hybridkit FROM PUBLIC;

CREATE OR REPLACE FUNCTION _hybridkit.test_upload(
  p_settings text[],   -- name, value, name, value, ... (role last)
  p_bucket text,
  p_name text,
  p_owner uuid,
  p_owner_id text,
  p_user_metadata jsonb,
  p_upsert boolean
) RETURNS void
LANGUAGE plpgsql
SECURITY INVOKER
AS $func$
DECLARE
  i integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_settings, 1), 0) / 2 LOOP
    PERFORM set_config(p_settings[2 * i - 1], p_settings[2 * i], true);
  END LOOP;
  BEGIN
    IF p_upsert THEN
      INSERT INTO storage.objects (bucket_id, name, owner, owner_id, version, user_metadata)
      VALUES (p_bucket, p_name, p_owner, p_owner_id, gen_random_uuid()::text, p_user_metadata)
      ON CONFLICT (bucket_id, name) DO UPDATE SET owner = excluded.owner,
        owner_id = excluded.owner_id, version = excluded.version,
        user_metadata = excluded.user_metadata;
    ELSE
      INSERT INTO storage.objects (bucket_id, name, owner, owner_id, version, user_metadata)
      VALUES (p_bucket, p_name, p_owner, p_owner_id, gen_random_uuid()::text, p_user_metadata);
    END IF;
    RAISE SQLSTATE 'HK000' USING MESSAGE = 'upload test passed';
  EXCEPTION WHEN SQLSTATE 'HK000' THEN
    NULL;  -- the row is undone with the block; the test passed
  END;
END;
$func$;

REVOKE ALL ON FUNCTION _hybridkit.test_upload(text[], text, text, uuid, text, jsonb, boolean) FROM PUBLIC;
