"""The bucket browser panel: a thin ipywidgets view over :class:`BrowserState`."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

from hybridkit.config import Settings
from hybridkit_widgets._browser import BrowserState
from hybridkit_widgets._common import Panel, PanelError, describe, format_bytes
from hybridkit_widgets._confirm import ConfirmDialog

__all__ = ["BucketBrowser"]

_COLUMNS = (("name", 38, "<"), ("size", 10, ">"), ("type", 26, "<"), ("age", 8, ">"))


def _fit(text: str, width: int, align: str) -> str:
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{text:{align}{width}}"


def listing_line(row: dict[str, str], *, folder: bool = False) -> str:
    """One fixed-width line of the listing (name, size, type, age)."""
    marker = "▸ " if folder else "  "
    cells = [_fit(row[name], width, align) for name, width, align in _COLUMNS]
    return (marker + "  ".join(cells)).rstrip()


def default_download_dir() -> str:
    """Where Download writes unless told: ``~/Downloads/hybridkit`` (outside any repository),
    or a temporary folder when there is no writable home."""
    home = Path.home()
    if home.is_dir() and home != Path("/"):
        return str(home / "Downloads" / "hybridkit")
    return str(Path(tempfile.gettempdir()) / "hybridkit-downloads")  # pragma: no cover


_COPY_JS = (
    "var i=this.parentNode.querySelector('input');i.select();"
    "(navigator.clipboard?navigator.clipboard.writeText(i.value):Promise.reject())"
    ".catch(function(){document.execCommand('copy');});this.textContent='Copied';"
)


def signed_link_html(url: str, label: str, seconds: int) -> str:
    """The signed URL in a read-only field with a Copy button, and what it gives."""
    quoted = html.escape(url, quote=True)
    return (
        "<div class='hk-result hk-signed'>"
        f"<div>Signed link to <b>{html.escape(label)}</b>, valid {seconds} s — anyone "
        "holding it can download the object:</div>"
        f"<input class='hk-signed-url' readonly value='{quoted}' "
        "style='width:70%;font-family:var(--jp-code-font-family,monospace);font-size:11px' "
        "onclick='this.select()'/> "
        f'<button class="hk-copy" onclick="{_COPY_JS}">Copy</button> '
        f"<a class='hk-signed-link' href='{quoted}' target='_blank' rel='noopener' "
        "style='color:var(--jp-content-link-color,#0969da);text-decoration:underline'>open</a>"
        "</div>"
    )


class BucketBrowser(Panel):
    """Buckets, then the objects of one folder level with size, type and age.

    Open folders, go up, download, make a signed link, delete objects or folders,
    empty or delete the bucket (each destructive action asks for confirmation
    first), and create a bucket.

    Args:
        manager: the ``HybridSupabaseManager`` to work through.
        bucket: open this bucket first (``None``: the first one).
        prefix: open this folder first.
        download_dir: where Download writes files (on the machine running the kernel);
            default ``~/Downloads/hybridkit``, outside the repository. The panel shows it
            and says where each download went.

    Example:
        >>> browser = BucketBrowser(manager, bucket="reports")  # doctest: +SKIP
        >>> browser  # the last expression of a cell shows it  # doctest: +SKIP
    """

    title = "Bucket browser"

    def __init__(
        self,
        manager: Any,
        *,
        bucket: str | None = None,
        prefix: str = "",
        download_dir: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(settings if settings is not None else getattr(manager, "settings", None))
        w = self._widgets
        self.state = BrowserState(manager, bucket=bucket, prefix=prefix)
        self._syncing = False

        self.bucket_select = w.Dropdown(options=[], description="Bucket:")
        self.bucket_select.add_class("hk-bucket-select")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.add_class("hk-refresh")
        wide = {"description_width": "initial"}
        self.new_name = w.Text(placeholder="new-bucket-name", description="New bucket:", style=wide)
        self.new_name.add_class("hk-new-bucket")
        self.new_public = w.Checkbox(
            value=False, description="public", indent=False, layout=w.Layout(width="auto")
        )
        self.create_button = w.Button(description="Create", icon="plus")
        self.create_button.add_class("hk-create-bucket")

        self.path_label = w.HTML(value="")
        self.path_label.add_class("hk-path")
        self.up_button = w.Button(description="Up", icon="arrow-up")
        self.up_button.add_class("hk-up")
        self.open_button = w.Button(description="Open folder", icon="folder-open")
        self.open_button.add_class("hk-open")
        self.columns = w.HTML(value="")
        self.listing = w.SelectMultiple(options=[], rows=9)
        self.listing.layout.width = "100%"
        self.listing.add_class("hk-listing")

        self.download_dir = w.Text(
            value=download_dir if download_dir is not None else default_download_dir(),
            description="to folder:",
            style=wide,
            layout=w.Layout(width="360px"),
        )
        self.download_dir.add_class("hk-download-dir")
        self.download_button = w.Button(description="Download", icon="download")
        self.download_button.add_class("hk-download")
        self.expires = w.BoundedIntText(
            value=3600,
            min=1,
            max=7 * 24 * 3600,
            description="valid for (s):",
            style=wide,
            layout=w.Layout(width="200px"),
        )
        self.sign_button = w.Button(description="Signed link", icon="link")
        self.sign_button.add_class("hk-sign")
        self.delete_button = w.Button(description="Delete…", button_style="danger", icon="trash")
        self.delete_button.add_class("hk-delete")
        self.empty_button = w.Button(description="Empty bucket…", button_style="warning")
        self.empty_button.add_class("hk-empty")
        self.drop_button = w.Button(description="Delete bucket…", button_style="danger")
        self.drop_button.add_class("hk-delete-bucket")
        self.output = w.HTML(value="")
        self.output.add_class("hk-output")
        self.confirm_area = w.VBox([])

        self.bucket_select.observe(self.guard(self._on_bucket, "open bucket"), names="value")
        self.refresh_button.on_click(self.guard(self._refresh, "refresh"))
        self.create_button.on_click(self.guard(self._create, "create bucket"))
        self.up_button.on_click(self.guard(self._up, "up"))
        self.open_button.on_click(self.guard(self._open, "open folder"))
        self.download_button.on_click(self.guard(self._download, "download"))
        self.sign_button.on_click(self.guard(self._sign, "signed link"))
        self.delete_button.on_click(self.guard(self._ask_delete, "delete"))
        self.empty_button.on_click(self.guard(self._ask_empty, "empty bucket"))
        self.drop_button.on_click(self.guard(self._ask_drop, "delete bucket"))

        small = w.Layout(width="auto")
        for button in (self.up_button, self.open_button, self.refresh_button):
            button.layout = small
        self.widget = w.VBox(
            [
                *self.header(),
                w.HBox([self.bucket_select, self.refresh_button]),
                w.HBox([self.new_name, self.new_public, self.create_button]),
                w.HBox([self.up_button, self.open_button, self.path_label]),
                self.columns,
                self.listing,
                w.HBox([self.download_button, self.download_dir]),
                w.HBox([self.sign_button, self.expires]),
                w.HBox([self.delete_button, self.empty_button, self.drop_button]),
                # each action's result right under the buttons, replacing the last one
                self.status,
                self.confirm_area,
                self.output,
            ]
        )
        self.widget.add_class("hk-panel")
        self.widget.add_class("hk-browser")
        self.render()  # a usable (empty) panel even when loading fails below
        self.guard(self._start, "load buckets")()

    # ---------------------------------------------------------------- rendering

    def _start(self) -> None:
        self.state.load_buckets()
        if self.state.bucket is None and self.state.buckets:
            self.state.bucket = self.state.buckets[0].name
        if self.state.bucket is not None:
            self.state.refresh()
        self.render()
        self.report("info", f"{len(self.state.buckets)} bucket(s)")

    def render(self) -> None:
        """Show the state: bucket list, path, listing, enabled buttons."""
        state = self.state
        self._syncing = True
        try:
            self.bucket_select.options = state.bucket_names
            self.bucket_select.value = state.bucket if state.bucket in state.bucket_names else None
        finally:
            self._syncing = False
        if state.bucket is None:
            where = "no bucket open" if state.buckets else "no buckets yet: create one below"
        else:
            where = f"<b>{html.escape(state.path)}</b> — {len(state.entries)} item(s)"
        self.path_label.value = where
        header = {"name": "name", "size": "size", "type": "type", "age": "age"}
        self.columns.value = (
            "<pre style='margin:0;font-size:12px'>" + html.escape(listing_line(header)) + "</pre>"
        )
        rows = state.rows()
        self.listing.options = [
            (listing_line(row, folder=entry.is_folder), entry.key)
            for row, entry in zip(rows, state.entries, strict=True)
        ]
        self.listing.value = ()
        has_bucket = state.bucket is not None
        for button in (
            self.up_button,
            self.open_button,
            self.download_button,
            self.sign_button,
            self.delete_button,
            self.empty_button,
            self.drop_button,
        ):
            button.disabled = not has_bucket
        self.up_button.disabled = not state.prefix

    def _selected(self) -> list[str]:
        return [str(k) for k in self.listing.value]

    def _ask(self, target: str, action: str, run: Any, detail: str = "") -> ConfirmDialog:
        def confirmed() -> Any:
            try:
                return run()
            except Exception as exc:
                # Shown in the dialog (its own guard) and in the browser's status line.
                self.report("error", f"{action}: {describe(exc)}")
                raise

        dialog = ConfirmDialog(
            target,
            action,
            on_confirm=confirmed,
            detail=detail,
            settings=self._settings,
        )
        self.confirm_area.children = [dialog.widget]
        self.output.value = ""
        self.report("info", f"confirm: {action}")
        return dialog

    def _done(self, level: Any, text: str) -> str:
        """A confirmed action's one status line: the dialog it replaces goes."""
        self.confirm_area.children = []
        self.report(level, text)
        return text

    # ---------------------------------------------------------------- callbacks

    def _on_bucket(self, change: dict[str, Any]) -> None:
        if self._syncing or not change["new"]:
            return
        self.report("busy", f"listing {change['new']}")
        self.state.open_bucket(str(change["new"]))
        self.render()
        self.report("info", f"{self.state.path}: {len(self.state.entries)} item(s)")

    def _refresh(self, _: Any = None) -> None:
        self.report("busy", "refreshing")
        self.state.load_buckets()
        if self.state.bucket is None and self.state.buckets:
            self.state.bucket = self.state.buckets[0].name
        if self.state.bucket is not None:
            self.state.refresh()
        self.render()
        self.report("ok", f"refreshed: {len(self.state.buckets)} bucket(s)")

    def _create(self, _: Any = None) -> None:
        name = self.new_name.value.strip()
        self.report("busy", f"creating bucket {name!r}")
        self.state.create_bucket(name, public=bool(self.new_public.value))
        self.new_name.value = ""
        self.render()
        kind = "public" if self.new_public.value else "private"
        self.report("ok", f"created the {kind} bucket {name!r}")

    def _up(self, _: Any = None) -> None:
        self.state.up()
        self.render()
        self.report("info", f"{self.state.path}: {len(self.state.entries)} item(s)")

    def _open(self, _: Any = None) -> None:
        keys = self._selected()
        folders = [k for k in keys if self.state.entry(k).is_folder]
        if len(folders) != 1:
            raise PanelError("select one folder to open")
        self.state.enter(folders[0])
        self.render()
        self.report("info", f"{self.state.path}: {len(self.state.entries)} item(s)")

    def _download(self, _: Any = None) -> None:
        keys = self._selected()
        folder = Path(self.download_dir.value.strip() or default_download_dir()).expanduser()
        folder = folder.absolute()
        self.confirm_area.children = []
        self.report("busy", f"downloading {len(keys)} item(s) into {folder}")
        written = self.state.download(keys, folder)
        items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in written[:20])
        more = f"<li>… and {len(written) - 20} more</li>" if len(written) > 20 else ""
        self.output.value = (
            f"<div class='hk-result'>Downloaded into <code>{html.escape(str(folder))}</code> "
            f"(on the machine running the kernel):<ul>{items}{more}</ul></div>"
        )
        self.report("ok", f"downloaded {len(written)} file(s) into {folder}")

    def _sign(self, _: Any = None) -> None:
        keys = self._selected()
        if len(keys) != 1:
            raise PanelError("select one object to sign")
        seconds = int(self.expires.value)
        url = self.state.signed_url(keys[0], seconds)
        # The URL is shown (it is what the user asked for) with a Copy button; the
        # status line, which may be logged, says only what it is for.
        label = f"{self.state.bucket}/{keys[0]}"
        self.confirm_area.children = []
        self.output.value = signed_link_html(url, label, seconds)
        self.report("ok", f"signed link to {label} below, valid {seconds} s")

    def _ask_delete(self, _: Any = None) -> None:
        keys = self._selected()
        plan = self.state.describe_delete(keys)
        bucket = str(self.state.bucket)

        def run() -> str:
            deleted = self.state.delete(keys)
            self.render()
            return self._done("ok", f"deleted {len(deleted)} object(s) from {bucket!r}")

        self._ask(bucket, plan, run)

    def _ask_empty(self, _: Any = None) -> None:
        bucket = str(self.state.bucket)
        count, size = self.state.count_objects()
        plan = f"empty bucket {bucket!r}: delete all {count} object(s) ({format_bytes(size)})"

        def run() -> str:
            self.state.empty_bucket()
            self.render()
            return self._done("ok", f"emptied bucket {bucket!r}")

        self._ask(bucket, plan, run)

    def _ask_drop(self, _: Any = None) -> None:
        bucket = str(self.state.bucket)
        count, size = self.state.count_objects()
        plan = f"delete bucket {bucket!r}" + (
            f" and its {count} object(s) ({format_bytes(size)})" if count else " (it is empty)"
        )

        def run() -> str:
            self.state.delete_bucket()
            if self.state.bucket is None and self.state.buckets:
                self.state.open_bucket(self.state.buckets[0].name)
            self.render()
            return self._done("ok", f"deleted bucket {bucket!r}")

        self._ask(bucket, plan, run)

    # ---------------------------------------------------------------- for scripts and tests

    def select(self, *keys: str) -> None:
        """Select listing entries by key (what a click in the list does)."""
        self.listing.value = tuple(keys)
