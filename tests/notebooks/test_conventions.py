"""Every committed runbook follows the conventions (DESIGN.md, "Runbook conventions")."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
DESTRUCTIVE = {"bucket_admin", "storage_cleanup", "storage_sync"}
SECRET_NAME = re.compile(r"key|token|secret|password|jwt|credential|db_url", re.I)


def load(path: Path) -> dict[str, Any]:
    nb: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return nb


def source(cell: dict[str, Any]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else str(text)


def parameters_cell(nb: dict[str, Any]) -> dict[str, Any]:
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    return tagged[0]


def test_there_are_nine_runbooks() -> None:
    assert [p.stem for p in PATHS] == [
        "bucket_admin",
        "download",
        "health_check",
        "migration_check",
        "restore_drill",
        "storage_cleanup",
        "storage_inventory",
        "storage_sync",
        "upload",
    ]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_runbook_shape(path: Path) -> None:
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    intro = source(first)
    for heading in ("## Parameters", "## What it changes", "## How to run it"):
        assert heading in intro

    params = parameters_cell(nb)
    assert nb["cells"].index(params) == 1, "the parameters come right after the purpose"
    names = []
    for line in source(params).splitlines():
        match = re.fullmatch(r"(\w+): (str|int|float|bool|list\[str\]) = (.+?)  # (.+)", line)
        assert match, f"not `name: type = default  # help`: {line!r}"
        name, _, default, help_ = match.groups()
        assert "=" not in help_, f"papermill cannot parse a '=' in the help of {name}"
        ast.literal_eval(default)  # a literal: papermill and `hybridkit runbooks` show it
        assert not SECRET_NAME.search(name), f"{name}: secrets are never parameters"
        assert f"| `{name}` |" in intro, f"{name} is not in the first cell's table"
        names.append(name)

    validation = source(nb["cells"][2])
    assert "rb.validate(" in validation and "globals()" in validation
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    assert "rb.show_target(conn" in code, "the target banner"
    assert "rb.summary(" in code, "a summary table"
    if path.stem in DESTRUCTIVE:
        assert "dry_run: bool = True" in source(params)
        assert 'confirm: str = ""' in source(params)
        assert "rb.confirm(" in code and "gate.proceed()" in code
    assert "print(" not in code or "key" not in code  # the banner says which key, never prints it


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_there_is_no_build_script() -> None:
    """The .ipynb files are the source: edited in JupyterLab, reviewed as notebooks."""
    assert not (NOTEBOOKS / "_build.py").exists()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_the_intro_table_says_what_the_parameters_cell_declares(path: Path) -> None:
    nb = load(path)
    declared = []
    for line in source(parameters_cell(nb)).splitlines():
        match = re.fullmatch(r"(\w+): (.+?) = (.+?)  # (.+)", line)
        assert match, line
        declared.append(match.groups())
    rows = re.findall(
        r"^\| `(\w+)` \| (.+?) \| `(.+?)` \| (.+?) \|$", source(nb["cells"][0]), re.MULTILINE
    )
    assert rows == declared, "edit the table in the first cell with the parameters cell"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_the_validate_cell_checks_without_side_effects(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hybridkit run` executes it before any kernel starts, so it may only check."""
    from hybridkit.run import find_runbook
    from hybridkit.run._preflight import VALIDATE_TAG, preflight

    nb = load(path)
    assert nb["cells"][2].get("metadata", {}).get("tags") == [VALIDATE_TAG]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    preflight(find_runbook(str(path)), {})  # the defaults are valid
    assert list(tmp_path.iterdir()) == []
