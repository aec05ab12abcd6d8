"""The runbook catalogue: where runbooks live, what parameters they declare, and typed values.

A runbook's parameters cell is its schema (``bucket: str = "reports"  # help``);
papermill's ``inspect_notebook`` reads it. Values from the command line or a YAML
file arrive as text and are converted to the declared type with the same rules
the notebook's own validation uses (:func:`hybridkit.runbook.coerce`), so
``-p bucket 007`` stays the text ``"007"`` for a ``str`` parameter.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridkit.config import environment, kit_env
from hybridkit.errors import ConfigError, InvalidInputError
from hybridkit.redact import JWT, known_secrets, redact_text
from hybridkit.runbook._params import coerce

__all__ = [
    "ParamSpec",
    "Runbook",
    "copy_runbooks",
    "find_runbook",
    "known_secrets",
    "list_runbooks",
    "load_parameters_file",
    "packaged_runbooks_dir",
    "resolve_parameters",
    "runbooks_dir",
]

_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|jwt|credential|db_url", re.I)
_JWT = JWT


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: its name, type, default (as source text) and help."""

    name: str
    type: str
    default: str
    help: str


@dataclass(frozen=True)
class Runbook:
    """A runbook notebook and what it declares.

    Attributes:
        name: the notebook's file name without ``.ipynb``, as ``hybridkit run`` takes it.
        title: the first non-blank line of its markdown cells, heading marks stripped
            (``""`` when there is none).
        parameters: what its parameters cell declares, as papermill reads it, in order.
    """

    name: str
    path: Path
    title: str
    parameters: tuple[ParamSpec, ...]

    def param(self, name: str) -> ParamSpec | None:
        """The declared parameter ``name``, if any."""
        return next((p for p in self.parameters if p.name == name), None)


def packaged_runbooks_dir() -> Path:
    """The runbooks that ship with the package (``notebooks/`` of a clone)."""
    return (Path(__file__).parents[1] / "_runbooks").resolve()


def runbooks_dir() -> Path:
    """Where runbooks are looked up by name.

    ``HYBRIDKIT_RUNBOOKS`` when set; else ``./notebooks`` when it holds notebooks
    (editable copies, e.g. from ``hybridkit runbooks --copy notebooks``); else the
    runbooks shipped with the package.
    """
    configured = kit_env("HYBRIDKIT_RUNBOOKS")
    if configured:
        return Path(configured).expanduser()
    here = Path.cwd() / "notebooks"
    if any(here.glob("*.ipynb")):
        return here
    return packaged_runbooks_dir()


