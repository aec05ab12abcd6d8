"""Build the runbook notebooks from one description each, so they share one shape.

Run ``python notebooks/_build.py`` after editing, then ``ruff format notebooks``;
commit the .ipynb files (without outputs) — they are the product. Each runbook:

1. a markdown cell: purpose, a parameters table (generated from the same list as
   the parameters cell), what it changes, how to run it headless;
2. a code cell tagged ``parameters``: ``name: type = default  # help`` per line;
3. validation (``rb.validate``) before anything happens;
4. connect and show the target (URL and key role, never a key);
5. the work, through the manager; a summary table; a loud failure.
"""

# The cells' code is formatted in the notebooks themselves (ruff format notebooks).
# ruff: noqa: E501

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).parent


@dataclass(frozen=True)
class P:
    name: str
    type: str
    default: str
    help: str


@dataclass
class Runbook:
    name: str
    title: str
    purpose: str
    changes: str
    example: str
    params: list[P]
    cells: list[str] = field(default_factory=list)


def _md_table(params: list[P]) -> str:
    rows = ["| name | type | default | meaning |", "|---|---|---|---|"]
    for p in params:
        rows.append(f"| `{p.name}` | {p.type} | `{p.default}` | {p.help} |")
    return "\n".join(rows)


def _intro(rb: Runbook) -> str:
    return (
        f"# {rb.title}\n\n{rb.purpose}\n\n## Parameters\n\n{_md_table(rb.params)}\n\n"
        f"## What it changes\n\n{rb.changes}\n\n## How to run it\n\n"
        "- **Interactively:** edit the cell tagged `parameters` below, then *Run All*. "
        "With no `SUPABASE_URL` set, it uses the embedded local stack (started if needed).\n"
        f"- **Headless:** `{rb.example}` — the output notebook and a JSON record go to "
        f"`runs/{rb.name}/`; the exit status is non-zero when the run fails.\n"
        "- **Secrets** (`SUPABASE_SERVICE_ROLE_KEY`, `SUPABASE_DB_URL`, …) come from the "
        "environment or `.env`, never from parameters, and never appear in the output."
    )


def _params_cell(params: list[P]) -> str:
    return "\n".join(f"{p.name}: {p.type} = {p.default}  # {p.help}" for p in params)


def build(rb: Runbook) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    cells = [nbformat.v4.new_markdown_cell(_intro(rb))]
    params = nbformat.v4.new_code_cell(_params_cell(rb.params))
    params.metadata["tags"] = ["parameters"]
    cells.append(params)
    for source in rb.cells:
        text = source.strip("\n")
        if text.startswith("## ") or text.startswith("### "):
            cells.append(nbformat.v4.new_markdown_cell(text))
            continue
        cell = nbformat.v4.new_code_cell(text)
        if "gate.proceed()" in text:
            # Documentation for readers and tools: this cell changes the target.
            cell.metadata["tags"] = ["destructive"]
        cells.append(cell)
        if "rb.show_target(" in text:
            cells.append(nbformat.v4.new_code_cell(PANEL.format(name=rb.name)))
    for index, cell in enumerate(cells):
        cell["id"] = f"{rb.name.replace('_', '-')}-{index:02d}"
    nb.cells = cells
    return nb


# --------------------------------------------------------------------------- shared cells

CONNECT = """
conn = rb.connect()
manager = conn.manager
rb.show_target(conn, p{dry})
"""


PANEL = """# In JupyterLab: this runbook's panel (hybridkit-widgets) — buttons for the same
# operations. Headless runs (papermill, `hybridkit run`) skip it and keep to the
# parameters above.
rb.panel(conn, p, runbook="{name}")"""


def connect_cell(dry_run: bool = False) -> str:
    return CONNECT.format(dry=", dry_run=p.dry_run" if dry_run else "")


# --------------------------------------------------------------------------- health_check

