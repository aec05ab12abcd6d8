-- Reverts 20250601000200_ops_runs.sql (roll back 20250601000300_file_uploads first).
drop table if exists public.ops_runs;
drop function if exists public.hybridkit_touch_updated_at();
