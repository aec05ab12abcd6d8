-- What the local Management API subset needs in every database (main and branches).
-- Idempotent: it runs at every start, and again in the branch template.

-- The read-only user that read-only SQL runs as (the Management API's `read_only`,
-- `hybridkit sql` without --write): Supabase's supabase_read_only_user — it reads
-- every table (BYPASSRLS), is read-only by default, and holds none of the roles that
-- reach the server's files, programs or other sessions.
--
-- It reads through explicit grants rather than pg_read_all_data: that role bypasses
-- every table's ACL, pg_authid's too, so it would hand out the password hashes.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_read_only_user') THEN
    CREATE ROLE supabase_read_only_user LOGIN BYPASSRLS PASSWORD 'postgres';
  END IF;
END
$$;
ALTER ROLE supabase_read_only_user NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
REVOKE pg_read_all_data, pg_write_all_data, pg_read_server_files, pg_write_server_files,
  pg_execute_server_program, pg_signal_backend FROM supabase_read_only_user;
ALTER ROLE supabase_read_only_user SET default_transaction_read_only = on;
ALTER ROLE supabase_read_only_user SET statement_timeout = '60s';
-- Nor other sessions' query texts (an ALTER ROLE ... PASSWORD shows there).
REVOKE pg_read_all_settings, pg_read_all_stats FROM supabase_read_only_user;
-- Every schema but the catalogs and the stack's own bookkeeping, now and later.
DO $$
DECLARE
  s text;
BEGIN
  FOR s IN
    SELECT nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', '_hybridkit')
      AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
  LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO supabase_read_only_user', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO supabase_read_only_user', s);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO supabase_read_only_user', s);
  END LOOP;
END
$$;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO supabase_read_only_user;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON SEQUENCES TO supabase_read_only_user;
-- Schemas and tables made later by anyone (migrations, dashboards, tests) are readable too.
-- SECURITY DEFINER: the schema _hybridkit is closed to PUBLIC, and the trigger fires
-- for every role's DDL.
CREATE SCHEMA IF NOT EXISTS _hybridkit;
CREATE OR REPLACE FUNCTION _hybridkit.grant_read_only() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  obj record;
BEGIN
  FOR obj IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
    IF obj.object_type = 'schema' AND obj.object_identity NOT LIKE 'pg\_%' THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %s TO supabase_read_only_user', obj.object_identity);
    ELSIF obj.object_type IN ('table', 'view', 'materialized view', 'foreign table', 'sequence')
      AND obj.schema_name NOT IN ('pg_catalog', 'information_schema', '_hybridkit')
      AND obj.schema_name NOT LIKE 'pg\_temp%' THEN
      EXECUTE format('GRANT SELECT ON %s TO supabase_read_only_user', obj.object_identity);
    END IF;
  END LOOP;
END
$$;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = '_hybridkit_grant_read_only') THEN
    CREATE EVENT TRIGGER _hybridkit_grant_read_only ON ddl_command_end
      WHEN TAG IN ('CREATE SCHEMA', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO',
                   'CREATE VIEW', 'CREATE MATERIALIZED VIEW', 'CREATE FOREIGN TABLE',
                   'CREATE SEQUENCE')
      EXECUTE FUNCTION _hybridkit.grant_read_only();
  END IF;
END
$$;

-- The local stack's own bookkeeping; not exposed through the API.
CREATE SCHEMA IF NOT EXISTS _hybridkit;
REVOKE ALL ON SCHEMA _hybridkit FROM PUBLIC;

-- Branches (kept in the main database only; empty elsewhere).
CREATE TABLE IF NOT EXISTS _hybridkit.branches (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  project_ref text NOT NULL UNIQUE,
  parent_project_ref text NOT NULL,
  database text NOT NULL UNIQUE,
  status text NOT NULL,
  git_branch text,
  persistent boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Storage settings per project ref, as GET/PATCH /v1/projects/{ref}/config/storage see them.
CREATE TABLE IF NOT EXISTS _hybridkit.storage_config (
  project_ref text PRIMARY KEY,
  config jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Migrations applied through POST .../database/migrations: the Idempotency-Key and
-- rollback the hosted API keeps beside the CLI's ledger (whose shape stays the CLI's).
CREATE TABLE IF NOT EXISTS _hybridkit.migration_requests (
  version text PRIMARY KEY,
  idempotency_key text UNIQUE,
  rollback text[],
  created_at timestamptz NOT NULL DEFAULT now()
);
