-- The storage schema of Supabase's Storage API (after its migrations), for the local stack.
-- Tables, triggers and helper functions that RLS policies and the Storage API routes use;
-- see shared/reference/storage-api.md §8. Idempotent: it runs at every stack start.
-- Owned by the bootstrap superuser, so RLS applies to anon/authenticated, which the
-- server switches to per transaction (service_role has BYPASSRLS).

-- Types ---------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'storage' AND t.typname = 'buckettype'
  ) THEN
    CREATE TYPE storage.buckettype AS ENUM ('STANDARD', 'ANALYTICS', 'VECTOR');
  END IF;
END
$$;

-- Tables --------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS storage.buckets (
  id text NOT NULL PRIMARY KEY,
  name text NOT NULL,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  public boolean DEFAULT false,
  avif_autodetection boolean DEFAULT false,
  file_size_limit bigint,
  allowed_mime_types text[],
  owner_id text,
  type storage.buckettype NOT NULL DEFAULT 'STANDARD'
);
COMMENT ON COLUMN storage.buckets.owner IS 'Field is deprecated, use owner_id instead';
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets USING btree (name);

CREATE TABLE IF NOT EXISTS storage.objects (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  bucket_id text,
  name text,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  last_accessed_at timestamptz DEFAULT now(),
  metadata jsonb,
  path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
  version text,
  owner_id text,
  user_metadata jsonb,
  CONSTRAINT "objects_bucketId_fkey" FOREIGN KEY (bucket_id) REFERENCES storage.buckets (id)
);
COMMENT ON COLUMN storage.objects.owner IS 'Field is deprecated, use owner_id instead';
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects USING btree (bucket_id, name);
CREATE INDEX IF NOT EXISTS name_prefix_search ON storage.objects USING btree (name text_pattern_ops);
CREATE INDEX IF NOT EXISTS idx_objects_bucket_id_name
  ON storage.objects USING btree (bucket_id, name COLLATE "C");
CREATE INDEX IF NOT EXISTS idx_objects_bucket_id_lower_name
  ON storage.objects USING btree (bucket_id, (lower(name)) COLLATE "C");

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;

GRANT ALL ON TABLE storage.buckets TO anon, authenticated, service_role;
GRANT ALL ON TABLE storage.objects TO anon, authenticated, service_role;

-- Triggers ------------------------------------------------------------------
CREATE OR REPLACE FUNCTION storage.update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION storage.enforce_bucket_name_length() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF length(NEW.name) > 100 THEN
    RAISE EXCEPTION 'bucket name "%" is too long (% characters). Max is 100.',
      NEW.name, length(NEW.name);
  END IF;
  RETURN NEW;
END;
$$;

-- Deleting rows behind the API's back would orphan stored bytes; the API sets
-- storage.can_delete in its own transactions.
CREATE OR REPLACE FUNCTION storage.protect_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('storage.can_delete', true), 'false') <> 'true' THEN
    RAISE EXCEPTION 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
      USING HINT = 'This prevents accidental data loss from orphaned objects.',
            ERRCODE = '42501';
  END IF;
  RETURN NULL;
END;
$$;

-- The storage triggers, each created once (PostgreSQL before 14 has no CREATE OR REPLACE TRIGGER).
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
    ('update_objects_updated_at', 'storage.objects', 'BEFORE UPDATE', 'ROW', 'storage.update_updated_at_column'),
    ('enforce_bucket_name_length_trigger', 'storage.buckets', 'BEFORE INSERT OR UPDATE OF name', 'ROW', 'storage.enforce_bucket_name_length'),
    ('protect_buckets_delete', 'storage.buckets', 'BEFORE DELETE', 'STATEMENT', 'storage.protect_delete'),
    ('protect_objects_delete', 'storage.objects', 'BEFORE DELETE', 'STATEMENT', 'storage.protect_delete')
  ) AS v(name, tab, event, level, fn) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t.name AND tgrelid = t.tab::regclass) THEN
      EXECUTE format('CREATE TRIGGER %I %s ON %s FOR EACH %s EXECUTE FUNCTION %s()',
                     t.name, t.event, t.tab, t.level, t.fn);
    END IF;
  END LOOP;
END
$$;

