"""The Binder files work the way repo2docker uses them (no Docker engine here to run it).

repo2docker copies the repository into the image (``$HOME`` is the repository),
installs ``binder/requirements.txt`` into the Python of ``binder/runtime.txt``,
installs ``binder/apt.txt`` with apt, runs ``binder/postBuild`` once as the notebook
user, and at every launch runs ``binder/start <the Jupyter command>``. This test does
the same in a clean virtual environment with a copy of the working tree, and hands
``binder/start`` a papermill run of a runbook instead of Jupyter: the runbook must find
the local stack that ``start`` started, through the settings ``start`` exported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDER = REPO / "binder"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")


def test_binder_folder_follows_repo2dockers_rules() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"  # default is 3.10
    packages = [
        line.partition("#")[0].strip() for line in (BINDER / "apt.txt").read_text().splitlines()
    ]
    assert "postgresql" in packages
    for name in ("postBuild", "start"):
        script = BINDER / name
        assert os.access(script, os.X_OK), f"binder/{name} must be executable"
        assert script.read_text().startswith("#!/bin/bash\n")
    start_lines = [line for line in (BINDER / "start").read_text().splitlines() if line.strip()]
    assert start_lines[-1] == 'exec "$@"'
    # The binder/ folder wins: files repo2docker would otherwise read at the root are absent
    # (the root pyproject.toml is then not auto-installed, hence postBuild).
    for ignored in ("environment.yml", "requirements.txt", "apt.txt", "postBuild", "Dockerfile"):
        assert not (REPO / ignored).exists(), f"{ignored} at the root would be ignored"
    assert not (REPO / ".binder").exists(), "binder/ and .binder/ together are an error"
    assert not (BINDER / "environment.yml").exists(), "it would hide requirements.txt"


def _python311() -> str:
    for candidate in (shutil.which("python3.11"), sys.executable):
        if candidate:
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                capture_output=True,
                text=True,
            )
            if version.stdout.strip() == "True":
                return candidate
    pytest.skip("needs a Python 3.11 interpreter, as binder/runtime.txt asks for")


def _copy_tree(target: Path) -> None:
    """The working tree as git would push it: tracked files plus new, not-ignored ones."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        source = REPO / rel
        if not source.is_file() or rel.startswith(("tests/conformance/js/node_modules/",)):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"{' '.join(command)} failed ({done.returncode}):\n{output[-4000:]}"
    )
    return output


@pytest.mark.slow
def test_postbuild_then_start_runs_a_runbook_against_the_local_stack(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    python = _python311()
    home = tmp_path / "jovyan"  # repo2docker: the repository is the notebook user's $HOME
    _copy_tree(home)
    venv = tmp_path / "env"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    env = {
        "HOME": str(home),
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        # A warm pip cache only saves downloads; the environment itself starts empty.
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HYBRIDKIT_LOCAL_PORT": "0",  # the default 54321 may be taken on a shared machine
    }
    for name in ("HYBRIDKIT_PG_BIN",):
        if name in os.environ:
            env[name] = os.environ[name]
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, "-r", "binder/requirements.txt"], cwd=home, env=env, timeout=900)
    _run(["binder/postBuild"], cwd=home, env=env, timeout=900)
    kernel_config = home / ".ipython" / "profile_default" / "ipython_kernel_config.py"
    assert "hybridkit_widgets" in kernel_config.read_text()

    output = tmp_path / "upload-on-binder.ipynb"
    papermill = [
        "papermill",
        "notebooks/upload.ipynb",
        str(output),
        "-p",
        "bucket",
        "binder-demo",
        "--cwd",
        "notebooks",
    ]
    stack_dir = home / ".hybridkit" / "local"
    try:
        log = _run(["binder/start", *papermill], cwd=home, env=env, timeout=600)
        nb = json.loads(output.read_text())
        shutil.copy(output, artifacts_dir / "upload-on-binder.ipynb")
        texts = [
            "".join(out.get("text", "")) + json.dumps(out.get("data", {}))
            for cell in nb["cells"]
            for out in cell.get("outputs", [])
        ]
        joined = "\n".join(texts)
        assert "upload summary: OK" in joined or "upload: OK" in joined, log[-3000:]
        # The kernel used the settings binder/start exported (not a stack of its own).
        exported = _run(
            ["hybridkit", "local", "env", "--dir", str(stack_dir)], cwd=home, env=env, timeout=60
        )
        url = re.search(r"SUPABASE_URL=(\S+)", exported)
        assert url is not None
        assert url.group(1).strip("'\"") in joined
        assert "embedded local stack" not in joined
        assert not JWT.search(output.read_text()), "a key reached the output notebook"
        # And the upload is in that stack.
        check = (
            "from hybridkit.manager import HybridSupabaseManager as M\n"
            "with M() as m: print(len(m.list_objects('binder-demo').unwrap()))\n"
        )
        listed = subprocess.run(
            [
                "bash",
                "-c",
                f'eval "$(hybridkit local env --dir {stack_dir})"; python -c "$0"',
                check,
            ],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.stdout.strip() == "12", listed.stdout + listed.stderr
    finally:
        subprocess.run(
            ["hybridkit", "local", "stop", "--dir", str(stack_dir)],
            cwd=home,
            env=env,
            capture_output=True,
            timeout=120,
        )


def test_the_readme_badge_points_at_the_repository_named_in_pyproject() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("badge", BINDER / "badge.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.badge()
    assert "OWNER" not in expected and "mybinder.org/v2/gh/" in expected
    assert expected in (REPO / "README.md").read_text(), "run: python binder/badge.py --write"
