"""Run the official storage-js test suite (Jest), unchanged, against the local stack.

storage-js's suite is written for the Supabase CLI's stack (``npx supabase start --workdir
test`` then ``supabase db reset``, which loads ``test/supabase/seed.sql``: three users, the
buckets ``bucket2`` … ``bucket5`` and ``bucket-move``, their objects' rows and RLS policies on
``storage.objects``). This script gives the suite what that infrastructure gives, the way
``bench/postgrest_suites.py`` does for the PostgREST clients: a local stack of its own on a free
port with a temporary state folder (signing keys with the CLI's demo JWT secret, so the
service-role key written in the tests is valid), the suite's own seed loaded into the stack's
PostgreSQL, and the suite's URL constant (``http://127.0.0.1:54321/storage/v1``) pointed at the
stack. Then it runs Jest as upstream does (``jest --runInBand``, ts-jest with type-checking,
the default 5 s test timeout) and prints passed/failed/skipped, the failing tests' names and
the first lines of their messages. "Live tests" are those of the files that talk to the server
(the ones with the URL constant: storageApi, storageBucketApi, storageFileApi,
storageFileApiNode; 135 tests, two of them ``it.skip`` upstream); the other files mock
``fetch``.

Usage (the tree is extracted from supabase-js's repository)::

    git --git-dir=<supabase-js mirror> archive HEAD packages/core/storage-js tsconfig.base.json \\
        | tar -x -C /tmp/sjs-tree
    .venv/bin/python bench/storage_js_suite.py /tmp/sjs-tree/packages/core/storage-js \\
        [--root /tmp/sjs-tree] [--work /tmp/sjs-work] [-- JEST ARGS...]

``--root`` is the monorepo's root, for ``tsconfig.base.json`` (by default three folders above
the suite). ``--work`` keeps the suite's ``node_modules`` between runs (default:
``$TMPDIR/hybridkit-storage-js-suite``). Arguments after ``--`` go to Jest (e.g. ``-t 'sign
url'``).

What differs from the suite's own set-up, and why:

- no fetch wrapper: the suite's requests carry the service-role key in ``Authorization`` (or
  deliberately none), and the stack, like Supabase's gateway on ``/storage/v1``, takes a
  request without ``apikey``; the keyless ones must reach the stack keyless;
- coverage is not collected (upstream's ``--coverage`` changes no outcome);
- Jest runs with ``--ci``: snapshots are compared, never written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg
from postgrest_suites import JS_DEV_DEPENDENCIES, _run

from hybridkit.local import LocalStack

SUITE_URL = "http://127.0.0.1:54321/storage/v1"

DEV_DEPENDENCIES = {
    **JS_DEV_DEPENDENCIES,
    # storage-js's own dependencies (package.json)
    "iceberg-js": "^0.8.1",
}

JEST_CONFIG = """\
// upstream's jest.config.js, without coverage
const upstream = require('./jest.config.js')
module.exports = {
  ...upstream,
  rootDir: __dirname,
  collectCoverage: false,
  prettierPath: require.resolve('prettier'),
}
"""


def install(tree: Path, root: Path, work: Path) -> Path:
    """Copy the suite under ``work`` (monorepo layout) and install its packages; the copy."""
    base = work / "js"
    suite = base / "packages" / "core" / "storage-js"
    modules = base / "node_modules"
    if suite.exists():
        shutil.rmtree(suite)
    shutil.copytree(tree, suite, ignore=shutil.ignore_patterns("node_modules", "coverage"))
    shutil.copy(root / "tsconfig.base.json", base / "tsconfig.base.json")
    package = {
        "name": "hybridkit-storage-js-suite",
        "private": True,
        "devDependencies": DEV_DEPENDENCIES,
    }
    manifest = base / "package.json"
    if not modules.exists() or json.loads(manifest.read_text()) != package:
        manifest.write_text(json.dumps(package, indent=2))
        _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=base)
    (suite / "jest.hybridkit.config.js").write_text(JEST_CONFIG)
    return suite


def point_at(suite: Path, url: str) -> set[Path]:
    """Replace the suite's URL constant (the CLI's API port) with the stack's.

    Returns the test files that had it: the ones that talk to a live server (the others
    mock ``fetch``).
    """
    live = set()
    for test in (suite / "test").rglob("*.ts"):
        text = test.read_text()
        new = text.replace(SUITE_URL, url)
        if new != text:
            test.write_text(new)
            live.add(test.relative_to(suite / "test"))
    return live


Counts = tuple[int, int, int]


def run(suite: Path, jest_args: list[str]) -> tuple[Counts, Counts, list[str]]:
    """Seed a fresh stack, run Jest against it.

    Returns (passed, failed, skipped) over the live test files and over all of them, and
    the failures (file, test name, the first lines of the message).
    """
    report = suite / "jest-results.json"
    report.unlink(missing_ok=True)
    seed = (suite / "test" / "supabase" / "seed.sql").read_text()
    with LocalStack(dir=Path(tempfile.mkdtemp(prefix="storage-js-")), port=0) as stack:
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute(seed)  # type: ignore[arg-type]
        live = point_at(suite, stack.url + "/storage/v1")
        _run(
            [
                str(suite.parents[2] / "node_modules" / ".bin" / "jest"),
                "--config",
                "jest.hybridkit.config.js",
                "--runInBand",
                "--ci",
                "--json",
                f"--outputFile={report}",
                *jest_args,
            ],
            cwd=suite,
        )
    results = json.loads(report.read_text())
    counts = {True: [0, 0, 0], False: [0, 0, 0]}
    failures: list[str] = []
    for file in results["testResults"]:
        name = Path(file["name"]).relative_to(suite / "test")
        if not file["assertionResults"] and file.get("message"):
            failures.append(f"{name} (the file did not run): {file['message'][:300]}")
        for case in file["assertionResults"]:
            column = {"passed": 0, "failed": 1}.get(case["status"], 2)
            counts[name in live][column] += 1
            if case["status"] == "failed":
                message = "\n".join(case.get("failureMessages") or [""])
                lines = [line.strip() for line in message.splitlines() if line.strip()]
                detail = "\n    ".join(line[:200] for line in lines[:4])
                failures.append(f"{name} :: {case['fullName']}\n    {detail}")
    on, off = counts[True], counts[False]
    total = (on[0] + off[0], on[1] + off[1], on[2] + off[2])
    return (on[0], on[1], on[2]), total, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="supabase-js's packages/core/storage-js")
    parser.add_argument("--root", type=Path, help="supabase-js's root (for tsconfig.base.json)")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "hybridkit-storage-js-suite"
    )
    parser.add_argument("jest_args", nargs="*", help="after --: passed to Jest")
    args = parser.parse_args()
    tree = args.suite.absolute()
    args.work.mkdir(parents=True, exist_ok=True)
    suite = install(tree, (args.root or tree.parents[2]).absolute(), args.work)
    live, total, failures = run(suite, args.jest_args)
    print()
    for line in failures:
        print(f"FAILED {line}")
    for part, (passed, failed, skipped) in (("live tests", live), ("all tests", total)):
        print(f"storage-js, {part}: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
