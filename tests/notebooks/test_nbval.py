"""The committed runbooks, executed by nbval against the local stack.

nbval runs in its own pytest process so that its kernels get the stack's
settings through the environment, as any headless run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SANITIZE = HERE / "nbval_sanitize.cfg"
# The order a newcomer would follow: upload creates what download and clean-up read.
ORDER = ["health_check", "upload", "download", "bucket_admin", "storage_cleanup", "migration_check"]
ORDER += ["storage_sync", "storage_inventory", "restore_drill"]

pytest.importorskip("nbval")


def nbval(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "nbval_plugin", "--rootdir", str(cwd), *args]
    return subprocess.run(
        command,
        env={**os.environ, **env, "PYTHONPATH": str(HERE)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_committed_runbooks_pass_nbval_with_their_defaults(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    notebooks = [REPO / "notebooks" / f"{name}.ipynb" for name in ORDER]
    assert sorted(p.stem for p in notebooks) == sorted(
        p.stem for p in (REPO / "notebooks").glob("*.ipynb")
    ), "a runbook is missing from ORDER"
    result = nbval(
        ["--nbval-lax", "--nbval-sanitize-with", str(SANITIZE), *map(str, notebooks)],
        {**stack_env, "HYBRIDKIT_INTERACTIVE": "0"},
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    cells = sum(
        1
        for p in notebooks
        for c in __import__("json").loads(p.read_text())["cells"]
        if c["cell_type"] == "code"
    )
    assert f"{cells} passed" in result.stdout


def test_an_output_notebook_reproduces_under_strict_nbval_once_sanitised(
    run_book: Callable[..., Any], stack_env: dict[str, str], tmp_path: Path
) -> None:
    """The outputs are deterministic except for the values the sanitiser names."""
    pinned = {"HYBRIDKIT_RUN_ID": "0123abcd", "HYBRIDKIT_RUNBOOK": "health_check"}
    run = run_book("health_check", env=pinned, fail_on_problem=True)
    assert run.ok
    copy = tmp_path / "health_check-output.ipynb"
    copy.write_text(run.result.notebook.read_text())
    result = nbval(
        ["--nbval", "--nbval-sanitize-with", str(SANITIZE), str(copy)],
        {**stack_env, **pinned, "HYBRIDKIT_INTERACTIVE": "0"},
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