HEALTH = Runbook(
    name="health_check",
    title="Health check",
    purpose=(
        "Is the target healthy? Checks that Storage and the REST API are reachable and accept "
        "the key, with their latency; a read-only SQL query (over `SUPABASE_DB_URL`, or the "
        "Management API) when SQL is configured; the clock skew "
        "between this machine and the server; the versions in use; and the state of the kit's "
        "circuit breaker. Ends with a table and, when `fail_on_problem` is set, fails the run "
        "if anything is wrong — so a scheduler can alert on it."
    ),
    changes="Nothing: it only reads.",
    example="hybridkit run health_check -p fail_on_problem true",
    params=[
        P("fail_on_problem", "bool", "False", "fail the run (non-zero exit) when a check fails"),
        P("max_clock_skew", "float", "30.0", "seconds of clock difference tolerated"),
        P("timeout", "float", "10.0", "seconds to wait for each probe"),
    ],
    cells=[
        """
import hybridkit.runbook as rb

p = rb.validate(
    globals(),
    max_clock_skew=rb.between(0, 86400),
    timeout=rb.between(0.1, 600),
)
""",
        connect_cell(),
        "## Storage and REST: reachable, key accepted, latency, clock",
        """
import dataclasses

result = manager.health_check(timeout=p.timeout)
report = result.data
if report is None:
    rb.fail(f"the health check could not run: {result.error}")
report = dataclasses.replace(report, max_clock_skew=p.max_clock_skew)
rows = [
    {
        "service": c.name,
        "ok": c.ok,
        "reachable": c.reachable,
        "key accepted": c.auth_ok,
        "latency": rb.format_duration(c.latency),
        "clock skew": "-" if c.clock_skew is None else f"{c.clock_skew:+.1f} s",
        "detail": c.detail,
    }
    for c in report.checks
]
problems = list(report.problems)
""",
        "## SQL",
        """
# One read-only query through the manager: layer "sql" over SUPABASE_DB_URL,
# "management" through the Management API; "not checked" when neither is set.
sql = rb.sql_health(manager.sql("select current_setting('server_version') as version"))
rows.append(sql.row())
if sql.problem:
    problems.append(sql.problem)
rb.table(rows, title="checks")
""",
        "## Versions and the circuit breaker",
        """
versions = rb.client_versions()
versions["postgresql (server)"] = sql.server_version or "-"
rb.banner("versions", {**versions, "circuit breaker": report.breaker_state})
if report.breaker_state != "closed":
    problems.append(f"the circuit breaker is {report.breaker_state}: recent calls kept failing")
""",
        "## Summary",
        """
by_name = {c.name: c for c in report.checks}
rb.summary(
    "health check",
    {
        "storage": "ok" if by_name["storage"].ok else by_name["storage"].detail,
        "storage latency": rb.format_duration(by_name["storage"].latency),
        "rest": "ok" if by_name["rest"].ok else by_name["rest"].detail,
        "rest latency": rb.format_duration(by_name["rest"].latency),
        "sql": sql.status,
        "clock skew": "-" if report.clock_skew is None else f"{report.clock_skew:+.1f} s",
        "circuit breaker": report.breaker_state,
        "problems": len(problems),
    },
    ok=not problems,
)
""",
        """
conn.close()
if problems and p.fail_on_problem:
    rb.fail("the health check found problems:\\n" + "\\n".join(f"- {x}" for x in problems))
elif problems:
    rb.show("Problems found; the run does not fail because fail_on_problem is False.")
""",
    ],
)

# --------------------------------------------------------------------------- bucket_admin

