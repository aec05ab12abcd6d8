"""Fixtures for the runbook tests: papermill runs against the session's local stack.

The stack's settings reach the kernel through its environment, never as
parameters. Every notebook a test produces lands under ``tests/artifacts/runs``
(cleared once per session) and is scanned for secrets as soon as it is written;
``test_zz_no_secrets.py`` scans the whole folder again at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hybridkit.run import RunResult, find_runbook, run_runbook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")

pytest.importorskip("papermill", reason="runbook tests need the notebooks extra")


@pytest.fixture(scope="session")
def runs_dir(artifacts_dir: Path) -> Path:
    """Where every notebook the tests produce is saved (kept for a look afterwards)."""
    path = artifacts_dir / "runs"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def stack_env(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The settings a runbook kernel gets: the stack's URL and keys, by environment."""
    env = {
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_ANON_KEY": stack.anon_key,
        # Never fall back to (or start) a stack in the repository's .hybridkit/.
        "HYBRIDKIT_LOCAL_DIR": str(tmp_path_factory.mktemp("no-local-stack")),
    }
    if stack.db_url:
        env["SUPABASE_DB_URL"] = stack.db_url
    return env


def secrets_of(stack: Any) -> list[str]:
    """Every secret string of the test stack that must never reach an output."""
    values = [stack.service_role_key, stack.anon_key]
    if stack.jwt_secret:
        values.append(stack.jwt_secret)
    if stack.db_url:
        from urllib.parse import urlsplit

        values.append(stack.db_url)
        password = urlsplit(stack.db_url).password
        if password:
            values.append(f":{password}@")
    return [v for v in values if v]


def find_secrets(path: Path, secrets: list[str]) -> list[str]:
    """Where ``path`` holds a secret or anything shaped like a JWT (empty when clean)."""
    text = path.read_text(encoding="utf-8")
    found = [f"{path.name}: a JWT-shaped token {m.group()[:12]}…" for m in JWT.finditer(text)]
    found += [f"{path.name}: a configured secret ({s[:6]}…)" for s in secrets if s in text]
    # JSON escapes some characters; look at the decoded strings too.
    if path.suffix in (".ipynb", ".json"):
        decoded = json.dumps(json.loads(text), ensure_ascii=False)
        found += [f"{path.name}: a configured secret (decoded)" for s in secrets if s in decoded]
    return found


@pytest.fixture(scope="session")
def scan_for_secrets(stack: Any) -> Callable[[Path], list[str]]:
    """``scan(path)``: where a file holds a secret of the test stack or a JWT (empty: clean)."""
    secrets = secrets_of(stack)
    return lambda path: find_secrets(path, secrets)


@dataclass
class Run:
    """A finished runbook run, with its output notebook read back."""

    result: RunResult
    nb: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.result.ok

    def text(self) -> str:
        """Every text output of the notebook, in order (what a reader sees)."""
        parts: list[str] = []
        for cell in self.nb["cells"]:
            for output in cell.get("outputs", []):
                if output["output_type"] == "stream":
                    parts.append(_join(output["text"]))
                elif output["output_type"] in ("display_data", "execute_result"):
                    parts.append(_join(output["data"].get("text/plain", "")))
                elif output["output_type"] == "error":
                    parts.append(re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output["traceback"])))
        return "\n".join(parts)

    @property
    def summary(self) -> dict[str, Any]:
        """The last summary table's values."""
        assert self.result.summaries, "the runbook showed no summary"
        values: dict[str, Any] = dict(self.result.summaries[-1]["values"])
        return values


def _join(text: Any) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


@pytest.fixture
def run_book(
    stack_env: dict[str, str],
    runs_dir: Path,
    tmp_path: Path,
    scan_for_secrets: Callable[[Path], list[str]],
) -> Callable[..., Run]:
    """Run a runbook by name with parameters, headless, against the test stack."""

    def run(name: str, env: dict[str, str] | None = None, **parameters: Any) -> Run:
        result = run_runbook(
            find_runbook(name, NOTEBOOKS),
            parameters,
            output_dir=runs_dir,
            env={**stack_env, **(env or {})},
            cwd=tmp_path,
            timeout=300,
        )
        assert result.notebook.exists() and result.record.exists()
        leaks = scan_for_secrets(result.notebook) + scan_for_secrets(result.record)
        assert not leaks, leaks
        assert result.secrets_redacted == 0, "a runbook printed a secret (redacted afterwards)"
        nb = json.loads(result.notebook.read_text(encoding="utf-8"))
        return Run(result, nb)

    return run


@pytest.fixture
def bucket(stack: Any) -> Iterator[str]:
    """A fresh bucket name; the bucket (if created) is removed afterwards."""
    from supabase import create_client

    name = f"nb-{uuid.uuid4().hex[:10]}"
    yield name
    client = create_client(stack.url, stack.service_role_key)
    try:
        client.storage.empty_bucket(name)
        client.storage.delete_bucket(name)
    except Exception:
        pass


@pytest.fixture
def cli(stack_env: dict[str, str], runs_dir: Path, tmp_path: Path) -> Callable[..., Any]:
    """Run ``hybridkit ARGS`` in a subprocess with the stack's environment."""
    import os

    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **stack_env, "HYBRIDKIT_RUNBOOKS": str(NOTEBOOKS), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "hybridkit", *args],
            env=full_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    return call
