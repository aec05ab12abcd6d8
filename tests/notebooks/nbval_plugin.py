"""A pytest plugin for the nbval runs (``-p nbval_plugin``).

nbval sanitises text, not JSON payloads: the data a runbook hands to
``hybridkit run`` (its summary and target as JSON) repeats what the text and
HTML views show — those are compared, after sanitising, instead.
"""

from __future__ import annotations

from typing import Any

SKIPPED = (
    "application/vnd.hybridkit.summary+json",
    "application/vnd.hybridkit.target+json",
)


def pytest_collectstart(collector: Any) -> None:
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += SKIPPED