BUCKET_ADMIN = Runbook(
    name="bucket_admin",
    title="Bucket administration",
    purpose=(
        "List buckets, or create, update (public, size limit, allowed mime types), empty or "
        "delete one. Every change is a **dry run by default**: the runbook shows what it would "
        "do and changes nothing until `dry_run` is False. Emptying and deleting also need "
        "`confirm` set to the bucket's name when run headless (interactively, a confirmation "
        "box asks for it)."
    ),
    changes=(
        "`list`: nothing. `create`/`update`: the bucket's settings (with `dry_run = False`). "
        "`empty`: deletes every object in the bucket; `delete`: deletes the bucket (and, with "
        "`empty_first`, its objects) — both only with `dry_run = False` and `confirm` equal to "
        "the bucket name."
    ),
    example=(
        "hybridkit run bucket_admin -p action delete -p bucket old-logs "
        "-p empty_first true -p dry_run false -p confirm old-logs"
    ),
    params=[
        P("action", "str", '"list"', "list, create, update, empty or delete"),
        P("bucket", "str", '""', "the bucket to act on (not needed for list)"),
        P("public", "str", '""', 'create/update: "true" or "false"; empty leaves it as is'),
        P("file_size_limit", "str", '""', 'create/update: e.g. "50MB"; empty leaves it'),
        P("clear_size_limit", "bool", "False", "update: remove the size limit"),
        P("allowed_mime_types", "list[str]", "[]", 'create/update: e.g. ["image/*"]'),
        P("clear_mime_types", "bool", "False", "update: allow every mime type again"),
        P("empty_first", "bool", "False", "delete: empty a bucket that still has objects"),
        P("dry_run", "bool", "True", "only show what would change"),
        P("confirm", "str", '""', "empty/delete: the bucket name again (needed headless)"),
    ],
    cells=[
        """
import hybridkit.runbook as rb

p = rb.validate(
    globals(),
    action=rb.one_of("list", "create", "update", "empty", "delete"),
    bucket=rb.bucket_name(allow_empty=True),
    public=rb.one_of("", "true", "false"),
    file_size_limit=rb.byte_size(),
    allowed_mime_types=rb.mime_types(),
)
if p.action != "list" and not p.bucket:
    rb.fail(f"bucket: required for action {p.action!r}", hint="pass -p bucket NAME", nothing_changed=True)
if p.file_size_limit and p.clear_size_limit:
    rb.fail("pass file_size_limit or clear_size_limit, not both", nothing_changed=True)
if p.allowed_mime_types and p.clear_mime_types:
    rb.fail("pass allowed_mime_types or clear_mime_types, not both", nothing_changed=True)
""",
        connect_cell(dry_run=True),
        "## The buckets now",
        """
buckets = rb.check(manager.list_buckets(), "list buckets")
rb.table(
    [
        {
            "bucket": b.name,
            "public": b.public,
            "size limit": f"{b.file_size_limit:,} B" if b.file_size_limit else "none",
            "mime types": ", ".join(b.allowed_mime_types or ()) or "any",
            "created": b.created_at.strftime("%Y-%m-%d %H:%M") if b.created_at else "-",
        }
        for b in buckets
    ],
    title=f"{len(buckets)} bucket(s)",
)
current = next((b for b in buckets if b.name == p.bucket), None)
outcome = "listed"
""",
        "## Plan",
        """
changes = {}
objects = []
if p.action in ("update", "create"):
    if p.public:
        changes["public"] = p.public == "true"
    if p.file_size_limit:
        changes["file_size_limit"] = p.file_size_limit
    if p.clear_size_limit:
        changes["file_size_limit"] = None
    if p.allowed_mime_types:
        changes["allowed_mime_types"] = p.allowed_mime_types
    if p.clear_mime_types:
        changes["allowed_mime_types"] = None
if p.action == "create" and current is not None:
    rb.fail(f"bucket {p.bucket!r} already exists", hint="use action update to change it", nothing_changed=True)
if p.action in ("update", "empty", "delete") and current is None:
    rb.fail(f"bucket {p.bucket!r} does not exist", hint="the table above lists the buckets", nothing_changed=True)
if p.action == "update" and not changes:
    rb.fail(
        "nothing to update",
        hint="pass public, file_size_limit, allowed_mime_types or a clear_... flag",
        nothing_changed=True,
    )
if p.action in ("empty", "delete"):
    objects = rb.check(manager.list_objects(p.bucket), f"list the objects of {p.bucket!r}")
    size = sum(o.size for o in objects)
    rb.table(
        [{"key": o.name, "size": rb.format_bytes(o.size), "updated": o.updated_at} for o in objects],
        title=f"{len(objects)} object(s), {rb.format_bytes(size)} in {p.bucket!r}",
        limit=10,
    )
    if p.action == "delete" and objects and not p.empty_first:
        rb.fail(
            f"bucket {p.bucket!r} still holds {len(objects)} object(s)",
            hint="pass -p empty_first true to delete them with the bucket",
            nothing_changed=True,
        )
if p.action == "create":
    settings = {"public": False, **changes}
    plan = f"create bucket {p.bucket!r} with " + ", ".join(f"{k}={v!r}" for k, v in settings.items())
elif p.action == "update":
    before = {k: getattr(current, k) for k in changes}
    plan = f"update bucket {p.bucket!r}: " + ", ".join(f"{k} {before[k]!r} -> {v!r}" for k, v in changes.items())
elif p.action == "empty":
    plan = f"empty bucket {p.bucket!r}: delete {len(objects)} object(s) ({rb.format_bytes(size)})"
elif p.action == "delete":
    plan = f"delete bucket {p.bucket!r}" + (f" and its {len(objects)} object(s) ({rb.format_bytes(size)})" if objects else "")
else:
    plan = "nothing to change (list only)"
rb.show(f"Plan: {plan}")
""",
        "## Confirm and apply",
        """
if p.action == "list":
    gate = None
elif p.action in ("empty", "delete"):
    gate = rb.confirm(p.bucket, action=plan, dry_run=p.dry_run, confirm=p.confirm)
else:  # create/update: a dry run by default, no name to type
    gate = rb.confirm(p.bucket, action=plan, dry_run=p.dry_run, confirm=p.bucket)
""",
        """
if gate is not None and gate.proceed():
    if p.action == "create":
        rb.check(manager.create_bucket(p.bucket, **settings), plan)
        outcome = "created"
    elif p.action == "update":
        rb.check(manager.update_bucket(p.bucket, **changes), plan)
        outcome = "updated"
    elif p.action == "empty":
        rb.check(manager.empty_bucket(p.bucket), plan)
        outcome = "emptied"
    elif p.action == "delete":
        rb.check(manager.delete_bucket(p.bucket, force=p.empty_first), plan)
        outcome = "deleted"
    rb.show(f"Done: {plan}")
elif gate is not None:
    outcome = "dry run: nothing changed"
""",
        "## Summary",
        """
after = None
if p.action != "list" and outcome in ("created", "updated", "emptied"):
    after = rb.check(manager.get_bucket(p.bucket), f"read bucket {p.bucket!r} back")
remaining = None
if outcome == "emptied":
    remaining = len(rb.check(manager.list_objects(p.bucket), "list what is left"))
    if remaining:
        rb.fail(f"bucket {p.bucket!r} still holds {remaining} object(s) after emptying")
rb.summary(
    "bucket admin",
    {
        "action": p.action,
        "bucket": p.bucket or "-",
        "dry run": p.dry_run if p.action != "list" else "-",
        "plan": plan,
        "outcome": outcome,
        "objects affected": len(objects) if p.action in ("empty", "delete") else "-",
        "public now": after.public if after else "-",
        "size limit now": (f"{after.file_size_limit:,} B" if after.file_size_limit else "none") if after else "-",
        "mime types now": (", ".join(after.allowed_mime_types or ()) or "any") if after else "-",
    },
)
conn.close()
""",
    ],
)

