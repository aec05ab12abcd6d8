"""Run the official PostgREST client suites (postgrest-py, postgrest-js) against the local stack.

Both suites are written for a PostgREST in Docker (postgrest-py) or the Supabase CLI
(postgrest-js); neither is available here. This script gives each suite a local stack of its
own, on a free port with a temporary state folder, loads the suite's own SQL fixtures into the
stack's PostgreSQL, points the suite's URL constant at the stack's ``/rest/v1`` and runs it
unchanged, then prints passed/failed per suite.

Usage (the trees are extracted from the official repositories, e.g. with
``git --git-dir=<mirror> archive HEAD src/postgrest | tar -x -C /tmp/py``)::

    .venv/bin/python bench/postgrest_suites.py \\
        --py /tmp/py/src/postgrest \\
        --js /tmp/js/packages/core/postgrest-js [--js-root /tmp/js] [--work /tmp/pgrst-work]

``--py`` is supabase-py's ``src/postgrest`` (or the old postgrest-py repository's root: both
have ``infra/init.sql`` and ``tests/``); ``--js`` is supabase-js's ``packages/core/postgrest-js``
(fixtures in ``test/supabase/``). ``--js-root`` is the monorepo's root, for
``tsconfig.base.json`` (by default three folders above ``--js``). ``--work`` keeps the suites'
own virtualenv and ``node_modules`` between runs (default: ``$TMPDIR/hybridkit-pgrst-suites``).

What differs from the suites' own set-up, and why:

- the requests carry the stack's ``anon`` key (``Authorization: Bearer``, and ``apikey`` when
  the request has none), added by a pytest plugin wrapping httpx's ``send`` and a Jest setup file
  wrapping ``fetch``; like Supabase's gateway the stack refuses a request with no key, where the
  suites' Docker PostgREST takes it as its anonymous role;
- postgrest-js's schema wants PostGIS, which the local PostgreSQL lacks: without it,
  ``shops.shop_geom`` is a ``text`` column (its four GeoJSON tests fail either way);
- ``personal`` is exposed beside ``public`` (``pgrst.db_schemas``), as in both suites'
  configurations;
- Jest runs with ``--ci`` (inline snapshots are compared, never rewritten) and ts-jest without
  type-checking (the suite's type tests are tstyche's, not Jest's).

"Reaching the server" (postgrest-py) counts the tests during which at least one HTTP request
was sent to the stack; the others test the request builder offline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from hybridkit.local import LocalStack

JS_DEV_DEPENDENCIES = {
    # supabase-js's pnpm catalog (pnpm-workspace.yaml) and the package's own pins
    "jest": "30.4.2",
    "@jest/types": "^30.0.0",
    "@types/jest": "30.0.0",
    "@types/node": "20.19.9",
    "ts-jest": "^29.4.9",
    "typescript": "~5.8.3",
    "prettier": "^3.6.2",
    "type-fest": "^4.32.0",
    "zod": "^3.25.76",
    "tslib": "2.8.1",
}
PY_TEST_DEPENDENCIES = ["pytest>=8.4.1", "pytest-asyncio>=1.0.0", "pytest-depends>=1.0.1"]

PY_PLUGIN = '''\
"""Adds the local stack's key to the suite's requests and records which tests reach it."""
import json
import os

import httpx
import pytest

REST = os.environ["HYBRIDKIT_SUITE_REST_URL"]
KEY = os.environ["HYBRIDKIT_SUITE_KEY"]
REACHED = os.environ["HYBRIDKIT_SUITE_REACHED"]
_current = {"test": None}
_reached = set()


def _keyed(request):
    if str(request.url).startswith(REST):
        if _current["test"] is not None:
            _reached.add(_current["test"])
        request.headers.setdefault("apikey", KEY)
        request.headers.setdefault("Authorization", "Bearer " + KEY)


_send, _asend = httpx.Client.send, httpx.AsyncClient.send


def send(self, request, **kwargs):
    _keyed(request)
    return _send(self, request, **kwargs)


async def asend(self, request, **kwargs):
    _keyed(request)
    return await _asend(self, request, **kwargs)


httpx.Client.send, httpx.AsyncClient.send = send, asend


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _current["test"] = None


_outcomes = {}


def pytest_runtest_logreport(report):
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped:
        _outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session, exitstatus):
    with open(REACHED, "w") as f:
        json.dump({n: [o, n in _reached] for n, o in _outcomes.items()}, f, indent=1)
'''

JS_SETUP = """\
// Adds the local stack's key to the suite's requests (the stack, like Supabase's gateway,
// refuses a request without one).
const REST = process.env.HYBRIDKIT_SUITE_REST_URL
const KEY = process.env.HYBRIDKIT_SUITE_KEY
const original = globalThis.fetch
globalThis.fetch = (input, init = {}) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  if (url.startsWith(REST)) {
    const headers = new Headers(init.headers || (typeof input === 'object' && input.headers) || {})
    if (!headers.has('authorization')) headers.set('authorization', 'Bearer ' + KEY)
    if (!headers.has('apikey')) headers.set('apikey', KEY)
    init = { ...init, headers }
  }
  return original(input, init)
}
"""

JS_JEST_CONFIG = """\
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/v12/'],
  testSequencer: '<rootDir>/test/testSequencer.js',
  setupFiles: ['<rootDir>/hybridkit-setup.js'],
  prettierPath: require.resolve('prettier'),
  testTimeout: 30000,
  transform: {
    '^.+\\\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json', diagnostics: false }],
  },
}
"""


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def _load_sql(db_url: str, *texts: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for text in texts:
            conn.execute(text)  # type: ignore[arg-type]
        conn.execute("ALTER ROLE authenticator SET pgrst.db_schemas = 'public, personal'")
        conn.execute("NOTIFY pgrst, 'reload config'")


def _has_postgis(db_url: str) -> bool:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()
    return row is not None


# -- postgrest-py ----------------------------------------------------------------------------


def run_py(tree: Path, work: Path) -> dict[str, tuple[int, int, int]]:
    suite = work / "py"
    shutil.rmtree(suite, ignore_errors=True)
    shutil.copytree(tree, suite, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    venv = work / "py-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, *PY_TEST_DEPENDENCIES])
    _run([*pip, "--force-reinstall", "--no-deps", str(suite)])
    _run([*pip, str(suite)])  # its dependencies (httpx, pydantic, ...)
    (suite / "hybridkit_suite_plugin.py").write_text(PY_PLUGIN)

    with LocalStack(dir=Path(tempfile.mkdtemp(prefix="pgrst-py-")), port=0) as stack:
        rest = stack.url + "/rest/v1"
        _load_sql(stack.db_url, (suite / "infra" / "init.sql").read_text())
        for client in (suite / "tests").glob("_*/client.py"):
            text = re.sub(r'REST_URL = "[^"]*"', f'REST_URL = "{rest}"', client.read_text())
            client.write_text(text)
        reached = suite / "outcomes.json"
        env = {
            **os.environ,
            "HYBRIDKIT_SUITE_REST_URL": rest,
            "HYBRIDKIT_SUITE_KEY": stack.anon_key,
            "HYBRIDKIT_SUITE_REACHED": str(reached),
            "PYTHONPATH": str(suite),
        }
        _run(
            [
                str(python),
                "-m",
                "pytest",
                "-q",
                "-p",
                "hybridkit_suite_plugin",
                "-p",
                "no:cacheprovider",
                "-o",
                "asyncio_mode=auto",
                "tests",
            ],
            cwd=suite,
            env=env,
        )
    counts: dict[str, tuple[int, int, int]] = {}
    for node, (outcome, hit) in json.loads(reached.read_text()).items():
        flavour = "async" if "/_async/" in node else "sync"
        key = f"{flavour}, reach the server" if hit else f"{flavour}, offline"
        passed_n, failed_n, skipped_n = counts.get(key, (0, 0, 0))
        if outcome == "failed":
            failed_n += 1
            print(f"FAILED {node}")
        elif outcome == "skipped":
            skipped_n += 1
        else:
            passed_n += 1
        counts[key] = (passed_n, failed_n, skipped_n)
    return counts


# -- postgrest-js ----------------------------------------------------------------------------


def run_js(tree: Path, root: Path, work: Path) -> dict[str, tuple[int, int, int]]:
    base = work / "js"
    suite = base / "packages" / "core" / "postgrest-js"
    modules = base / "node_modules"
    if suite.exists():
        shutil.rmtree(suite)
    shutil.copytree(tree, suite, ignore=shutil.ignore_patterns("node_modules", "coverage"))
    shutil.copy(root / "tsconfig.base.json", base / "tsconfig.base.json")
    package = {
        "name": "hybridkit-postgrest-js-suite",
        "private": True,
        "devDependencies": JS_DEV_DEPENDENCIES,
    }
    manifest = base / "package.json"
    if not modules.exists() or json.loads(manifest.read_text()) != package:
        manifest.write_text(json.dumps(package, indent=2))
        _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=base)
    (suite / "hybridkit-setup.js").write_text(JS_SETUP)
    (suite / "jest.hybridkit.config.js").write_text(JS_JEST_CONFIG)
    fixtures = suite / "test" / "supabase"
    schema = "\n".join(p.read_text() for p in sorted((fixtures / "migrations").glob("*.sql")))
    seed = (fixtures / "seed.sql").read_text()

    with LocalStack(dir=Path(tempfile.mkdtemp(prefix="pgrst-js-")), port=0) as stack:
        rest = stack.url + "/rest/v1"
        if not _has_postgis(stack.db_url):
            schema = re.sub(r"(?im)^create extension if not exists postgis.*$", "", schema)
            schema = schema.replace("extensions.geometry(POINT, 4326)", "text")
        _load_sql(stack.db_url, schema, seed)
        for test in (suite / "test").rglob("*.ts"):
            text = test.read_text()
            new = text.replace("http://localhost:54321/rest/v1", rest)
            if new != text:
                test.write_text(new)
        report = suite / "jest-results.json"
        env = {
            **os.environ,
            "HYBRIDKIT_SUITE_REST_URL": rest,
            "HYBRIDKIT_SUITE_KEY": stack.anon_key,
        }
        _run(
            [
                str(modules / ".bin" / "jest"),
                "--config",
                "jest.hybridkit.config.js",
                "--runInBand",
                "--ci",
                "--json",
                f"--outputFile={report}",
            ],
            cwd=suite,
            env=env,
        )
    results = json.loads(report.read_text())
    passed = failed = skipped = 0
    for file in results["testResults"]:
        name = Path(file["name"]).name
        if not file["assertionResults"] and file.get("message"):
            print(f"FAILED {name} (the file did not run): {file['message'][:300]}")
        for case in file["assertionResults"]:
            if case["status"] == "passed":
                passed += 1
            elif case["status"] == "failed":
                failed += 1
                print(f"FAILED {name} :: {case['fullName']}")
            else:
                skipped += 1
    return {"all": (passed, failed, skipped)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--py", type=Path, help="postgrest-py's tree (supabase-py/src/postgrest)")
    parser.add_argument(
        "--js", type=Path, help="postgrest-js's tree (supabase-js/packages/core/postgrest-js)"
    )
    parser.add_argument("--js-root", type=Path, help="supabase-js's root (for tsconfig.base.json)")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "hybridkit-pgrst-suites"
    )
    args = parser.parse_args()
    if args.py is None and args.js is None:
        parser.error("give --py, --js or both")
    args.work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, tuple[int, int, int]]] = {}
    if args.py is not None:  # one suite at a time: the machine is shared
        summary["postgrest-py"] = run_py(args.py.absolute(), args.work)
    if args.js is not None:
        js = args.js.absolute()
        summary["postgrest-js"] = run_js(js, (args.js_root or js.parents[2]).absolute(), args.work)
    print()
    for suite, parts in summary.items():
        for part, (passed, failed, skipped) in sorted(parts.items()):
            print(f"{suite} {part}: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
