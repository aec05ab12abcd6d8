-- pgvector is optional: installed where the server has it, skipped (with a
-- notice) where it does not — e.g. a plain PostgreSQL without pgvector.
-- `hybridkit migrate check` reports it either way and never fails on it.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'vector') then
    create extension if not exists vector with schema extensions;
  else
    raise notice 'extension "vector" is not available on this server; skipped (optional)';
  end if;
end
$$;