# --------------------------------------------------------------------------- upload

UPLOAD = Runbook(
    name="upload",
    title="Upload files to a bucket",
    purpose=(
        "Upload a file or a folder to a bucket under a prefix: several files at a time, "
        "unchanged files skipped (same size and checksum), large files resumable, every upload "
        "verified against the server when `verify` is set. Shows progress, then a summary of "
        "files, bytes, throughput, retries, skipped and failed files. With no `source` it "
        "uploads a small generated sample, so it can be tried on a fresh local stack."
    ),
    changes=(
        "Adds objects to the bucket (and creates the bucket, private, when `create_bucket` is "
        "set and it is missing). Existing objects that differ are overwritten only with "
        "`upsert = True`; otherwise they are reported as failed and left alone."
    ),
    example="hybridkit run upload -p source ./exports -p bucket reports -p prefix 2026/11",
    params=[
        P("bucket", "str", '"hybridkit-demo"', "the bucket to upload to"),
        P("source", "str", '""', "a file or folder; empty uploads a generated sample"),
        P("prefix", "str", '""', 'key prefix in the bucket, e.g. "reports/2026"'),
        P("upsert", "bool", "False", "overwrite stored objects that differ"),
        P("concurrency", "int", "4", "files uploaded at a time (1-32)"),
        P("include", "list[str]", "[]", 'only files matching these globs, e.g. ["*.csv"]'),
        P("exclude", "list[str]", "[]", 'leave out files matching these, e.g. [".*"]'),
        P("verify", "bool", "True", "check size and checksum of each upload"),
        P("create_bucket", "bool", "True", "create the bucket (private) if it is missing"),
        P("fail_on_error", "bool", "True", "fail the run when any file failed"),
    ],
    cells=[
        """
import shutil
from pathlib import Path

import hybridkit.runbook as rb

p = rb.validate(
    globals(),
    bucket=rb.bucket_name(),
    source=rb.local_path(must_exist=True, allow_empty=True),
    prefix=rb.prefix(),
    concurrency=rb.between(1, 32),
    include=rb.glob_list(),
    exclude=rb.glob_list(),
)
source = Path(p.source) if p.source else rb.sample_folder()
if not p.source:
    rb.show(f"No source given: uploading a generated sample folder ({source}).")
""",
        connect_cell(),
        "## The bucket",
        """
from hybridkit import NotFoundError

found = manager.get_bucket(p.bucket)
if found.success:
    rb.show(f"Bucket {p.bucket!r} exists (public: {found.data.public}).")
elif isinstance(found.error, NotFoundError) and p.create_bucket:
    rb.check(manager.create_bucket(p.bucket), f"create bucket {p.bucket!r}")
    rb.show(f"Created the private bucket {p.bucket!r}.")
elif isinstance(found.error, NotFoundError):
    rb.fail(f"bucket {p.bucket!r} does not exist", hint="pass -p create_bucket true", nothing_changed=True)
else:
    rb.check(found, f"read bucket {p.bucket!r}")
""",
        "## Upload",
        """
bar = rb.progress("upload", unit="B")
if source.is_dir():
    result = manager.upload_folder(
        source,
        p.bucket,
        p.prefix,
        include=p.include,
        exclude=p.exclude,
        jobs=p.concurrency,
        upsert=p.upsert,
        verify=p.verify,
        progress=bar,
    )
else:
    key = f"{p.prefix}/{source.name}" if p.prefix else source.name
    result = manager.upload_file(p.bucket, source, key, upsert=p.upsert, verify=p.verify, progress=bar)
bar.close()
""",
        """
report = result.data if source.is_dir() else None
if source.is_dir() and report is None:
    rb.fail(f"the upload could not start: {result.error}")
if report is not None:
    files = [(r.source, r.target, r.status, r.size, r.bytes, r.retries, r.reason) for r in report.results]
else:
    done = result.data
    files = [
        (str(source), key, "uploaded" if done else "failed", source.stat().st_size,
         done.bytes_sent if done else 0, done.retries if done else 0, "" if done else str(result.error))
    ]
failed = [f for f in files if f[2] == "failed"]
if failed:
    rb.table(
        [{"file": f[0], "key": f[1], "reason": f[6]} for f in failed],
        title=f"{len(failed)} file(s) failed",
        limit=20,
    )
""",
        "## Summary",
        """
seconds = result.metadata.get("duration", 0.0)
sent = sum(f[4] for f in files)
rb.summary(
    "upload",
    {
        "bucket": p.bucket,
        "prefix": p.prefix or "(none)",
        "files": len(files),
        "uploaded": sum(f[2] == "uploaded" for f in files),
        "skipped (unchanged)": sum(f[2] == "skipped" for f in files),
        "failed": len(failed),
        "bytes sent": rb.format_bytes(sent),
        "throughput": f"{rb.format_bytes(sent / seconds)}/s" if seconds > 0 and sent else "-",
        "retries": sum(f[5] for f in files),
        "verified": p.verify,
        "duration": rb.format_duration(seconds),
    },
    ok=not failed,
)
conn.close()
if not p.source:  # the generated sample is ours to remove
    shutil.rmtree(source, ignore_errors=True)
""",
        """
if failed and p.fail_on_error:
    rb.fail(
        f"{len(failed)} of {len(files)} file(s) failed to upload",
        hint="the table above gives each reason; running again uploads only what is missing",
    )
""",
    ],
)