def copy_runbooks(dest: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
    """Put editable copies of the shipped runbooks in ``dest`` (created if needed).

    Run from the folder above ``dest`` named ``notebooks``, ``hybridkit run`` then
    finds the copies first. Existing files are kept unless ``overwrite``.

    Raises:
        InvalidInputError: ``dest`` is a file, or holds a runbook of the same name and
            ``overwrite`` is not set (nothing is copied then).
    """
    import shutil

    folder = Path(dest).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"{folder} is a file; give a folder to copy the runbooks into")
    sources = sorted(
        p for p in packaged_runbooks_dir().glob("*.ipynb") if not p.name.startswith(("_", "."))
    )
    clashes = [folder / p.name for p in sources if (folder / p.name).exists()]
    if clashes and not overwrite:
        raise InvalidInputError(
            f"{', '.join(str(c) for c in clashes)} already exist(s); nothing was copied "
            "(pass --overwrite to replace them with the shipped versions)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sources:
        shutil.copyfile(source, folder / source.name)
        copied.append(folder / source.name)
    return copied


def _title(path: Path) -> str:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return ""
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else source
            for line in text.splitlines():
                if line.strip():
                    return line.lstrip("#").strip()
    return ""


def require_papermill() -> Any:
    """Import papermill, or fail with the install command."""
    try:
        import papermill  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ConfigError(
            "running runbooks needs papermill and a Jupyter kernel: "
            "pip install 'hybridkit[notebooks]'"
        ) from None
    return papermill


def _inspect(path: Path) -> tuple[ParamSpec, ...]:
    papermill = require_papermill()
    found: dict[str, dict[str, Any]] = papermill.inspect_notebook(str(path))
    return tuple(
        ParamSpec(
            name=name,
            type=str(info.get("inferred_type_name") or "None"),
            default=str(info.get("default") or ""),
            help=str(info.get("help") or ""),
        )
        for name, info in found.items()
    )


def load(path: Path) -> Runbook:
    """Read one runbook's title and declared parameters."""
    return Runbook(name=path.stem, path=path, title=_title(path), parameters=_inspect(path))


def list_runbooks(folder: Path | None = None) -> list[Runbook]:
    """Every runbook in ``folder`` (default :func:`runbooks_dir`), by name."""
    folder = folder or runbooks_dir()
    paths = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    return [load(p) for p in paths]


def find_runbook(name_or_path: str, folder: Path | None = None) -> Runbook:
    """A runbook by name (``upload``) or by path (``notebooks/upload.ipynb``).

    Raises:
        InvalidInputError: no such runbook; the message lists the known ones.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".ipynb" and candidate.is_file():
        return load(candidate.absolute())
    folder = folder or runbooks_dir()
    path = folder / f"{Path(name_or_path).stem}.ipynb"
    if path.is_file():
        return load(path)
    known = sorted(p.stem for p in folder.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    raise InvalidInputError(
        f"no runbook named {name_or_path!r} in {folder}; known runbooks: "
        f"{', '.join(known) or '(none)'} (or give a path to a .ipynb)"
    )


def load_parameters_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML parameters file with every scalar kept as text (types come from the runbook).

    YAML would otherwise turn ``bucket: 007`` into 7 and ``date: 2026-01-01`` into a date.
    """
    import yaml  # type: ignore[import-untyped,unused-ignore]

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read parameters file {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)  # BaseLoader: str/list/dict only
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"parameters file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"parameters file {path} must be a mapping of name: value")
    return {str(k): v for k, v in data.items()}


def _text_value(declared: str, value: Any) -> Any:
    """Prepare a value for :func:`coerce`: list-typed text may be written ``[a, 'b']``.

    Not parsed as YAML: ``[*.csv]`` would be a YAML alias, and globs are what
    these lists hold.
    """
    kind = declared.replace(" ", "")
    text = value.strip() if isinstance(value, str) else None
    if text is None or kind not in ("list[str]", "list") or not text.startswith("["):
        return value
    if not text.endswith("]"):
        return value
    items = [item.strip() for item in text[1:-1].split(",")]
    return [
        item[1:-1] if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"" else item
        for item in items
        if item
    ]


def resolve_parameters(
    runbook: Runbook,
    values: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Check names and convert values to the runbook's declared types.

    Args:
        runbook: the target runbook.
        values: name → value; text (from ``-p``/``-f``) is converted by declared type,
            other values are checked against it.
        env: the environment whose secrets must not appear as values (default ``os.environ``).

    Raises:
        InvalidInputError: a secret-like name or value, an unknown name (the message
            lists the known ones) or a value that does not fit its type.
    """
    environ = environment() if env is None else env
    secrets = known_secrets(environ)
    problems: list[str] = []
    typed: dict[str, Any] = {}
    for name, value in values.items():
        if _SECRET_NAME.search(name):
            problems.append(
                f"{name}: secrets are never runbook parameters (papermill would save them in the "
                "output notebook); set SUPABASE_SERVICE_ROLE_KEY / SUPABASE_DB_URL / … in the "
                "environment or .env instead"
            )
            continue
        text = json.dumps(value, default=str)
        if redact_text(text, secrets)[1]:
            problems.append(
                f"{name}: the value looks like a key or token; secrets come only from "
                "the environment, never from parameters"
            )
            continue
        spec = runbook.param(name)
        if spec is None:
            known = ", ".join(f"{p.name} ({p.type})" for p in runbook.parameters) or "(none)"
            problems.append(f"{name}: unknown parameter for {runbook.name}; known: {known}")
            continue
        try:
            typed[name] = coerce(spec.type, _text_value(spec.type, value))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise InvalidInputError(
            f"invalid parameters for runbook {runbook.name}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return typed
