"""The tools: the facade's operations and the runbooks, with the server's safety rules.

Each public method of :class:`Toolbox` is one MCP tool: its name, typed arguments
(``Annotated`` descriptions become the JSON schema) and docstring are what the
assistant sees. Methods raise from the error tree (or :class:`ToolRefusal`); the
boundary (``_boundary``) turns that into an MCP tool error and makes results safe.

Rules: a tool that changes the project raises a refusal unless the server was
started with ``--allow-writes``; a destructive one first returns its plan and a
confirmation token; local paths are confined to the root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from hybridkit.errors import HybridError, InvalidInputError
from hybridkit.manager import HybridOperationResult, HybridSupabaseManager
from hybridkit.mcp._boundary import ToolRefusal
from hybridkit.mcp._confirm import Confirmations
from hybridkit.mcp._paths import Root
from hybridkit.mcp._runbooks import PATH_PARAMETERS, judge

__all__ = ["READ_ONLY_TOOLS", "Toolbox", "ToolboxOptions"]

MAX_OBJECTS = 1000
MAX_ROWS = 100
MAX_PATHS = 100
MAX_RUNS = 100
SAMPLE = 10
MAX_EXPIRY = 7 * 24 * 3600
_RUNBOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")

# Tools that never change the project (download_file writes only inside the root).
READ_ONLY_TOOLS = (
    "list_buckets",
    "list_objects",
    "download_file",
    "create_signed_url",
    "health_check",
    "migration_status",
    "migration_check",
    "advisors",
    "execute_sql",
    "list_runbooks",
    "list_runs",
)
WRITE_TOOLS = ("create_bucket", "upload_file")
DESTRUCTIVE_TOOLS = ("delete_bucket", "empty_bucket", "remove_objects")

Confirm = Annotated[
    str | None,
    Field(description="leave empty to get the plan and a token; pass the token to act"),
]
Bucket = Annotated[str, Field(description="the bucket's name (id)")]
Profile = Annotated[
    str,
    Field(
        description="another project, by profile name (see `hybridkit profiles`); empty: this one"
    ),
]


@dataclass(frozen=True)
class ToolboxOptions:
    """How the server was started.

    Attributes:
        allow_writes: allow tools that change the project (``--allow-writes``).
        root: the folder local paths are confined to (``--root``).
        runs_dir: where runbook runs leave their notebooks and records.
        migrations_dir: the migrations folder for ``migration_status``/``migration_check``.
        runbooks_dir: where runbooks are looked up (default: the kit's rule).
        kernel_env: extra environment for runbook kernels (the local stack's settings).
    """

    allow_writes: bool
    root: Path
    runs_dir: Path
    migrations_dir: Path
    runbooks_dir: Path | None = None
    kernel_env: Mapping[str, str] = field(default_factory=dict, repr=False)


def catalogue_name(name: str) -> str:
    """``name`` when it names a runbook of the catalogue; never a path to another notebook."""
    if not _RUNBOOK_NAME.fullmatch(name):
        raise ToolRefusal(
            f"{name!r} is not a runbook name",
            hint="use a name from list_runbooks (letters, digits, '_' and '-'); notebooks "
            "outside the runbooks folder are never run",
        )
    return name


def _unwrap(result: HybridOperationResult) -> Any:
    if not result.success:
        raise result.error or HybridError("the operation failed")
    return result.data


def _bucket(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "public": info.public,
        "file_size_limit": info.file_size_limit,
        "allowed_mime_types": list(info.allowed_mime_types or []) or None,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
    }


def _object(obj: Any) -> dict[str, Any]:
    if obj.is_folder:
        return {"name": obj.name, "folder": True}
    return {
        "name": obj.name,
        "size": obj.size,
        "content_type": obj.content_type,
        "updated_at": obj.updated_at,
        "etag": obj.etag,
    }


class Toolbox:
    """The tools, bound to one manager and the server's options."""

    def __init__(self, manager: HybridSupabaseManager, options: ToolboxOptions) -> None:
        self.manager = manager
        self.options = options
        self.root = Root(options.root)
        self.confirmations = Confirmations()
        self._profiles: dict[str, HybridSupabaseManager] = {}

    def _on(self, profile: str) -> HybridSupabaseManager:
        """The manager of ``profile`` (built once; ``""``: the server's own project)."""
        if not profile:
            return self.manager
        if profile not in self._profiles:
            from hybridkit.target import profile_settings

            self._profiles[profile] = HybridSupabaseManager(profile_settings(profile))
        return self._profiles[profile]

    # ------------------------------------------------------------------ rules

    def _require_writes(self, tool: str, what: str) -> None:
        if not self.options.allow_writes:
            raise ToolRefusal(
                f"{tool} {what}, and this MCP server is read-only: nothing was changed",
                hint="restart the server with --allow-writes (add it to the server's args in "
                "the assistant's MCP configuration: hybridkit mcp --allow-writes)",
            )

    def _confirmed(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        plan: dict[str, Any],
        confirm: str | None,
    ) -> dict[str, Any] | None:
        """``None`` when ``confirm`` fits this plan (go ahead), else the answer to return."""
        if confirm and self.confirmations.redeem(confirm, tool, arguments, plan):
            return None
        token = self.confirmations.issue(tool, arguments, plan)
        note = (
            "the token did not fit: it was used, expired, or the plan changed since "
            "(here is the plan as it is now). Nothing was changed."
            if confirm
            else "nothing was changed yet."
        )
        return {
            "status": "confirmation_required",
            "plan": plan,
            "confirm": token,
            "note": note,
            "next": f"show the plan to the user; to go ahead, call {tool} again with the same "
            f"arguments and confirm={token!r} (valid once, for 10 minutes)",
        }

    # ------------------------------------------------------------------ buckets

    def list_buckets(self, profile: Profile = "") -> dict[str, Any]:
        """List every storage bucket the configured key can see (name, public, limits)."""
        buckets = _unwrap(self._on(profile).list_buckets())
        return {"count": len(buckets), "buckets": [_bucket(b) for b in buckets]}

    def create_bucket(
        self,
        name: Annotated[str, Field(description="bucket name: lowercase letters, digits, - _ .")],
        public: Annotated[
            bool, Field(description="objects readable by anyone with the URL")
        ] = False,
        file_size_limit: Annotated[
            int | str | None, Field(description='largest object allowed: bytes or "50MB"')
        ] = None,
        allowed_mime_types: Annotated[
            list[str] | None, Field(description='e.g. ["image/*", "application/pdf"]')
        ] = None,
        profile: Profile = "",
    ) -> dict[str, Any]:
        """Create a storage bucket (private unless public=true). Needs --allow-writes."""
        self._require_writes("create_bucket", "creates a bucket")
        info = _unwrap(
            self._on(profile).create_bucket(
                name,
                public=public,
                file_size_limit=file_size_limit,
                allowed_mime_types=allowed_mime_types,
            )
        )
        return {"created": _bucket(info)}

    def _bucket_plan(self, name: str, profile: str) -> dict[str, Any]:
        _unwrap(
            self._on(profile).get_bucket(name)
        )  # a missing bucket is an error, not an empty plan
        objects = _unwrap(self._on(profile).list_objects(name))
        files = [o for o in objects if not o.is_folder]
        return {
            "bucket": name,
            "objects": len(files),
            "bytes": sum(o.size for o in files),
            "sample": [o.name for o in files[:SAMPLE]],
        }

    def delete_bucket(
        self,
        name: Bucket,
        empty_first: Annotated[
            bool, Field(description="delete the bucket's objects first (needed when not empty)")
        ] = False,
        profile: Profile = "",
        confirm: Confirm = None,
    ) -> dict[str, Any]:
        """Delete a bucket. Destructive: the first call returns the plan (how many objects
        would go) and a confirmation token; only a second call with confirm=<token> deletes.
        Needs --allow-writes."""
        self._require_writes("delete_bucket", "deletes a bucket")
        plan = self._bucket_plan(name, profile)
        if plan["objects"] and not empty_first:
            raise ToolRefusal(
                f"bucket {name!r} still holds {plan['objects']} object(s); nothing was deleted",
                hint="call delete_bucket with empty_first=true to delete them with the bucket",
            )
        plan["action"] = (
            f"delete {plan['objects']} object(s), then the bucket"
            if plan["objects"]
            else "delete the (empty) bucket"
        )
        answer = self._confirmed(
            "delete_bucket",
            {"name": name, "empty_first": empty_first, "profile": profile},
            plan,
            confirm,
        )
        if answer is not None:
            return answer
        _unwrap(self._on(profile).delete_bucket(name, force=empty_first))
        return {"status": "deleted", "bucket": name, "objects_deleted": plan["objects"]}

    def empty_bucket(
        self, name: Bucket, profile: Profile = "", confirm: Confirm = None
    ) -> dict[str, Any]:
        """Delete every object in a bucket, keeping the bucket. Destructive: the first call
        returns the plan and a token; a second call with confirm=<token> empties it.
        Needs --allow-writes."""
        self._require_writes("empty_bucket", "deletes objects")
        plan = self._bucket_plan(name, profile)
        plan["action"] = f"delete all {plan['objects']} object(s); keep the bucket"
        answer = self._confirmed("empty_bucket", {"name": name, "profile": profile}, plan, confirm)
        if answer is not None:
            return answer
        _unwrap(self._on(profile).empty_bucket(name))
        return {"status": "emptied", "bucket": name, "objects_deleted": plan["objects"]}

    # ------------------------------------------------------------------ objects

    def list_objects(
        self,
        bucket: Bucket,
        prefix: Annotated[str, Field(description='a key prefix, e.g. "2026/" for a folder')] = "",
        recursive: Annotated[
            bool, Field(description="walk sub-folders (false: one level, folders shown)")
        ] = False,
        limit: Annotated[int, Field(ge=1, le=MAX_OBJECTS, description="most entries shown")] = 100,
        profile: Profile = "",
    ) -> dict[str, Any]:
        """List the objects in a bucket (name, size, type, time), one level or recursively."""
        objects = _unwrap(self._on(profile).list_objects(bucket, prefix, recursive=recursive))
        shown = objects[:limit]
        out: dict[str, Any] = {
            "bucket": bucket,
            "prefix": prefix,
            "count": len(shown),
            "objects": [_object(o) for o in shown],
            "truncated": len(objects) > limit,
        }
        if out["truncated"]:
            out["note"] = (
                f"truncated: {len(objects)} entries in all, {limit} shown; narrow the prefix "
                "or raise limit"
            )
        return out

    def upload_file(
        self,
        local_path: Annotated[str, Field(description="a file inside the server's root folder")],
        bucket: Bucket,
        path: Annotated[str, Field(description="the object key in the bucket, e.g. a/b.csv")],
        profile: Profile = "",
    ) -> dict[str, Any]:
        """Upload one local file (inside the server's root folder) to bucket/path. Refuses to
        overwrite an existing object. Needs --allow-writes."""
        self._require_writes("upload_file", "uploads an object")
        source = self.root.resolve(local_path)
        if not source.is_file():
            raise ToolRefusal(
                f"{self.root.relative(source)} is not a file", hint="give one file's path"
            )
        done = _unwrap(self._on(profile).upload_file(bucket, source, path, verify=True))
        return {
            "status": "uploaded",
            "bucket": done.bucket,
            "path": done.key,
            "size": done.size,
            "content_type": done.content_type,
            "method": done.method,
            "verified": done.verified,
            "md5": done.md5,
        }

    def download_file(
        self,
        bucket: Bucket,
        path: Annotated[str, Field(description="the object key in the bucket")],
        local_path: Annotated[str, Field(description="where to save it, inside the root")],
        overwrite: Annotated[bool, Field(description="replace an existing local file")] = False,
        profile: Profile = "",
    ) -> dict[str, Any]:
        """Download bucket/path to a local file inside the server's root folder (verified)."""
        target = self.root.resolve(local_path, must_exist=False, for_writing=True)
        if target.exists() and not overwrite:
            raise ToolRefusal(
                f"{self.root.relative(target)} already exists; nothing was downloaded",
                hint="pass overwrite=true, or choose another local_path",
            )
        if target.is_dir():
            raise ToolRefusal(f"{self.root.relative(target)} is a folder", hint="name a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        done = _unwrap(self._on(profile).download_file(bucket, path, target))
        return {
            "status": "downloaded",
            "bucket": bucket,
            "path": path,
            "local_path": self.root.relative(target),
            "size": done.size,
            "verified": done.verified,
            "md5": done.md5,
        }

    def remove_objects(
        self,
        bucket: Bucket,
        paths: Annotated[
            list[str], Field(min_length=1, max_length=MAX_PATHS, description="exact object keys")
        ],
        profile: Profile = "",
        confirm: Confirm = None,
    ) -> dict[str, Any]:
        """Delete objects by exact key. Destructive: the first call returns the plan (which
        keys exist) and a token; only a second call with confirm=<token> deletes.
        Needs --allow-writes."""
        self._require_writes("remove_objects", "deletes objects")
        keys = list(dict.fromkeys(paths))
        existing = [k for k in keys if _unwrap(self._on(profile).object_exists(bucket, k))]
        plan = {
            "bucket": bucket,
            "delete": existing,
            "missing": [k for k in keys if k not in existing],
            "action": f"delete {len(existing)} object(s)",
        }
        answer = self._confirmed(
            "remove_objects", {"bucket": bucket, "paths": keys, "profile": profile}, plan, confirm
        )
        if answer is not None:
            return answer
        removed = _unwrap(self._on(profile).remove_objects(bucket, existing)) if existing else []
        return {"status": "removed", "bucket": bucket, "removed": list(removed)}

    def create_signed_url(
        self,
        bucket: Bucket,
        path: Annotated[str, Field(description="the object key")],
        expires_in: Annotated[
            int, Field(ge=1, le=MAX_EXPIRY, description="seconds the URL stays valid")
        ] = 3600,
        profile: Profile = "",
    ) -> dict[str, Any]:
        """A time-limited download URL for one object, for sharing (anyone with it can read
        the object until it expires)."""
        url = _unwrap(self._on(profile).signed_url(bucket, path, expires_in))
        return {"bucket": bucket, "path": path, "expires_in": expires_in, "signed_url": url}

    # ------------------------------------------------------------------ health, SQL

    def health_check(self) -> dict[str, Any]:
        """Reachability, key acceptance, latency and clock skew of Storage and REST."""
        result = self.manager.health_check()
        report = result.data
        if report is None:
            _unwrap(result)
        return {
            "ok": report.ok,
            "problems": list(report.problems),
            "clock_skew_s": report.clock_skew,
            "breaker": report.breaker_state,
            "services": [
                {
                    "name": c.name,
                    "reachable": c.reachable,
                    "auth_ok": c.auth_ok,
                    "status": c.status,
                    "latency_ms": None if c.latency is None else round(c.latency * 1000, 1),
                    "detail": c.detail,
                }
                for c in report.checks
            ],
        }

    def execute_sql(
        self, query: Annotated[str, Field(description="one SQL statement (read-only)")]
    ) -> dict[str, Any]:
        """Run one read-only SQL statement (a SELECT, EXPLAIN, SHOW...). PostgreSQL runs it in a
        READ ONLY transaction, so any write fails — whatever --allow-writes says."""
        done = self.manager.sql(query)
        if isinstance(done.error, InvalidInputError):
            # Refused by the read-only checks (the parser, or PostgreSQL's READ ONLY
            # transaction, always rolled back): nothing ran to completion. The library's
            # advice to pass --write does not apply here.
            message = re.sub(r"\s*[—-]+\s*pass --write.*$", "", done.error.message)
            raise ToolRefusal(
                message + "; nothing was changed",
                hint="execute_sql only reads (a READ ONLY transaction, whatever --allow-writes "
                "says); change data through a migration or a runbook instead",
            )
        result = _unwrap(done)
        rows = list(result.rows)
        out: dict[str, Any] = {
            "columns": list(result.columns),
            "rows": rows[:MAX_ROWS],
            "row_count": len(rows),
            "truncated": len(rows) > MAX_ROWS,
        }
        if out["truncated"]:
            out["note"] = f"truncated: {len(rows)} rows, {MAX_ROWS} shown; add a LIMIT or WHERE"
        return out

    # ------------------------------------------------------------------ migrations

    def migration_status(self) -> dict[str, Any]:
        """The migration files against the database's ledger: applied, pending, changed,
        missing locally."""
        status = _unwrap(self.manager.migration_status(self.options.migrations_dir))
        entries = [
            {"version": e.version, "name": e.name, "state": e.state.value, "note": e.note}
            for e in status.entries
        ]
        states: dict[str, int] = {}
        for entry in entries:
            states[entry["state"]] = states.get(entry["state"], 0) + 1
        return {
            "ok": status.ok,
            "folder": str(self.options.migrations_dir),
            "target": status.target,
            "counts": states,
            "migrations": entries,
        }

    def _report(self, lints: bool | None, only: Callable[[Any], bool]) -> dict[str, Any]:
        result = self.manager.check_migrations(self.options.migrations_dir, lints=lints)
        report = result.data
        if report is None:
            _unwrap(result)
        findings = [f for f in report.findings if only(f)]

        def row(f: Any) -> dict[str, Any]:
            return {
                "check": f.check,
                "subject": f.subject,
                "ok": f.ok,
                "severity": f.severity,
                "detail": f.detail,
            }

        problems = [row(f) for f in findings if f.is_problem]
        warnings = [row(f) for f in findings if not f.ok and not f.is_problem]
        return {
            "ok": not problems,
            "target": report.target,
            "problems": problems,
            "warnings": warnings,
            "passed": sum(f.ok for f in findings),
            "passing": [f"{f.check} {f.subject}" for f in findings if f.ok],
        }

    def migration_check(self) -> dict[str, Any]:
        """The drift report: migration status, expected extensions, indexes, policies,
        publications and RLS (checks.toml beside the migrations), and the security lints."""
        out = self._report(None, lambda f: True)
        out["folder"] = str(self.options.migrations_dir)
        return out

    def advisors(self) -> dict[str, Any]:
        """The security advisor lints (as Supabase's advisors): RLS disabled on exposed tables,
        SECURITY DEFINER functions callable by clients, listable public buckets..."""
        out = self._report(True, lambda f: f.check.startswith("lint:"))
        out.pop("passing")
        out["lints"] = out.pop("passed") + len(out["problems"]) + len(out["warnings"])
        return out

    # ------------------------------------------------------------------ runbooks

    def _runbooks(self) -> list[Any]:
        from hybridkit.run import list_runbooks

        return list_runbooks(self.options.runbooks_dir)

    def list_runbooks(self) -> dict[str, Any]:
        """The runbooks (operations notebooks) with their parameters, types, defaults and help,
        and what a run with the defaults does."""
        books = []
        for book in self._runbooks():
            effect = judge(book, {})
            books.append(
                {
                    "name": book.name,
                    "title": book.title,
                    "with_defaults": effect.summary,
                    "parameters": [
                        {"name": p.name, "type": p.type, "default": p.default, "help": p.help}
                        for p in book.parameters
                    ],
                }
            )
        return {"count": len(books), "runbooks": books}

    def run_runbook(
        self,
        name: Annotated[str, Field(description="a runbook name from list_runbooks")],
        parameters: Annotated[
            dict[str, Any] | None,
            Field(description="name -> value; converted to the runbook's declared types"),
        ] = None,
        confirm: Confirm = None,
    ) -> dict[str, Any]:
        """Run a runbook headless (papermill) and return its summary and output notebook's path.
        Runbooks keep their dry-run defaults; a run that changes the project needs
        --allow-writes, and a destructive one (dry_run false on a delete/clean-up, applying
        migrations) first returns the plan and a token."""
        from hybridkit.run import find_runbook, record_run, resolve_parameters, run_runbook

        book = find_runbook(catalogue_name(name), self.options.runbooks_dir)
        values = dict(parameters or {})
        for key in PATH_PARAMETERS.get(book.name, ()):
            if values.get(key) and not str(values[key]).startswith("ss://"):
                values[key] = str(self.root.resolve(str(values[key]), must_exist=False))
        typed = resolve_parameters(book, values)
        effect = judge(book, typed)
        if effect.writes:
            self._require_writes("run_runbook", f"with these parameters {effect.summary}")
        if effect.destructive:
            plan = {"runbook": book.name, "parameters": typed, "action": effect.summary}
            answer = self._confirmed(
                "run_runbook", {"name": book.name, "parameters": typed}, plan, confirm
            )
            if answer is not None:
                return answer
        result = run_runbook(
            book,
            values,
            output_dir=self.options.runs_dir,
            env=dict(self.options.kernel_env),
            cwd=self.options.root,
        )
        note = record_run(result.as_json())
        record = json.loads(result.record.read_text(encoding="utf-8"))
        record.update({"ops_runs": note, "via": "mcp"})
        result.record.write_text(json.dumps(record, indent=2, default=str) + "\n", "utf-8")
        return {
            "ok": result.ok,
            "outcome": result.outcome,
            "runbook": result.runbook,
            "run_id": result.run_id,
            "dry_run": result.dry_run,
            "duration_s": round(result.duration, 1),
            "error": result.error,
            "failed_cell": result.failed_cell,
            "summaries": list(result.summaries),
            "notebook": str(result.notebook),
            "record": str(result.record),
            "ops_runs": note,
        }

    def list_runs(
        self, limit: Annotated[int, Field(ge=1, le=MAX_RUNS, description="how many")] = 20
    ) -> dict[str, Any]:
        """Recent runbook runs, newest first (scheduled, interactive and assistant-driven)."""
        from hybridkit.run import list_runs

        records = list_runs(self.options.runs_dir)
        shown = records[:limit]
        return {
            "count": len(shown),
            "total": len(records),
            "truncated": len(records) > limit,
            "runs": [
                {
                    "runbook": r.runbook,
                    "run_id": r.run_id,
                    "outcome": r.outcome,
                    "started_at": r.started_at,
                    "duration_s": r.duration,
                    "error": r.error,
                    "notebook": r.notebook,
                }
                for r in shown
            ],
        }


TOOL_NAMES = (*READ_ONLY_TOOLS, *WRITE_TOOLS, *DESTRUCTIVE_TOOLS, "run_runbook")