# --------------------------------------------------------------------------- download

DOWNLOAD = Runbook(
    name="download",
    title="Download a bucket or prefix (backup)",
    purpose=(
        "Download every object of a bucket, or under a prefix, into a local folder — a backup. "
        "Each file is written under a temporary name, checked (size and checksum) and then "
        "renamed, so a file in the folder is always complete. It is resumable: running it again "
        "skips files already downloaded intact and fetches only what is missing or changed."
    ),
    changes="Nothing in the project. Writes files into `dest` (replacing files that differ).",
    example="hybridkit run download -p bucket reports -p prefix 2026 -p dest ./backup/reports",
    params=[
        P("bucket", "str", '"hybridkit-demo"', "the bucket to download from"),
        P("prefix", "str", '""', "only keys under this prefix (empty: the whole bucket)"),
        P("dest", "str", '""', "local folder; empty makes a new temporary folder"),
        P("include", "list[str]", "[]", 'only keys matching these globs, e.g. ["*.csv"]'),
        P("exclude", "list[str]", "[]", "leave out keys matching these globs"),
        P("concurrency", "int", "4", "files downloaded at a time (1-32)"),
        P("skip_unchanged", "bool", "True", "skip files already there with the same checksum"),
        P("fail_on_error", "bool", "True", "fail the run when any file failed"),
    ],
    cells=[
        """
import tempfile
from pathlib import Path

import hybridkit.runbook as rb

p = rb.validate(
    globals(),
    bucket=rb.bucket_name(),
    prefix=rb.prefix(),
    dest=rb.local_path(allow_empty=True),
    include=rb.glob_list(),
    exclude=rb.glob_list(),
    concurrency=rb.between(1, 32),
)
dest = Path(p.dest) if p.dest else Path(tempfile.mkdtemp(prefix="hybridkit-download-"))
if dest.exists() and not dest.is_dir():
    rb.fail(f"dest: {dest} exists and is not a folder", nothing_changed=True)
folder = f"{p.prefix}/" if p.prefix else ""
""",
        connect_cell(),
        "## What is there",
        """
rb.check(manager.get_bucket(p.bucket), f"read bucket {p.bucket!r}")
listing = rb.check(
    manager.list_objects(p.bucket, folder, glob=p.include or None, exclude=p.exclude),
    f"list {p.bucket}/{folder}",
)
total = sum(o.size for o in listing)
rb.show(f"{len(listing)} object(s), {rb.format_bytes(total)} to back up into {dest}")
""",
        "## Download",
        """
bar = rb.progress("download", unit="B", total=total)
result = manager.download_prefix(
    p.bucket,
    folder,
    dest,
    include=p.include,
    exclude=p.exclude,
    jobs=p.concurrency,
    skip_unchanged=p.skip_unchanged,
    progress=bar,
)
bar.close()
report = result.data
if report is None:
    rb.fail(f"the download could not start: {result.error}")
if report.failed:
    rb.table(
        [{"key": r.source, "file": r.target, "reason": r.reason} for r in report.failed],
        title=f"{len(report.failed)} file(s) failed",
        limit=20,
    )
""",
        "## Summary",
        """
seconds = result.metadata.get("duration", 0.0)
rb.summary(
    "download",
    {
        "bucket": p.bucket,
        "prefix": p.prefix or "(whole bucket)",
        "destination": str(dest),
        "objects": len(report.results),
        "downloaded": len(report.transferred),
        "skipped (already there)": len(report.skipped),
        "failed": len(report.failed),
        "bytes received": rb.format_bytes(report.bytes),
        "throughput": f"{rb.format_bytes(report.bytes / seconds)}/s" if seconds > 0 and report.bytes else "-",
        "retries": report.retries,
        "verified": "size and checksum of every downloaded file",
        "duration": rb.format_duration(seconds),
    },
    ok=report.ok,
)
conn.close()
""",
        """
if report.failed and p.fail_on_error:
    rb.fail(
        f"{len(report.failed)} of {len(report.results)} file(s) failed to download",
        hint="running it again resumes: files already complete are skipped",
    )
""",
    ],
)

