"""The local stack stands alone: nothing under hybridkit/local/ imports the client side.

The stack emulates Supabase for the client (hybridkit.storage, database, manager, retry …);
if it imported the client it could agree with it by construction rather than by the wire.
Every import counts, at module level or inside a function, absolute or relative. The one
exception is the library's error tree (``LocalStack`` raises ``LocalStackError``), and that
tree's own imports stay inside :data:`FOUNDATION`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import hybridkit.local

LOCAL = Path(hybridkit.local.__file__).parent
PACKAGE = LOCAL.parent
#: What the stack may import outside hybridkit.local: the error tree and what it needs.
FOUNDATION = frozenset({"hybridkit.errors", "hybridkit.redact"})


def _module_name(path: Path, top: Path) -> str:
    """``path``'s dotted name; ``top`` is the folder that holds the ``hybridkit`` package."""
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, top: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, with its line.

    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a module); ``from hybridkit
    import b`` yields only ``hybridkit.b``, since it runs no more of hybridkit than that.
    """
    module = _module_name(path, top)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target != "hybridkit":
                found.append((node.lineno, target))
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def _within(name: str, modules: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``modules`` or inside one."""
    return any(name == module or name.startswith(f"{module}.") for module in modules)


def _client_imports(root: Path, allowed: frozenset[str] = FOUNDATION) -> list[str]:
    """``file:line: module`` for each import of hybridkit outside hybridkit.local, ``allowed``."""
    bad: dict[str, str] = {}  # the first offending module of each line
    for path in sorted(root.rglob("*.py")):
        for line, name in sorted(_imports(path, root.parent.parent)):
            if _within(name, {"hybridkit"}) and not _within(name, {"hybridkit.local", *allowed}):
                bad.setdefault(f"{path.relative_to(root).as_posix()}:{line}", name)
    return [f"{where}: {name}" for where, name in bad.items()]


def test_local_stack_never_imports_the_client_side() -> None:
    files = list(LOCAL.rglob("*.py"))
    assert len(files) > 30  # the walk really reads the stack's modules
    assert _client_imports(LOCAL) == []


def test_the_foundation_the_stack_may_use_imports_only_itself() -> None:
    for name in sorted(FOUNDATION):
        path = PACKAGE / f"{name.removeprefix('hybridkit.')}.py"
        imported = [
            found for _, found in _imports(path, PACKAGE.parent) if _within(found, {"hybridkit"})
        ]
        assert [found for found in imported if not _within(found, FOUNDATION)] == [], name


def test_the_check_sees_every_kind_of_client_import(tmp_path: Path) -> None:
    root = tmp_path / "hybridkit" / "local"
    (root / "storage").mkdir(parents=True)
    (root / "__init__.py").write_text("from hybridkit.local import storage\n")
    (root / "storage" / "__init__.py").write_text(
        "from . import routes\n"
        "from .. import config\n"
        "from hybridkit import local\n"
        "from ... import errors\n"  # hybridkit.errors, relatively
        "def late():\n"
        "    import hybridkit.retry\n"
        "    from hybridkit import manager\n"
    )
    (root / "storage" / "routes.py").write_text(
        "import hybridkit\nfrom hybridkit.storage import x\n"
    )
    assert _client_imports(root, allowed=frozenset()) == [
        "storage/__init__.py:4: hybridkit.errors",
        "storage/__init__.py:6: hybridkit.retry",
        "storage/__init__.py:7: hybridkit.manager",
        "storage/routes.py:1: hybridkit",
        "storage/routes.py:2: hybridkit.storage",
    ]
