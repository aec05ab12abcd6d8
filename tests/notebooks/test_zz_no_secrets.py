"""Last in this folder: no notebook or record the tests produced holds a key or a JWT.

Each run is already scanned as it finishes (conftest's ``run_book``); this scans
the whole folder again, including runs made through the CLI in subprocesses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Scan = Callable[[Path], list[str]]


def test_no_produced_notebook_holds_a_key_or_jwt(runs_dir: Path, scan_for_secrets: Scan) -> None:
    produced = sorted(runs_dir.rglob("*.ipynb")) + sorted(runs_dir.rglob("*.json"))
    if not produced:
        pytest.skip("no notebooks were produced in this session (run the whole folder)")
    leaks = [leak for path in produced for leak in scan_for_secrets(path)]
    assert not leaks, leaks


def test_the_scanner_finds_what_it_looks_for(
    tmp_path: Path, stack: Any, scan_for_secrets: Scan
) -> None:
    for secret in (stack.anon_key, stack.service_role_key, "eyJabcdefg.eyJhijklmn.sig"):
        leaky = tmp_path / "leaky.ipynb"
        leaky.write_text(json.dumps({"cells": [{"text": f"key: {secret}"}]}))
        assert scan_for_secrets(leaky), secret
    if stack.db_url:
        leaky.write_text(json.dumps({"text": stack.db_url}))
        assert scan_for_secrets(leaky)
    clean = tmp_path / "clean.ipynb"
    clean.write_text(
        '{"cells": [{"text": "service_role (not shown), postgresql://postgres:********@h"}]}'
    )
    assert not scan_for_secrets(clean)