# --------------------------------------------------------------------------- storage_cleanup

CLEANUP = Runbook(
    name="storage_cleanup",
    title="Storage clean-up",
    purpose=(
        "Remove objects under a prefix that are older than N days, or whose key matches a glob, "
        "or both. A **dry run by default**: it reports what would go (count, bytes and a sample). "
        "When run for real (headless: `dry_run = False` and `confirm` equal to the bucket name), "
        "it reports what went."
    ),
    changes=(
        "With `dry_run = False` and confirmation: deletes the matching objects. Otherwise nothing."
    ),
    example=(
        "hybridkit run storage_cleanup -p bucket logs -p prefix tmp -p older_than_days 7 "
        "-p dry_run false -p confirm logs"
    ),
    params=[
        P("bucket", "str", '"hybridkit-demo"', "the bucket to clean"),
        P("prefix", "str", '""', "only objects under this prefix (empty: the whole bucket)"),
        P("older_than_days", "float", "30.0", "only objects last changed more than N days ago"),
        P("glob", "str", '""', 'only keys matching this pattern, e.g. "**/*.tmp"'),
        P("dry_run", "bool", "True", "only report what would be removed"),
        P("confirm", "str", '""', "the bucket name again, to confirm (needed headless)"),
        P("sample_size", "int", "10", "how many matching objects to list"),
    ],
    cells=[
        """
from datetime import timedelta

import hybridkit.runbook as rb

p = rb.validate(
    globals(),
    bucket=rb.bucket_name(),
    prefix=rb.prefix(),
    older_than_days=rb.between(0, 100000),
    sample_size=rb.between(0, 1000),
)
if p.older_than_days == 0 and not p.glob.strip():
    rb.fail(
        "give older_than_days > 0 or a glob: this runbook never selects every object",
        hint="to remove everything, use bucket_admin with action empty",
        nothing_changed=True,
    )
folder = f"{p.prefix}/" if p.prefix else ""
""",
        connect_cell(dry_run=True),
        "## What would go",
        """
filters = {}
if p.older_than_days > 0:
    filters["older_than"] = timedelta(days=p.older_than_days)
if p.glob.strip():
    filters["glob"] = p.glob.strip()
rb.check(manager.get_bucket(p.bucket), f"read bucket {p.bucket!r}")
matches = rb.check(manager.list_objects(p.bucket, folder, **filters), f"list {p.bucket}/{folder}")
matches = [o for o in matches if not o.is_folder]
matched_bytes = sum(o.size for o in matches)
criteria = []
if p.older_than_days > 0:
    criteria.append(f"older than {p.older_than_days:g} day(s)")
if p.glob.strip():
    criteria.append(f"matching {p.glob.strip()!r}")
rb.table(
    [{"key": o.name, "size": rb.format_bytes(o.size), "updated": o.updated_at} for o in matches],
    title=(
        f"{len(matches)} object(s), {rb.format_bytes(matched_bytes)} in {p.bucket!r}"
        f"{' under ' + folder if folder else ''}, {' and '.join(criteria)}"
    ),
    limit=p.sample_size,
)
""",
        "## Confirm and remove",
        """
plan = f"delete {len(matches)} object(s) ({rb.format_bytes(matched_bytes)}) from bucket {p.bucket!r}"
gate = rb.confirm(p.bucket, action=plan, dry_run=p.dry_run, confirm=p.confirm) if matches else None
outcome = "nothing matched"
if not matches:
    rb.show("Nothing matches: nothing to remove.")
""",
        """
removed = []
if gate is not None and gate.proceed():
    keys = [o.name for o in matches]
    bar = rb.progress("remove", unit="objects", total=len(keys))
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        removed += rb.check(manager.remove_objects(p.bucket, batch), f"remove {len(batch)} object(s)")
        bar.update(len(batch))
    bar.close()
    sizes = {o.name: o.size for o in matches}
    rb.table(
        [{"key": k, "size": rb.format_bytes(sizes.get(k))} for k in removed],
        title=f"removed {len(removed)} object(s)",
        limit=p.sample_size,
    )
    outcome = f"removed {len(removed)} of {len(matches)}"
elif gate is not None:
    outcome = f"dry run: nothing removed ({len(matches)} would go)"
""",
        "## Summary",
        """
removed_bytes = sum(o.size for o in matches if o.name in set(removed))
rb.summary(
    "storage clean-up",
    {
        "bucket": p.bucket,
        "prefix": p.prefix or "(whole bucket)",
        "criteria": " and ".join(criteria),
        "dry run": p.dry_run,
        "outcome": outcome,
        "matched": len(matches),
        "matched bytes": rb.format_bytes(matched_bytes),
        "removed": len(removed),
        "removed bytes": rb.format_bytes(removed_bytes),
        "already gone": len(matches) - len(removed) if removed else 0,
    },
)
conn.close()
""",
    ],
)

