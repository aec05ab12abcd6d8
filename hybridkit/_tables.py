"""Plain-text tables for reports (the library never prints; callers do)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["text_table"]


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, rule: bool = True
) -> list[str]:
    """Left-aligned columns under a dashed rule; the last column is not padded.

    The one table renderer of the kit (reports, SQL results, runbook output, the
    CLI). ``rule=False`` leaves the dashed line out.

    Example:
        >>> text_table(("A", "B"), [("x", "long value")])
        ['A  B', '-  ----------', 'x  long value']
    """
    table = [tuple(header), *(tuple(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [row[-1]]
        return "  ".join(cells).rstrip()

    dashes = ["  ".join("-" * w for w in widths)] if rule else []
    return [line(table[0]), *dashes, *(line(r) for r in table[1:])]
