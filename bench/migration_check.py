"""How long `migrate check`'s schema comparison takes: the kit's migrations and ~200 tables.

Usage::

    .venv/bin/python bench/migration_check.py              # the figures in docs/migrations.md
    .venv/bin/python bench/migration_check.py --tables 500 --runs 5

It starts a throw-away local stack, then for two migration folders — the kit's
own, and the kit's plus one migration of N tables (each with an identity key,
a foreign key, a default, a check constraint, two indexes, RLS, a policy, a
trigger and a grant) — applies them to a fresh branch database and times:

* ``snapshot``: reading the live catalog (one read-only query);
* ``shadow, same server``: :func:`hybridkit.database.shadow.migration_drift` as ``migrate
  check`` runs it on the local stack (a throwaway database on the target's
  server: baseline, migrations, two snapshots, the diff);
* ``shadow, temporary cluster``: the same with the shadow on a private cluster
  started and removed for the check (what a remote target gets without
  ``--shadow-url``);
* ``full check``: the report `migrate check` prints (ledger, drift, extensions,
  lints), shadow on the same server.

Each figure is the median of ``--runs`` runs (the temporary cluster: one run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hybridkit.database.checks import Expectations, check
from hybridkit.database.migrations import DirectLedger, apply_migrations, migration_status
from hybridkit.database.schema_diff import snapshot
from hybridkit.database.shadow import migration_drift
from hybridkit.local import LocalStack
from hybridkit.management import ManagementClient

KIT = Path(__file__).resolve().parents[1] / "migrations"


def many_tables(count: int) -> str:
    parts = ["create type public.bench_state as enum ('new', 'done');"]
    for i in range(count):
        parent = f"references public.bench_{i - 1:03d} (id) on delete cascade" if i else ""
        parts.append(
            f"""
create table public.bench_{i:03d} (
  id bigint generated always as identity primary key,
  parent_id bigint {parent},
  name text not null default '',
  state public.bench_state not null default 'new',
  size bigint check (size is null or size >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index bench_{i:03d}_parent_idx on public.bench_{i:03d} (parent_id);
create index bench_{i:03d}_created_idx on public.bench_{i:03d} (created_at desc);
alter table public.bench_{i:03d} enable row level security;
create policy "owner reads bench_{i:03d}" on public.bench_{i:03d}
  for select to authenticated using (name = (auth.jwt() ->> 'sub'));
create trigger bench_{i:03d}_touch before update on public.bench_{i:03d}
  for each row execute function public.hybridkit_touch_updated_at();
revoke all on public.bench_{i:03d} from anon;
grant select on public.bench_{i:03d} to authenticated;"""
        )
    return "\n".join(parts) + "\n"


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench(label: str, folder: Path, client: ManagementClient, runs: int) -> None:
    branch = client.create_branch(f"bench-{int(time.time() * 1000)}")
    try:
        url = client.get_branch(branch.id).db_url().get_secret_value()
        ledger = DirectLedger(url)
        started = time.perf_counter()
        apply_migrations(folder, ledger)
        applied = time.perf_counter() - started
        diff = migration_drift(folder, ledger, target_url=url)
        assert diff.ok, diff.table()
        expectations = Expectations.load(folder / "checks.toml")
        figures = {
            "migrate up (for scale)": applied,
            "snapshot (live catalog)": timed(lambda: snapshot(ledger.query), runs),
            "shadow, same server": timed(
                lambda: migration_drift(folder, ledger, target_url=url), runs
            ),
            "shadow, temporary cluster": timed(lambda: migration_drift(folder, ledger), 1),
            "full check (ledger+drift+lints)": timed(
                lambda: check(
                    ledger,
                    expectations,
                    status=migration_status(folder, ledger),
                    drift=migration_drift(folder, ledger, target_url=url),
                ),
                runs,
            ),
        }
        print(f"\n{label}: {diff.compared} catalog objects compared in {', '.join(diff.schemas)}")
        for name, seconds in figures.items():
            print(f"  {name:<34} {seconds:7.2f} s")
    finally:
        client.delete_branch(branch.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hybridkit-bench-"))
    try:
        big = work / "migrations"
        shutil.copytree(KIT, big)
        (big / "20250601009000_bench_tables.sql").write_text(many_tables(args.tables))
        with LocalStack(dir=work / "stack", port=0) as stack:
            client = ManagementClient(
                access_token=stack.access_token, project_ref="local", base_url=stack.url
            )
            with client:
                bench("the kit's migrations", KIT, client, args.runs)
                bench(f"the kit's migrations + {args.tables} tables", big, client, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
