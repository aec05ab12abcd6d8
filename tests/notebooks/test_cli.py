"""``hybridkit run``, ``runbooks`` and ``runs`` as a scheduler uses them: exit codes and files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]
STAMPED = re.compile(r"^(?P<book>[a-z_]+)-\d{8}T\d{6}Z-[0-9a-f]{8}-(?P<outcome>ok|failed)\.ipynb$")


def newest(folder: Path, suffix: str = ".ipynb") -> Path:
    return max(folder.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime_ns)


def test_runbooks_lists_parameters_types_defaults_and_help(cli: Cli) -> None:
    out = cli("runbooks")
    assert out.returncode == 0, out.stderr
    for name in ("bucket_admin", "download", "health_check", "migration_check", "upload"):
        assert f"{name} — " in out.stdout
    assert re.search(r"concurrency\s+int\s+4\s+files uploaded at a time", out.stdout)
    data = json.loads(cli("runbooks", "upload", "--json").stdout)
    params = {p["name"]: p for p in data[0]["parameters"]}
    assert params["bucket"] == {
        "name": "bucket",
        "type": "str",
        "default": '"hybridkit-demo"',
        "help": "the bucket to upload to",
    }


def test_a_successful_run_saves_a_named_notebook_and_a_record(cli: Cli, tmp_path: Path) -> None:
    out = cli("run", "health_check", "-p", "fail_on_problem", "true", "--output", str(tmp_path))
    assert out.returncode == 0, out.stderr
    notebook = newest(tmp_path / "health_check")
    match = STAMPED.match(notebook.name)
    assert match and match["outcome"] == "ok"
    record = json.loads(notebook.with_suffix(".json").read_text())
    assert record["outcome"] == "ok" and record["parameters"] == {"fail_on_problem": True}
    assert record["summaries"][0]["title"] == "health check"
    assert record["target"]["key_role"] == "service_role"
    assert "health check: OK" in out.stdout
    assert f"notebook: {notebook}" in out.stderr

    listed = cli("runs", "--output", str(tmp_path))
    assert listed.returncode == 0 and "health_check" in listed.stdout and "ok" in listed.stdout
    history = json.loads(cli("runs", "health_check", "--output", str(tmp_path), "--json").stdout)
    assert [r["run_id"] for r in history] == [record["run_id"]]


def test_a_failing_run_exits_non_zero_and_says_where_to_look(
    cli: Cli, tmp_path: Path, unique_name: str
) -> None:
    out = cli(
        "run", "upload", "-p", "bucket", unique_name, "-p", "create_bucket", "false",
        "--output", str(tmp_path),
    )  # fmt: skip
    assert out.returncode == 1
    notebook = newest(tmp_path / "upload")
    assert STAMPED.match(notebook.name)["outcome"] == "failed"  # type: ignore[index]
    # The terminal carries the notebook's failure block in plain words, no cell numbers.
    assert f"FAILED: upload: bucket {unique_name!r} does not exist" in out.stderr
    assert "  Nothing was changed.\n  hint: pass -p create_bucket true" in out.stderr
    assert "In [" not in out.stderr and "RunbookError" not in out.stderr
    assert f"notebook: {notebook}" in out.stderr
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["papermill"]["exception"] is True
    assert "papermill-error-cell-tag" in json.dumps(nb)  # papermill's banner at the failing cell


def test_usage_errors_exit_2_and_run_nothing(cli: Cli, tmp_path: Path) -> None:
    out = cli(
        "run", "upload", "-p", "bukket", "x", "-p", "concurrency", "lots", "--output", str(tmp_path)
    )
    assert out.returncode == 2
    assert "bukket: unknown parameter for upload; known: bucket (str), source (str)" in out.stderr
    assert "concurrency: expected a whole number, got the text 'lots'" in out.stderr
    secret = cli("run", "upload", "-p", "service_role_key", "abc", "--output", str(tmp_path))
    assert secret.returncode == 2 and "secrets are never runbook parameters" in secret.stderr
    missing = cli("run", "uplod", "--output", str(tmp_path))
    assert missing.returncode == 2 and "known runbooks: bucket_admin, download" in missing.stderr
    assert not (tmp_path / "upload").exists()


def test_values_the_runbook_refuses_exit_2_before_a_kernel_starts(cli: Cli, tmp_path: Path) -> None:
    # The runbook's own `validate` cell, run before papermill: same message, no notebook.
    cases = [
        (("upload", "-p", "concurrency", "0"), "concurrency: must be between 1 and 32, got 0"),
        (("health_check", "-p", "timeout", "nan"), "timeout: expected a finite number"),
        (("health_check", "-p", "timeout", "inf"), "timeout: expected a finite number"),
        (("upload", "-p", "source", str(tmp_path / "gone")), "does not exist"),
        (("bucket_admin", "-p", "action", "delete"), "bucket: required for action 'delete'"),
        (("bucket_admin", "-p", "action", "destroy"), "action: must be one of list, create"),
    ]
    for args, message in cases:
        out = cli("run", *args, "--output", str(tmp_path))
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert "running " not in out.stderr, (args, out.stderr)  # nothing claims to start
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing was written


def test_parameters_file_keeps_declared_types(
    cli: Cli, tmp_path: Path, stack: Any, runs_dir: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("action: create\nbucket: 007\n")  # YAML alone would read 007 as 7
    out = cli("run", "bucket_admin", "-f", str(params), "--output", str(runs_dir))
    assert out.returncode == 0, out.stderr
    record = json.loads(newest(runs_dir / "bucket_admin", ".json").read_text())
    assert record["parameters"] == {"action": "create", "bucket": "007"}
    assert record["dry_run"] is True
    assert "plan" in record["summaries"][0]["values"]
    assert "create bucket '007'" in record["summaries"][0]["values"]["plan"]
