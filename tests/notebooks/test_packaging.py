"""The runbooks ship with the package: a built wheel, used from an empty folder.

The wheel is built from this checkout and unpacked into a folder of its own; the
suite's environment supplies its dependencies, and the checkout is kept off the
path, so what runs is exactly what ``pip install hybridkit`` would put on a machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = {"bucket_admin", "download", "health_check", "migration_check", "storage_cleanup"}
RUNBOOKS |= {"upload", "storage_sync", "restore_drill", "storage_inventory"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("hybridkit-*.whl")
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    yield target


def run_installed(site: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    full = {**os.environ, **(env or {}), "PYTHONPATH": str(site)}
    full.pop("HYBRIDKIT_RUNBOOKS", None)
    return subprocess.run(
        [sys.executable, "-P", "-m", "hybridkit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
    )


def test_the_wheel_carries_the_runbooks_migrations_and_py_typed(installed: Path) -> None:
    package = installed / "hybridkit"
    assert {p.stem for p in (package / "_runbooks").glob("*.ipynb")} == RUNBOOKS
    assert (package / "py.typed").is_file()
    assert sorted(p.name for p in (package / "_migrations").glob("*.sql"))
    assert sorted(p.name for p in (package / "_migrations").glob("*.sql")) == sorted(
        p.name for p in (ROOT / "migrations").glob("*.sql")
    )


def test_runbooks_list_and_copy_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    listed = run_installed(installed, tmp_path, "runbooks", "--json")
    assert listed.returncode == 0, listed.stderr
    books = json.loads(listed.stdout)
    assert {b["name"] for b in books} == RUNBOOKS
    assert all(Path(b["path"]).is_relative_to(installed) for b in books)

    copied = run_installed(installed, tmp_path, "runbooks", "--copy", "notebooks")
    assert copied.returncode == 0, copied.stderr
    assert {p.stem for p in (tmp_path / "notebooks").glob("*.ipynb")} == RUNBOOKS
    again = run_installed(installed, tmp_path, "runbooks", "--copy", "notebooks")
    assert again.returncode == 2 and "--overwrite" in again.stderr  # edits are never clobbered

    # The working folder's notebooks/ now takes precedence over the shipped ones.
    relisted = json.loads(run_installed(installed, tmp_path, "runbooks", "--json").stdout)
    assert all(Path(b["path"]).parent == tmp_path / "notebooks" for b in relisted)


def test_health_check_runs_from_the_wheel_outside_the_repository(
    installed: Path, tmp_path: Path, stack_env: dict[str, str]
) -> None:
    result = run_installed(
        installed, tmp_path, "run", "health_check", "-p", "fail_on_problem", "true", env=stack_env
    )
    assert result.returncode == 0, result.stderr
    assert str(installed / "hybridkit" / "_runbooks" / "health_check.ipynb") in result.stderr
    (record,) = (tmp_path / "runs" / "health_check").glob("*-ok.json")
    assert json.loads(record.read_text())["outcome"] == "ok"