-- Helper functions for policies ---------------------------------------------
CREATE OR REPLACE FUNCTION storage.foldername(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[1 : array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  _parts text[];
  _filename text;
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  SELECT _parts[array_length(_parts, 1)] INTO _filename;
  RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$$;

CREATE OR REPLACE FUNCTION storage.operation() RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN current_setting('storage.operation', true);
END;
$$;

-- Policy helpers: is this request one of these operations? ("storage." prefix optional)
CREATE OR REPLACE FUNCTION storage.allow_any_operation(expected_operations text[]) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    regexp_replace(storage.operation(), '^storage[.]', '')
      = ANY (SELECT regexp_replace(op, '^storage[.]', '')
             FROM unnest(expected_operations) AS op
             WHERE op IS NOT NULL AND op <> ''),
    false);
$$;

CREATE OR REPLACE FUNCTION storage.allow_only_operation(expected_operation text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT storage.allow_any_operation(ARRAY[expected_operation]);
$$;

CREATE OR REPLACE FUNCTION storage.get_size_by_bucket()
RETURNS TABLE (size bigint, bucket_id text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY
    SELECT sum((o.metadata ->> 'size')::bigint)::bigint AS size, o.bucket_id
    FROM storage.objects AS o
    GROUP BY o.bucket_id;
END
$$;

CREATE OR REPLACE FUNCTION storage.can_insert_object(bucketid text, name text, owner uuid, metadata jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO storage.objects (bucket_id, name, owner, metadata)
  VALUES (bucketid, name, owner, metadata);
  -- Undo the successful insert: the caller only wanted to know whether it was allowed.
  RAISE sqlstate 'PT200' USING message = 'ROLLBACK', detail = 'rollback successful insert';
END
$$;

-- The lower-case folder ("a/b/") that key lies in one level below prefix, or NULL.
CREATE OR REPLACE FUNCTION storage.get_common_prefix(p_key text, p_prefix text, p_delimiter text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN position(p_delimiter IN substring(p_key FROM length(p_prefix) + 1)) > 0
    THEN left(p_key, length(p_prefix) + position(p_delimiter IN substring(p_key FROM length(p_prefix) + 1)))
    ELSE NULL
  END;
$$;

-- List v1: one level below a folder prefix; names relative to the prefix; deeper
-- paths become folder rows with NULL id/timestamps/metadata. prefix || search is a
-- case-insensitive prefix match. Runs as the caller (SECURITY INVOKER), so RLS
-- filters what the caller sees. `levels` is kept for signature compatibility;
-- the level comes from the prefix itself.
CREATE OR REPLACE FUNCTION storage.search(
  prefix text,
  bucketname text,
  limits int DEFAULT 100,
  levels int DEFAULT 1,
  offsets int DEFAULT 0,
  search text DEFAULT '',
  sortcolumn text DEFAULT 'name',
  sortorder text DEFAULT 'asc'
)
RETURNS TABLE (
  name text,
  id uuid,
  updated_at timestamptz,
  created_at timestamptz,
  last_accessed_at timestamptz,
  metadata jsonb
)
SECURITY INVOKER
LANGUAGE plpgsql STABLE AS $func$
DECLARE
  v_prefix text := coalesce(prefix, '');
  v_full text := coalesce(prefix, '') || coalesce(search, '');
  v_lower text := lower(coalesce(prefix, '') || coalesce(search, ''));
  v_upper text;
  v_limit int := least(coalesce(limits, 100), 1500);
  v_offset int := greatest(coalesce(offsets, 0), 0);
  v_dir text := CASE WHEN lower(coalesce(sortorder, 'asc')) = 'desc' THEN 'DESC' ELSE 'ASC' END;
  v_col text;
  v_order text;
BEGIN
  v_col := CASE lower(coalesce(sortcolumn, 'name'))
    WHEN 'updated_at' THEN 'updated_at'
    WHEN 'created_at' THEN 'created_at'
    WHEN 'last_accessed_at' THEN 'last_accessed_at'
    ELSE 'name'
  END;
  IF v_lower <> '' THEN
    -- Everything that starts with v_lower sorts in [v_lower, v_upper) bytewise.
    v_upper := left(v_lower, -1) || chr(ascii(right(v_lower, 1)) + 1);
  END IF;
  IF v_col = 'name' THEN
    v_order := format('e.sortkey COLLATE "C" %s', v_dir);
  ELSE
    -- As the real function: folders first (by name), then files by the column.
    v_order := format(
      'e.is_folder DESC, (CASE WHEN e.is_folder THEN e.sortkey END) COLLATE "C" %s, e.%I %s, e.sortkey COLLATE "C" %s',
      v_dir, v_col, v_dir, v_dir);
  END IF;

  RETURN QUERY EXECUTE format($q$
    WITH matched AS (
      SELECT o.name, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata,
             position('/' IN substring(o.name FROM length($2) + 1)) AS slash
      FROM storage.objects AS o
      WHERE o.bucket_id = $1
        AND ($3 IS NULL OR (lower(o.name) COLLATE "C" >= $4 AND lower(o.name) COLLATE "C" < $3))
        AND starts_with(lower(o.name), $4)
    ), entries AS (
      (SELECT DISTINCT ON (lower(left(m.name, length($2) + m.slash)))
              substring(left(m.name, length($2) + m.slash - 1) FROM length($5) + 1) AS name,
              NULL::uuid AS id, NULL::timestamptz AS updated_at, NULL::timestamptz AS created_at,
              NULL::timestamptz AS last_accessed_at, NULL::jsonb AS metadata,
              lower(left(m.name, length($2) + m.slash)) AS sortkey, true AS is_folder
       FROM matched AS m
       WHERE m.slash > 0
       ORDER BY lower(left(m.name, length($2) + m.slash)), m.name COLLATE "C")
      UNION ALL
      SELECT substring(m.name FROM length($5) + 1), m.id, m.updated_at, m.created_at,
             m.last_accessed_at, m.metadata, lower(m.name), false
      FROM matched AS m
      WHERE m.slash = 0
    )
    SELECT e.name, e.id, e.updated_at, e.created_at, e.last_accessed_at, e.metadata
    FROM entries AS e
    ORDER BY %s
    LIMIT $6 OFFSET $7
  $q$, v_order)
  USING bucketname, v_full, v_upper, v_lower, v_prefix, v_limit, v_offset;
END;
$func$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA storage TO anon, authenticated, service_role;
