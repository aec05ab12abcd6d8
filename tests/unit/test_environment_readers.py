"""Settings are the only readers of environment variables (issue 14).

The client's variables are read by ``hybridkit.config`` (``Settings.load``, ``kit_env``,
``environment``); the local stack's by ``hybridkit.local.config.local_env``. Anywhere else, a
read of a *named* variable (``os.getenv("X")``, ``os.environ.get("X")``, ``os.environ["X"]``)
would be a setting nobody documents. Handing the whole environment to a child process, or
saving and restoring variables by a computed name, is not a read of a setting.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hybridkit

PACKAGE = Path(hybridkit.__file__).parent
READERS = {PACKAGE / "config.py", PACKAGE / "local" / "config.py"}


def _is_environ(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def named_reads(source: str) -> list[int]:
    """The lines of ``source`` that read an environment variable by a literal name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            getenv = isinstance(func, ast.Attribute) and func.attr == "getenv"
            get = isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)
            if getenv or get:
                lines.append(node.lineno)
        elif (
            isinstance(node, ast.Subscript)
            and _is_environ(node.value)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.ctx, ast.Load)
        ):
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_each_spelling_of_a_read() -> None:
    source = (
        "import os\n"
        "a = os.getenv('A')\n"
        "b = os.environ.get('B', '')\n"
        "c = os.environ['C']\n"
        "os.environ['D'] = '1'\n"
        "e = {**os.environ}\n"
        "f = os.environ.get(name)\n"
    )
    assert named_reads(source) == [2, 3, 4]


def test_only_the_settings_modules_read_environment_variables() -> None:
    found = {
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in READERS
        for line in named_reads(path.read_text(encoding="utf-8"))
    }
    assert not found, f"read a variable through hybridkit.config / hybridkit.local.config: {found}"


def test_the_local_stack_reads_its_variables_into_one_object() -> None:
    from hybridkit.local.config import LocalEnv

    assert LocalEnv.read({}) == LocalEnv(
        pg_bin="", standard_loop=False, max_rows=1000, strict_chunked_uploads=False
    )
    assert LocalEnv.read({"PGRST_DB_MAX_ROWS": "25"}).max_rows == 25
    assert LocalEnv.read({"PGRST_DB_MAX_ROWS": "0"}).max_rows is None
    assert LocalEnv.read({"PGRST_DB_MAX_ROWS": "none"}).max_rows is None
    assert LocalEnv.read({"HYBRIDKIT_LOCAL_LOOP": "AsyncIO"}).standard_loop
    assert LocalEnv.read({"HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS": "1"}).strict_chunked_uploads
    assert not LocalEnv.read({"HYBRIDKIT_LOCAL_STRICT_CHUNKED_UPLOADS": "0"}).strict_chunked_uploads
    try:
        LocalEnv.read({"PGRST_DB_MAX_ROWS": "lots"})
    except ValueError as exc:
        assert "PGRST_DB_MAX_ROWS='lots'" in str(exc) and "0 / none" in str(exc)
    else:
        raise AssertionError("a bad PGRST_DB_MAX_ROWS was accepted")
