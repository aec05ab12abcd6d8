"""Print, or write into README.md, the Binder badge for this repository.

The repository's address is kept in one place, ``[project.urls] Repository`` in
pyproject.toml. A fork changes it there and runs ``python binder/badge.py --write``;
the test suite checks that README.md's badge matches it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BADGE = re.compile(r"\[!\[Binder\]\([^)]*\)\]\([^)]*\)")


def badge(root: Path = ROOT) -> str:
    """The badge's markdown, from pyproject.toml's Repository URL (a GitHub repository)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Repository"].rstrip("/").removesuffix(".git")
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", url)
    if not match:
        raise SystemExit(f"[project.urls] Repository must be a GitHub URL, got {url!r}")
    owner, name = match.groups()
    target = f"https://mybinder.org/v2/gh/{owner}/{name}/main?urlpath=lab/tree/notebooks"
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({target})"


def main(argv: list[str]) -> int:
    text = badge()
    if "--write" not in argv:
        print(text)
        return 0
    readme = ROOT / "README.md"
    content = readme.read_text()
    if not BADGE.search(content):
        raise SystemExit("README.md has no Binder badge to replace")
    readme.write_text(BADGE.sub(text, content, count=1))
    print(f"README.md: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
