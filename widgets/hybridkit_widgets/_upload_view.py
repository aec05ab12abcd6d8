"""The upload panel: a thin ipywidgets view over :class:`UploadJob`."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Sequence
from typing import Any

from hybridkit.config import Settings
from hybridkit_widgets._common import Panel, PanelError, expect, format_bytes
from hybridkit_widgets._upload import FileTask, UploadJob, UploadSummary, plan_upload

__all__ = ["UploadPanel"]

_MAX_ROWS = 25
_STATUS_COLOURS = {
    "queued": "#57606a",
    "uploading": "#0969da",
    "uploaded": "#1a7f37",
    "skipped": "#57606a",
    "failed": "#cf222e",
    "cancelled": "#9a6700",
}


def _bar(fraction: float, status: str = "") -> str:
    kind = f" hk-bar-{status}" if status in ("failed", "skipped") else ""
    return f"<span class='hk-bar{kind}'><span style='width:{fraction * 100:.0f}%'></span></span>"


def _progress_cell(t: FileTask) -> str:
    if t.status == "failed":  # drawn as failed: a red, empty bar, never a full green one
        return f"{_bar(0.0, 'failed')} failed"
    if t.status == "skipped":
        return f"{_bar(1.0, 'skipped')} unchanged"
    return f"{_bar(t.fraction)} {t.fraction * 100:3.0f}%"


def _detail(t: FileTask) -> str:
    if t.error:
        return t.error
    if t.status == "skipped":
        return "same size and MD5 as the stored object: not sent"
    if t.retries:
        return f"retried {t.retries} time(s)"
    return ""


def globs(text: str) -> list[str]:
    """The globs typed in a field: comma-separated, blanks dropped (the runbook's ``glob_list``).

    Example:
        >>> globs(" *.csv, ,reports/** ")
        ['*.csv', 'reports/**']
    """
    from hybridkit.runbook import glob_list

    return list(glob_list()(text.split(",")))


def _nb(text: str) -> str:
    """Escape, and keep a figure on one line (``30.1 MiB`` never breaks in two)."""
    return html.escape(text).replace(" ", "&nbsp;")


def counts_html(parts: list[str]) -> str:
    """The overall line: figures that never wrap in the middle, wrapping only between them."""
    return (
        "<span class='hk-counts'>" + " · ".join(f"<span>{_nb(p)}</span>" for p in parts) + "</span>"
    )


def files_table(tasks: list[FileTask]) -> str:
    """The per-file table: in flight first, then failures, then the rest (at most 25 rows)."""
    order = {"uploading": 0, "failed": 1, "cancelled": 2, "uploaded": 3, "skipped": 4, "queued": 5}
    shown = sorted(tasks, key=lambda t: order[t.status])[:_MAX_ROWS]
    rows = []
    for t in shown:
        colour = _STATUS_COLOURS[t.status]
        # The retries column and the detail come from one count (a retry is a re-sent
        # request); the manager's request count ("attempts") is not shown beside it.
        row_class = " class='hk-row-failed'" if t.status == "failed" else ""
        rows.append(
            f"<tr{row_class}>"
            f"<td>{html.escape(t.key)}</td>"
            f"<td>{_nb(format_bytes(t.size))}</td>"
            f"<td style='color:{colour}'>{t.status}</td>"
            f"<td>{_progress_cell(t)}</td>"
            f"<td>{t.retries}</td>"
            f"<td class='hk-detail'>{html.escape(_detail(t))}</td>"
            "</tr>"
        )
    more = len(tasks) - len(shown)
    note = f"<div>… and {more} more file(s)</div>" if more > 0 else ""
    head = "".join(
        f"<th>{c}</th>" for c in ("key", "size", "status", "progress", "retries", "detail")
    )
    return (
        f"<div class='hk-table hk-files'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def summary_table(summary: UploadSummary) -> str:
    """The closing summary: a verdict line and one row of figures."""
    colour = "#2da44e" if summary.ok else "#cf222e"
    verdict = "OK" if summary.ok else ("NOT STARTED" if summary.error else "NOT COMPLETE")
    rows = summary.rows()
    bucket, prefix = rows.pop("bucket"), rows.pop("prefix").replace("(none)", "")
    where = f"{bucket}/{prefix}" if prefix else bucket
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows)
    body = "".join(f"<td>{_nb(v)}</td>" for v in rows.values())
    notes = []
    if summary.created_bucket:
        notes.append(f"created the private bucket {summary.bucket!r}")
    if summary.error:
        notes.append(summary.error)
    note = "".join(f"<div class='hk-detail'>{html.escape(n)}</div>" for n in notes)
    return (
        f"<div class='hk-table hk-summary' style='border-left:4px solid {colour};"
        f"padding-left:8px;margin-top:4px'><b>upload summary: {verdict}</b> — "
        f"{html.escape(where)}{note}<table><thead><tr>{head}</tr></thead>"
        f"<tbody><tr>{body}</tr></tbody></table></div>"
    )


class UploadPanel(Panel):
    """Upload local files or a folder to a bucket and prefix, with live progress and Cancel.

    Args:
        manager: the ``HybridSupabaseManager``.
        bucket: the bucket to propose.
        prefix: the key prefix to propose.
        path: a file or folder path to propose (on the machine running the kernel).
        upsert: overwrite stored objects that differ.
        jobs: files in flight at once (the upload runbook's ``concurrency``, 4).
        create_bucket: create a missing bucket (private), as the runbook does.
        include / exclude: globs for a folder's files, as the runbook's parameters
            (shown comma-separated; empty: every file).
        verify: check each upload against the server, as the runbook does.
        refresh_interval: the least seconds between two redraws while uploading.

    Example:
        >>> panel = UploadPanel(manager, bucket="reports", path="./exports")  # doctest: +SKIP
        >>> panel  # doctest: +SKIP
    """

    title = "Upload files"

    def __init__(
        self,
        manager: Any,
        *,
        bucket: str = "",
        prefix: str = "",
        path: str = "",
        upsert: bool = False,
        jobs: int = 4,
        create_bucket: bool = True,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        verify: bool = True,
        refresh_interval: float = 0.25,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(settings if settings is not None else getattr(manager, "settings", None))
        w = self._widgets
        self.manager = manager
        self.job: UploadJob | None = None
        self._interval = refresh_interval
        self._render_lock = threading.Lock()
        self._last_render = 0.0
        self._final_shown = False
        self.verify = verify

        self.bucket = w.Combobox(
            value=bucket,
            options=[],
            placeholder="bucket",
            description="Bucket:",
            layout=w.Layout(width="300px"),
        )
        self.bucket.add_class("hk-upload-bucket")
        self.prefix = w.Text(
            value=prefix,
            placeholder="e.g. reports/2026",
            description="Prefix:",
            layout=w.Layout(width="300px"),
        )
        self.prefix.add_class("hk-upload-prefix")
        self.upsert = w.Checkbox(
            value=upsert,
            description="overwrite (upsert)",
            indent=False,
            layout=w.Layout(width="auto", margin="0 12px"),
        )
        self.upsert.add_class("hk-upload-upsert")
        self.create_bucket = w.Checkbox(
            value=create_bucket,
            description="create the bucket if missing",
            indent=False,
            layout=w.Layout(width="auto", margin="0 12px 0 0"),
        )
        self.create_bucket.add_class("hk-upload-create")
        self.jobs = w.BoundedIntText(
            value=jobs,
            min=1,
            max=32,
            description="at a time:",
            style={"description_width": "initial"},
            layout=w.Layout(width="130px"),
        )
        self.path = w.Text(
            value=path,
            placeholder="a file or folder on the machine running the kernel",
            description="Path:",
            layout=w.Layout(width="612px"),
        )
        self.path.add_class("hk-upload-path")
        # The runbook's include/exclude lists, typed comma-separated.
        self.include, self.exclude = (
            w.Text(
                value=", ".join(value),
                placeholder=hint,
                description=f"{name.capitalize()}:",
                layout=w.Layout(width="300px"),
            )
            for name, value, hint in (
                ("include", include, "every file; e.g. *.csv, reports/**"),
                ("exclude", exclude, "none; e.g. .*, *.tmp"),
            )
        )
        self.include.add_class("hk-upload-include")
        self.exclude.add_class("hk-upload-exclude")
        self.picker = w.FileUpload(multiple=True, description="or pick files")
        self.picker.add_class("hk-upload-picker")
        self.start_button = w.Button(description="Upload", button_style="primary", icon="upload")
        self.start_button.add_class("hk-upload-start")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.add_class("hk-upload-cancel")
        self.overall = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="Overall:")
        self.overall.add_class("hk-upload-overall")
        self.overall_text = w.HTML(value="", layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.overall_text.add_class("hk-upload-counts")
        self.files = w.HTML(value="")
        self.files.add_class("hk-upload-files")
        self.summary = w.HTML(value="")
        self.summary.add_class("hk-upload-summary")

        self.start_button.on_click(self.guard(self._start, "upload"))
        self.cancel_button.on_click(self.guard(self._cancel, "cancel"))

        self.widget = w.VBox(
            [
                *self.header(),
                w.HBox([self.bucket, self.prefix, self.jobs]),
                w.HBox([self.path, self.picker]),
                w.HBox([self.include, self.exclude]),
                w.HBox([self.create_bucket, self.upsert]),
                w.HBox([self.start_button, self.cancel_button, self.overall]),
                self.status,
                self.overall_text,
                self.summary,
                self.files,
            ]
        )
        self.widget.add_class("hk-panel")
        self.widget.add_class("hk-upload")
        self.guard(self._load_buckets, "list buckets")()

    # ---------------------------------------------------------------- callbacks

    def _load_buckets(self) -> None:
        buckets = expect(self.manager.list_buckets(), "list buckets")
        self.bucket.options = sorted(b.name for b in buckets)

    def _picked(self) -> list[tuple[str, bytes]]:
        picked = []
        for item in self.picker.value or ():
            picked.append((str(item["name"]), bytes(item["content"])))
        return picked

    def _start(self, _: Any = None) -> None:
        if self.job is not None and self.job.running:
            raise PanelError("an upload is running; cancel it or wait for it to end")
        paths = [self.path.value] if self.path.value.strip() else []
        tasks = plan_upload(
            paths,
            self._picked(),
            prefix=self.prefix.value,
            include=globs(self.include.value),
            exclude=globs(self.exclude.value),
        )
        self.job = UploadJob(
            self.manager,
            self.bucket.value,
            tasks,
            prefix=self.prefix.value.strip().strip("/"),
            upsert=bool(self.upsert.value),
            jobs=int(self.jobs.value),
            create_bucket=bool(self.create_bucket.value),
            verify=self.verify,
            on_change=self._on_change,
        )
        self._final_shown = False
        self.summary.value = ""
        self.start_button.disabled = True
        self.cancel_button.disabled = False
        total = format_bytes(self.job.total)
        self.report(
            "busy", f"checking {self.job.bucket!r}, then uploading {len(tasks)} file(s), {total}"
        )
        self.render()
        self.job.start()

    def _cancel(self, _: Any = None) -> None:
        if self.job is None or not self.job.running:
            raise PanelError("no upload is running")
        self.job.cancel()
        self.cancel_button.disabled = True
        self.report("busy", "cancelling: no new file starts; files in flight stop shortly")

    # ---------------------------------------------------------------- rendering

    def _on_change(self) -> None:
        job = self.job
        if job is None:
            return
        now = time.monotonic()
        final = job.finished is not None
        with self._render_lock:
            if not final and now - self._last_render < self._interval:
                return
            if final and self._final_shown:
                return
            self._last_render = now
            self.render()
            if final:
                self._final_shown = True
                self._finish(job)

    def render(self) -> None:
        """Show the job's counts, per-file rows and overall progress."""
        job = self.job
        if job is None:
            return
        total, done = job.total, job.done
        self.overall.value = (done / total) if total else (1.0 if job.finished else 0.0)
        # Red once anything failed, amber when cancelled, green when all is stored,
        # blue while it runs.
        if job.count("failed") or job.error:
            self.overall.bar_style = "danger"
        elif job.count("cancelled"):
            self.overall.bar_style = "warning"
        else:
            self.overall.bar_style = "success" if job.finished is not None else ""
        finished_files = job.count("uploaded") + job.count("failed") + job.count("cancelled")
        finished_files += job.count("skipped")
        elapsed = job.summary().duration
        sent = job.sent
        rate = f"{format_bytes(sent / elapsed)}/s" if elapsed > 0 and sent > 0 else "- MiB/s"
        self.overall_text.value = counts_html(
            [
                f"{format_bytes(done)} / {format_bytes(total)}",
                f"{finished_files}/{len(job.tasks)} file(s)",
                f"{job.count('skipped')} unchanged",
                f"{job.count('failed')} failed",
                f"{job.retries} retries",
                rate,
                f"{elapsed:.1f} s",
            ]
        )
        self.files.value = files_table(job.tasks)

    def _finish(self, job: UploadJob) -> None:
        summary = job.summary()
        self.summary.value = summary_table(summary)
        self.start_button.disabled = False
        self.cancel_button.disabled = True
        self.picker.value = ()
        counts = f"{summary.uploaded} of {summary.files} file(s) uploaded to {summary.bucket!r}"
        if summary.skipped:
            counts += f", {summary.skipped} skipped (unchanged)"
        if summary.created_bucket:
            counts = f"created the private bucket {summary.bucket!r}; {counts}"
        if summary.error:
            self.report("error", summary.error)
        elif summary.ok:
            self.report("ok", counts)
        elif summary.cancelled:
            self.report(
                "info", f"cancelled: {counts}; {summary.cancelled} not uploaded (nothing lost)"
            )
        else:
            failed = [t for t in job.tasks if t.status == "failed"]
            first = f"{failed[0].key}: {failed[0].error}" if failed else ""
            self.report("error", f"{summary.failed} file(s) failed; {counts}. First: {first}")

    # ---------------------------------------------------------------- for scripts and tests

    def wait(self, timeout: float | None = None) -> UploadSummary | None:
        """Wait for the running upload; its summary (``None`` without one)."""
        if self.job is None:
            return None
        self.job.wait(timeout)
        self._on_change()
        return self.job.summary()
