"""ipywidgets panels for hybridkit's runbooks, for people at a JupyterLab desk.

A separate distribution (``hybridkit-widgets``) so that headless runs never need
ipywidgets. Every panel is a thin view over a state object that calls the same
``HybridSupabaseManager`` methods a headless runbook calls; every callback
catches its own errors and shows them in the panel's status line.

* :class:`BucketBrowser` — buckets, then objects with size, type and age; folders;
  download; signed links; delete, empty and delete bucket after confirmation;
  create a bucket.
* :class:`UploadPanel` — local files or a folder path, bucket and prefix, upsert;
  per-file and overall live progress, retries, Cancel; a summary at the end.
* :class:`MigrationDashboard` — status, checks and lints, a dry run, apply after
  confirmation.
* :class:`ConfirmDialog` — type the target's name, then confirm; also the
  runbooks' interactive confirmation (:func:`install`, or ``%load_ext hybridkit_widgets``).

Example:
    >>> import hybridkit_widgets as hkw
    >>> from hybridkit.manager import HybridSupabaseManager
    >>> hkw.BucketBrowser(HybridSupabaseManager())  # doctest: +SKIP
"""

from __future__ import annotations

from hybridkit_widgets._browser import BrowserState, Entry
from hybridkit_widgets._browser_view import BucketBrowser
from hybridkit_widgets._common import Panel, PanelError, Redactor
from hybridkit_widgets._confirm import ConfirmDialog, ConfirmState, confirm_gate
from hybridkit_widgets._health import HealthPanel
from hybridkit_widgets._migrations import KitMigrations, MigrationBackend, MigrationState
from hybridkit_widgets._migrations_view import MigrationDashboard
from hybridkit_widgets._runbook import (
    RunbookPanels,
    install,
    load_ipython_extension,
    runbook_name,
    runbook_panel,
    uninstall,
    unload_ipython_extension,
)
from hybridkit_widgets._upload import (
    FileTask,
    UploadCancelled,
    UploadJob,
    UploadSummary,
    plan_upload,
)
from hybridkit_widgets._upload_view import UploadPanel

__version__ = "0.1.0"

__all__ = [
    "BrowserState",
    "BucketBrowser",
    "ConfirmDialog",
    "ConfirmState",
    "Entry",
    "FileTask",
    "HealthPanel",
    "KitMigrations",
    "MigrationBackend",
    "MigrationDashboard",
    "MigrationState",
    "Panel",
    "PanelError",
    "Redactor",
    "RunbookPanels",
    "UploadCancelled",
    "UploadJob",
    "UploadPanel",
    "UploadSummary",
    "__version__",
    "confirm_gate",
    "install",
    "load_ipython_extension",
    "plan_upload",
    "runbook_name",
    "runbook_panel",
    "uninstall",
    "unload_ipython_extension",
]
