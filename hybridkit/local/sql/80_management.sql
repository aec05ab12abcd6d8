-- What the local Management API subset needs in every database (main and branches).
-- Idempotent: it runs at every start, and again in the branch template.

-- The read-only user the Management API runs `read_only` queries as (Supabase's
-- supabase_read_only_user: pg_read_all_data, BYPASSRLS, read-only by default).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_read_only_user') THEN
    CREATE ROLE supabase_read_only_user LOGIN BYPASSRLS PASSWORD 'postgres';
  END IF;
END
$$;
GRANT pg_read_all_data TO supabase_read_only_user;
ALTER ROLE supabase_read_only_user SET default_transaction_read_only = on;

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
