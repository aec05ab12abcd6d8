-- Stream upload progress to Realtime subscribers: file_uploads joins the
-- supabase_realtime publication (created empty on Supabase; created here when
-- a self-hosted database lacks it). A FOR ALL TABLES publication already has it.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
  if not exists (
    select 1 from pg_publication where pubname = 'supabase_realtime' and puballtables
  ) and not exists (
    select 1 from pg_publication_tables
     where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'file_uploads'
  ) then
    alter publication supabase_realtime add table public.file_uploads;
  end if;
end
$$;
