"""No password in any output of the CLI or a run, in each DSN form (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Target

PASSWORD = "s3cr3t"
DSNS = [
    f"host=127.0.0.1 port=1 user=u password={PASSWORD} dbname=postgres",
    f"postgresql://u:{PASSWORD}@127.0.0.1:1/postgres",
    "postgresql://u:s3%63r3t@127.0.0.1:1/postgres",  # percent-encoded: s3cr3t
    f"postgresql://u:{PASSWORD}@[bad/postgres",  # malformed
]


def _hybridkit(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "hybridkit", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.parametrize("dsn", DSNS)
def test_sql_errors_never_show_the_password(dsn: str, tmp_path: Path) -> None:
    done = _hybridkit(["sql", "select 1"], {"SUPABASE_DB_URL": dsn}, tmp_path)
    assert done.returncode != 0
    assert PASSWORD not in done.stderr + done.stdout, done.stderr
    done = _hybridkit(["sql", "--db-url", dsn, "select 1"], {}, tmp_path)
    assert PASSWORD not in done.stderr + done.stdout, done.stderr


def test_a_run_with_a_key_value_dsn_leaves_no_password(stack: Target, tmp_path: Path) -> None:
    pytest.importorskip("papermill")
    dsn = f"host=127.0.0.1 port=1 user=u password={PASSWORD} dbname=postgres"
    env = {
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_ANON_KEY": stack.anon_key,
        "SUPABASE_DB_URL": dsn,
    }
    done = _hybridkit(["run", "health_check", "--output", str(tmp_path / "out")], env, tmp_path)
    everything = done.stdout + done.stderr
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            everything += path.read_text(encoding="utf-8", errors="replace")
    assert (tmp_path / "out").exists(), done.stderr
    assert PASSWORD not in everything
    records = list((tmp_path / "out").rglob("*.json"))
    for record in records:
        json.loads(record.read_text())  # strict JSON


def test_cp_refuses_a_dot_dot_bucket(tmp_path: Path) -> None:
    env = {"SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_SERVICE_ROLE_KEY": "k"}
    done = _hybridkit(
        ["storage", "cp", "ss:///../object/priv/a/secret.txt", str(tmp_path / "x")], env, tmp_path
    )
    assert done.returncode != 0 and "'..'" in done.stderr, done.stderr
    assert not (tmp_path / "x").exists()
