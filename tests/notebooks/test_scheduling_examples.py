"""The scheduler examples in examples/: the cron wrapper runs for real; the rest are validated.

A systemd timer, a GitHub Actions workflow and an Airflow DAG need their schedulers
to run, which this machine has not; what can be checked without them is checked:
that each file parses, runs `hybridkit run` the documented way, keeps runs from
overlapping, takes secrets from the scheduler's secret store and keeps the output.
"""

from __future__ import annotations

import ast
import configparser
import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CRON = EXAMPLES / "cron" / "hybridkit-cron.sh"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def cron(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    hybridkit = Path(sys.executable).parent / "hybridkit"
    full = {
        **os.environ,
        **env,
        "HYBRIDKIT": str(hybridkit),
        "HYBRIDKIT_WORKDIR": str(workdir),
        "HYBRIDKIT_RUNBOOKS": str(NOTEBOOKS),
    }
    return subprocess.run(
        ["bash", str(CRON), *args], capture_output=True, text=True, timeout=600, env=full
    )


def test_the_cron_wrapper_runs_logs_and_passes_the_exit_code_on(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    assert os.access(CRON, os.X_OK)
    ok = cron(tmp_path, stack_env, "health_check", "-p", "fail_on_problem", "true")
    assert ok.returncode == 0, ok.stderr
    (log,) = (tmp_path / "logs").glob("health_check-*.log")
    text = log.read_text()
    assert "start health_check" in text and "end health_check: exit 0" in text
    assert "health check: OK" in text
    assert list((tmp_path / "runs" / "health_check").glob("*-ok.ipynb"))
    assert stack_env["SUPABASE_SERVICE_ROLE_KEY"] not in text

    bad = cron(tmp_path, stack_env, "health_check", "-p", "timeout", "0")
    assert bad.returncode == 2  # bad parameters: nothing ran
    assert "end health_check: exit 2" in log.read_text()


def test_the_cron_wrapper_skips_a_run_while_the_previous_one_holds_the_lock(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    tmp_path.joinpath("logs").mkdir()
    with open(tmp_path / ".health_check.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        skipped = cron(tmp_path, stack_env, "health_check")
    assert skipped.returncode == 75
    (log,) = (tmp_path / "logs").glob("health_check-*.log")
    assert "the previous run still holds" in log.read_text()
    assert not (tmp_path / "runs").exists()


def test_the_cron_wrapper_prunes_old_runs(tmp_path: Path, stack_env: dict[str, str]) -> None:
    for _ in range(3):
        assert cron(tmp_path, stack_env, "health_check").returncode == 0
    pruned = cron(tmp_path, {**stack_env, "HYBRIDKIT_KEEP_RUNS": "1"}, "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert len(list((tmp_path / "runs" / "health_check").glob("*.json"))) == 1
    assert "removed 2 run(s)" in next((tmp_path / "logs").glob("prune-*.log")).read_text()


def test_the_systemd_units_are_well_formed() -> None:
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.optionxform = str  # type: ignore[assignment,method-assign]
    service.read(EXAMPLES / "systemd" / "hybridkit-health.service")
    assert service["Service"]["Type"] == "oneshot"  # no overlapping runs
    assert service["Service"]["ExecStart"].split()[1:3] == ["run", "health_check"]
    assert "EnvironmentFile" in service["Service"]  # secrets from a file, not the unit
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.optionxform = str  # type: ignore[assignment,method-assign]
    timer.read(EXAMPLES / "systemd" / "hybridkit-health.timer")
    assert timer["Timer"]["Unit"] == "hybridkit-health.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    analyze = shutil.which("systemd-analyze")
    if analyze:
        calendar = subprocess.run(
            [analyze, "calendar", timer["Timer"]["OnCalendar"]], capture_output=True, text=True
        )
        assert calendar.returncode == 0, calendar.stderr


def test_the_github_actions_workflow_is_well_formed() -> None:
    workflow: dict[Any, Any] = yaml.safe_load(
        (EXAMPLES / "github-actions" / "hybridkit-health.yml").read_text()
    )
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    run = next(s for s in steps if "hybridkit run" in s.get("run", ""))
    assert "fail_on_problem true" in run["run"]
    for name, value in run["env"].items():
        assert value == f"${{{{ secrets.{name} }}}}", f"{name} must come from the secrets"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "runs/"
    assert steps.index(upload) > steps.index(run)


def test_the_airflow_dag_uses_both_forms_with_airflows_retries() -> None:
    tree = ast.parse((EXAMPLES / "airflow" / "hybridkit_dag.py").read_text())
    calls = {
        node.func.id: node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"DAG", "BashOperator", "PapermillOperator"} <= set(calls)
    dag = {k.arg: k.value for k in calls["DAG"].keywords}
    assert ast.literal_eval(dag["max_active_runs"]) == 1
    assert ast.literal_eval(dag["catchup"]) is False
    source = ast.unparse(tree)
    assert "'retries': 2" in source and "run health_check -p fail_on_problem true" in source
    bash_commands = [
        ast.unparse(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator"
        for k in node.keywords
        if k.arg == "bash_command"
    ]
    assert len(bash_commands) == 2 and all("HYBRIDKIT" in c for c in bash_commands)
    secret = re.compile(r"key|token|secret|password|db_url", re.I)
    params = ast.literal_eval(
        next(k.value for k in calls["PapermillOperator"].keywords if k.arg == "parameters")
    )
    assert not [name for name in params if secret.search(name)]  # Airflow shows its params
    assert not [c for c in bash_commands if secret.search(c)]


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*")), ids=lambda p: p.name)
def test_no_example_carries_a_secret(path: Path) -> None:
    if path.is_file():
        text = path.read_text()
        assert "eyJ" not in text and "sbp_" not in text
