"""Root confinement: the local files an assistant may read or write are under one folder.

A path is resolved against the root, symlinks followed (``Path.resolve``), and refused
unless the result is the root or inside it — so neither ``..`` nor an absolute path
nor a symlink pointing out of the root escapes. For a file to be written, its parent
folder is resolved the same way (the file itself may not exist yet), and an existing
symlink at the target is refused: writing through it would land wherever it points.
"""

from __future__ import annotations

import os
from pathlib import Path

from hybridkit.mcp._boundary import ToolRefusal

__all__ = ["Root"]


class Root:
    """The folder that confines ``upload_file``/``download_file`` and runbook paths.

    Example:
        >>> Root(Path("/tmp")).resolve("a/b.txt", must_exist=False)  # doctest: +SKIP
        PosixPath('/tmp/a/b.txt')
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder.expanduser().resolve(strict=True)

    def _refuse(self, given: str, why: str) -> ToolRefusal:
        return ToolRefusal(
            f"path {given!r} is outside the server's root folder {self.folder} ({why})",
            hint="use a path inside the root (relative paths are taken from it), or restart "
            "the server with --root set to the folder you mean",
        )

    def _inside(self, path: Path) -> bool:
        return path == self.folder or self.folder in path.parents

    def resolve(self, given: str, *, must_exist: bool = True, for_writing: bool = False) -> Path:
        """The absolute path for ``given`` (relative to the root), or a :class:`ToolRefusal`."""
        if not given or "\x00" in given:
            raise ToolRefusal("a local path is needed", hint="give a file path inside the root")
        candidate = Path(given).expanduser()
        if not candidate.is_absolute():
            candidate = self.folder / candidate
        if for_writing:
            if candidate.is_symlink():
                raise self._refuse(given, "it is a symbolic link")
            parent = candidate.parent.resolve()
            if not self._inside(parent):
                raise self._refuse(given, "its folder resolves outside the root")
            target = parent / candidate.name
            if target == self.folder:
                raise self._refuse(given, "it is the root folder itself")
        else:
            target = candidate.resolve()
            if not self._inside(target):
                lexical = Path(os.path.normpath(candidate))
                why = "a symbolic link leads out of it" if self._inside(lexical) else "not under it"
                raise self._refuse(given, why)
        if must_exist and not target.exists():
            raise ToolRefusal(
                f"no such file: {self.relative(target)} (in the root {self.folder})",
                hint="list the root's files with your own tools, or check the name",
            )
        return target

    def relative(self, path: Path) -> str:
        """``path`` as shown to the assistant: relative to the root."""
        try:
            return str(path.relative_to(self.folder)) or "."
        except ValueError:
            return str(path)