# --------------------------------------------------------------------------- migration_check

MIGRATIONS = Runbook(
    name="migration_check",
    title="Migration check",
    purpose=(
        "Compare the kit's migrations (`migrations/`) with the database's migration ledger "
        "(the Supabase CLI's `supabase_migrations.schema_migrations`): applied, pending, "
        "missing locally, changed since applied. Optionally apply the pending ones (a dry run "
        "first, showing the SQL). Then run the checks — required extensions, indexes, policies, "
        "publication membership, RLS on exposed tables — and the advisor's security lints. "
        "With `fail_on_drift`, any drift or failed check fails the run."
    ),
    changes=(
        "Nothing unless `apply` is set and `dry_run` is False: then the pending migrations are "
        "applied, each in one transaction with its ledger row."
    ),
    example="hybridkit run migration_check -p fail_on_drift true",
    params=[
        P("apply", "bool", "False", "apply pending migrations (needs dry_run False)"),
        P("dry_run", "bool", "True", "with apply: only show the SQL that would run"),
        P("fail_on_drift", "bool", "False", "fail the run on drift or failed checks"),
        P("migrations_dir", "str", '""', "a folder of migrations; empty: the kit's own"),
    ],
    cells=[
        """
from pathlib import Path

import hybridkit.runbook as rb

p = rb.validate(globals(), migrations_dir=rb.local_path(must_exist=True, allow_empty=True))
folder = Path(p.migrations_dir) if p.migrations_dir else rb.kit_migrations_dir()
if not folder.is_dir():
    rb.fail(f"migrations_dir: {folder} is not a folder", nothing_changed=True)
""",
        connect_cell(dry_run=True),
        "## Status: local files against the ledger",
        """
status = rb.check(manager.migration_status(folder), "read the migration status")
rb.table(
    [{"version": e.version, "name": e.name, "state": e.state.value, "note": e.note} for e in status.entries],
    title=f"{len(status.entries)} migration(s) in {folder} against {status.target}",
)
""",
        "## Apply (optional; a dry run first)",
        """
applied = []
if not p.apply:
    rb.show("apply is False: nothing will be applied.")
else:
    plan = rb.check(manager.apply_migrations(folder, dry_run=True), "plan the migrations")
    if not plan.planned:
        rb.show("Nothing to apply: the database is up to date.")
    else:
        rb.show(f"Pending, in order: {', '.join(m.filename for m in plan.planned)}\\n\\n{plan.sql}")
        action = f"apply {len(plan.planned)} migration(s) to {status.target}"
        gate = rb.confirm("database", action=action, dry_run=p.dry_run, confirm="database")
        if gate.proceed():
            done = rb.check(manager.apply_migrations(folder, dry_run=False), "apply the migrations")
            applied = list(done.applied)
            rb.show(f"Applied {len(applied)} migration(s): {', '.join(applied)}")
            status = rb.check(manager.migration_status(folder), "read the status again")
""",
        "## Checks and advisor lints",
        """
# The expectations come from checks.toml beside the migrations. A report with problems
# is a failed result that still carries the report: failing the run is fail_on_drift's call.
checked = manager.check_migrations(folder)
report = checked.data
if report is None:
    rb.fail(f"the checks could not run: {type(checked.error).__name__}: {checked.error}")
order = {"error": 0, "warning": 1, "info": 2}
findings = sorted(report.findings, key=lambda f: (f.ok, order.get(f.severity, 3), f.check, f.subject))
rb.table(
    [
        {"result": "ok" if f.ok else f.severity.upper(), "check": f.check, "subject": f.subject, "detail": f.detail}
        for f in findings
    ],
    title=f"{len(report.problems)} problem(s), {len(report.warnings)} warning(s)",
    limit=80,
)
""",
        "## Summary",
        """
from hybridkit.migrations import State

rb.summary(
    "migration check",
    {
        "ledger": status.target,
        "migrations": len(status.entries),
        "applied": len(status.by_state(State.APPLIED, State.APPLIED_ELSEWHERE)),
        "pending": len(status.pending),
        "changed since applied": len(status.by_state(State.CHANGED)),
        "missing locally": len(status.by_state(State.MISSING_LOCAL)),
        "applied by this run": len(applied),
        "checks passed": sum(f.ok for f in report.findings),
        "problems": len(report.problems),
        "warnings": len(report.warnings),
    },
    ok=report.ok,
)
conn.close()
""",
        """
if not report.ok and p.fail_on_drift:
    rb.fail(
        f"the migration check found {len(report.problems)} problem(s):\\n"
        + "\\n".join(f"- {f.check} {f.subject}: {f.detail}" for f in report.problems),
        hint="apply pending ones with -p apply true -p dry_run false, or fix the drift shown above",
    )
""",
    ],
)

RUNBOOKS = [HEALTH, BUCKET_ADMIN, UPLOAD, DOWNLOAD, CLEANUP, MIGRATIONS]


def main(argv: list[str]) -> int:
    names = set(argv) or {rb.name for rb in RUNBOOKS}
    written = []
    for rb in RUNBOOKS:
        if rb.name in names:
            path = HERE / f"{rb.name}.ipynb"
            nbformat.write(build(rb), str(path))
            written.append(str(path))
            print(f"wrote {path}")
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if written and Path(ruff).exists():
        subprocess.run([ruff, "format", "--quiet", *written], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
