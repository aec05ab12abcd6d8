"""Helpers the runbook notebooks share.

A runbook is a notebook that follows one shape (DESIGN.md, "Runbook conventions"):

1. a markdown cell: purpose, parameters, what it changes;
2. a cell tagged ``parameters``: annotated literals with a comment each;
3. ``p = rb.validate(globals(), ...)`` — typed checks before anything happens;
4. ``conn = rb.connect()`` and ``rb.show_target(conn, p, dry_run=...)`` — the target, never a key;
5. the work, through ``conn.manager`` (the ``HybridSupabaseManager``), with
   ``rb.progress(...)`` bars and ``rb.confirm(...)`` gates before destructive steps;
6. ``rb.summary(...)`` — the table a reader looks at first; ``rb.fail(...)`` when
   the run did not do what it was asked, so papermill exits non-zero.

Example:
    >>> import hybridkit.runbook as rb
    >>> ns = {"__annotations__": {"bucket": str}, "bucket": "reports"}
    >>> rb.validate(ns, bucket=rb.bucket_name()).bucket
    'reports'
"""

from __future__ import annotations

from hybridkit.runbook._bar import Bar, TextBar, TqdmBar, progress
from hybridkit.runbook._confirm import Gate, confirm, set_confirm_widget
from hybridkit.runbook._display import (
    SUMMARY_MIME,
    TARGET_MIME,
    banner,
    format_bytes,
    format_duration,
    format_skew,
    is_interactive,
    show,
    summary,
    table,
)
from hybridkit.runbook._errors import RunbookError, call, check, fail
from hybridkit.runbook._health import (
    SqlHealth,
    client_versions,
    kit_migrations_dir,
    sql_health,
)
from hybridkit.runbook._panel import panel
from hybridkit.runbook._params import (
    Params,
    between,
    bucket_name,
    byte_size,
    coerce,
    glob_list,
    local_path,
    mime_types,
    non_empty,
    one_of,
    prefix,
    validate,
)
from hybridkit.runbook._samples import sample_folder
from hybridkit.runbook._target import Connection, connect, local_stack_dir, show_target
from hybridkit.runbook._upload import LOOKUP, conflicts, selected, upload, upload_hint, upload_one

__all__ = [
    "LOOKUP",
    "SUMMARY_MIME",
    "TARGET_MIME",
    "Bar",
    "Connection",
    "Gate",
    "Params",
    "RunbookError",
    "SqlHealth",
    "TextBar",
    "TqdmBar",
    "banner",
    "between",
    "bucket_name",
    "byte_size",
    "call",
    "check",
    "client_versions",
    "coerce",
    "confirm",
    "conflicts",
    "connect",
    "fail",
    "format_bytes",
    "format_duration",
    "format_skew",
    "glob_list",
    "is_interactive",
    "kit_migrations_dir",
    "local_path",
    "local_stack_dir",
    "mime_types",
    "non_empty",
    "one_of",
    "panel",
    "prefix",
    "progress",
    "sample_folder",
    "selected",
    "set_confirm_widget",
    "show",
    "show_target",
    "sql_health",
    "summary",
    "table",
    "upload",
    "upload_hint",
    "upload_one",
    "validate",
]
