-- The upload ledger: one row per file an upload job handled, so a job can be
-- resumed, audited and verified. Realtime subscribers follow it (next migration).
create table if not exists public.file_uploads (
  id uuid primary key default extensions.uuid_generate_v4(),
  bucket text not null,
  path text not null,
  size bigint check (size is null or size >= 0),
  checksum text,
  status text not null default 'pending'
    check (status in ('pending', 'uploading', 'uploaded', 'verified', 'skipped', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  run_id uuid references public.ops_runs (id) on delete set null,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index if not exists file_uploads_created_at_idx on public.file_uploads (created_at);
create index if not exists file_uploads_status_idx on public.file_uploads (status);
-- Covers the foreign key (advisor lint 0001) and "what did run X upload?".
create index if not exists file_uploads_run_id_idx on public.file_uploads (run_id);
create index if not exists file_uploads_bucket_path_idx on public.file_uploads (bucket, path);

create trigger file_uploads_touch_updated_at
  before update on public.file_uploads
  for each row execute function public.hybridkit_touch_updated_at();

alter table public.file_uploads enable row level security;
revoke all on table public.file_uploads from anon, authenticated;
grant select, insert, update, delete on table public.file_uploads to service_role;
create policy "hybridkit service role manages file_uploads"
  on public.file_uploads for all to service_role using (true) with check (true);
