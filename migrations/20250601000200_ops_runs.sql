-- Run history: one row per runbook or CLI run (interactive or scheduled).

-- Keeps updated_at honest on every UPDATE. A fixed, empty search_path so that
-- no caller can shadow now() (advisor lint 0011).
create or replace function public.hybridkit_touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
revoke execute on function public.hybridkit_touch_updated_at() from public, anon, authenticated;

create table if not exists public.ops_runs (
  id uuid primary key default extensions.uuid_generate_v4(),
  runbook text not null,
  status text not null default 'running'
    check (status in ('running', 'succeeded', 'failed', 'cancelled')),
  dry_run boolean not null default true,
  parameters jsonb not null default '{}'::jsonb,
  summary jsonb,
  error text,
  started_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);

create index if not exists ops_runs_created_at_idx on public.ops_runs (created_at);
create index if not exists ops_runs_status_idx on public.ops_runs (status);

create trigger ops_runs_touch_updated_at
  before update on public.ops_runs
  for each row execute function public.hybridkit_touch_updated_at();

-- Only the service role reads and writes the run history; the API keys of end
-- users see nothing (RLS on, no policy for anon/authenticated, no grants).
alter table public.ops_runs enable row level security;
revoke all on table public.ops_runs from anon, authenticated;
grant select, insert, update, delete on table public.ops_runs to service_role;
create policy "hybridkit service role manages ops_runs"
  on public.ops_runs for all to service_role using (true) with check (true);
