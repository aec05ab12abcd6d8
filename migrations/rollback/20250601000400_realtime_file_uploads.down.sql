-- Reverts 20250601000400_realtime_file_uploads.sql. The publication itself stays:
-- Supabase owns it.
do $$
begin
  if exists (
    select 1 from pg_publication_tables
     where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'file_uploads'
  ) and not exists (
    select 1 from pg_publication where pubname = 'supabase_realtime' and puballtables
  ) then
    alter publication supabase_realtime drop table public.file_uploads;
  end if;
end
$$;
