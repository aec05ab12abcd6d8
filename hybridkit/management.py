"""A client for the Supabase Management API (``https://api.supabase.com/v1``).

It covers what hybridkit's runbooks need: SQL (read-only or not), the migration
ledger, branches, storage settings and advisors. Every call goes through the
kit's retry policy (:class:`hybridkit.retry.Retrier`); a write that cannot
recognise its own earlier success is retried only when the request surely never
reached the server. Migrations applied here carry an ``Idempotency-Key``, so a
retried apply never runs twice.

The access token is a :class:`~hybridkit.config.Secret`: it is sent in the
``Authorization`` header and appears in no repr, log line or error message.

Example:
    >>> client = ManagementClient(access_token="sbp_...", project_ref="abcdefghijklmnopqrst")
    >>> client.query("select 1 as one", read_only=True)  # doctest: +SKIP
    [{'one': 1}]
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from hybridkit import __version__
from hybridkit._closing import Closing
from hybridkit.config import Secret, Settings
from hybridkit.errors import ConfigError, InvalidInputError
from hybridkit.retry import Attempt, Retrier, RetryPolicy, classify_response, response_body

__all__ = [
    "Branch",
    "BranchDetail",
    "Lint",
    "ManagementClient",
    "RemoteMigration",
]

DEFAULT_URL = "https://api.supabase.com"


def _texts(data: Mapping[str, Any], *names: str) -> dict[str, str]:
    """The text fields ``names`` of an API object (``""`` for one it leaves out)."""
    return {name: str(data.get(name, "")) for name in names}


@dataclass(frozen=True)
class RemoteMigration:
    """A row of the remote ledger as the API shows it."""

    version: str
    name: str | None
    statements: tuple[str, ...] | None = None
    rollback: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Branch:
    """A branch (``BranchResponse``)."""

    id: str
    name: str
    project_ref: str
    parent_project_ref: str
    is_default: bool
    status: str
    persistent: bool = False
    git_branch: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Branch:
        return cls(
            id=str(data["id"]),
            **_texts(data, "name", "project_ref", "parent_project_ref", "status"),
            is_default=bool(data.get("is_default", False)),
            persistent=bool(data.get("persistent", False)),
            git_branch=data.get("git_branch"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
        )


@dataclass(frozen=True)
class BranchDetail:
    """How to reach a branch's database (``BranchDetailResponse``); secrets masked."""

    ref: str
    status: str
    db_host: str
    db_port: int
    db_user: str
    db_pass: Secret | None = None
    db_name: str = "postgres"
    jwt_secret: Secret | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BranchDetail:
        return cls(
            **_texts(data, "ref", "status", "db_host"),
            db_port=int(data.get("db_port") or 5432),
            db_user=str(data.get("db_user") or "postgres"),
            db_pass=Secret(str(data["db_pass"])) if data.get("db_pass") else None,
            db_name=str(data.get("db_name") or "postgres"),
            jwt_secret=Secret(str(data["jwt_secret"])) if data.get("jwt_secret") else None,
        )

    def db_url(self) -> Secret:
        """A PostgreSQL URL for the branch, kept in a :class:`Secret`."""
        from urllib.parse import quote

        user = quote(self.db_user, safe="")
        if self.db_pass:
            user += ":" + quote(self.db_pass.get_secret_value(), safe="")
        return Secret(f"postgresql://{user}@{self.db_host}:{self.db_port}/{self.db_name}")


@dataclass(frozen=True)
class Lint:
    """One advisor finding."""

    name: str
    title: str
    level: str
    detail: str
    categories: tuple[str, ...] = ()
    remediation: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lint:
        return cls(
            **_texts(data, "name", "title", "level", "detail"),
            categories=tuple(data.get("categories") or ()),
            remediation=data.get("remediation"),
            metadata=dict(data.get("metadata") or {}),
        )


class ManagementClient(Closing):
    """The Management API for one project.

    Args:
        access_token: a personal access token (``sbp_...``) or the local stack's token.
        project_ref: the project's ref (``local`` for the local stack).
        base_url: the API's base URL (``https://api.supabase.com``, or the local stack's URL).
        retrier: the retry policy; the kit's default when omitted.
        transport: an httpx transport (tests, fault injection).
        timeout: seconds per request.
    """

    def __init__(
        self,
        *,
        access_token: Secret | str,
        project_ref: str,
        base_url: str = DEFAULT_URL,
        retrier: Retrier | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        _http: httpx.Client | None = None,
    ) -> None:
        if not access_token:
            raise ConfigError("the Management API needs SUPABASE_ACCESS_TOKEN")
        if not project_ref:
            raise ConfigError("the Management API needs SUPABASE_PROJECT_REF")
        self._token = access_token if isinstance(access_token, Secret) else Secret(access_token)
        self.project_ref = project_ref
        self.base_url = base_url.rstrip("/")
        self.retrier = retrier or Retrier(RetryPolicy())
        self._owns_http = _http is None
        self._http = _http or httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"hybridkit/{__version__}"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ManagementClient:
        """Build from ``SUPABASE_ACCESS_TOKEN``, ``_PROJECT_REF`` and ``_MANAGEMENT_URL``.

        Raises:
            ConfigError: the token or the ref is missing.
        """
        settings.require("access_token", "project_ref")
        assert settings.access_token is not None and settings.project_ref is not None
        kwargs.setdefault("retrier", Retrier(RetryPolicy.from_settings(settings)))
        return cls(
            access_token=settings.access_token,
            project_ref=settings.project_ref,
            base_url=settings.management_url,
            **kwargs,
        )

    def for_project(self, project_ref: str) -> ManagementClient:
        """The same client (connection pool, token, policy) for another ref, e.g. a branch."""
        return ManagementClient(
            access_token=self._token,
            project_ref=project_ref,
            base_url=self.base_url,
            retrier=self.retrier,
            _http=self._http,
        )

    def __repr__(self) -> str:
        return f"ManagementClient(base_url={self.base_url!r}, project_ref={self.project_ref!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- transport ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Send one request under the retry policy; return the parsed JSON (or None)."""
        sent_headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        sent_headers.update(headers or {})

        def attempt(_: Attempt) -> httpx.Response:
            response = self._http.request(
                method, path, json=json, params=params, headers=sent_headers
            )
            if response.is_error:
                raise classify_response(response, context=operation)
            return response

        return response_body(self.retrier.call(attempt, operation=operation, idempotent=idempotent))

    def _project(self, suffix: str) -> str:
        return f"/v1/projects/{self.project_ref}{suffix}"

    # -- database --------------------------------------------------------------------

    def query(self, sql: str, *, read_only: bool = False) -> list[dict[str, Any]]:
        """Run SQL and return the last statement's rows.

        With ``read_only`` the server runs it as its read-only database user in a
        read-only transaction, so it cannot write whatever the text says.
        """
        result = self._request(
            "POST",
            self._project("/database/query"),
            json={"query": sql, "read_only": read_only},
            operation="management: run SQL" + (" (read-only)" if read_only else ""),
            idempotent=read_only,
        )
        return list(result or [])

    def list_migrations(self) -> list[RemoteMigration]:
        """The ledger's versions and names."""
        rows = self._request(
            "GET", self._project("/database/migrations"), operation="management: list migrations"
        )
        return [RemoteMigration(str(r["version"]), r.get("name")) for r in rows or []]

    def get_migration(self, version: str) -> RemoteMigration:
        """One ledger row with its statements (and rollback, where the server keeps one)."""
        row = self._request(
            "GET",
            self._project(f"/database/migrations/{version}"),
            operation=f"management: get migration {version}",
        )
        statements = row.get("statements")
        rollback = row.get("rollback")
        return RemoteMigration(
            str(row["version"]),
            row.get("name"),
            tuple(statements) if statements is not None else None,
            tuple(rollback) if rollback is not None else None,
        )

    def apply_migration(
        self,
        query: str,
        name: str,
        *,
        rollback: str | None = None,
        idempotency_key: str | None = None,
    ) -> RemoteMigration:
        """Apply SQL as a migration; the server picks the version (a UTC timestamp).

        This is what the dashboard and the MCP server's ``apply_migration`` do. To
        keep your files' versions, use :mod:`hybridkit.database.migrations` instead.
        """
        body: dict[str, Any] = {"query": query, "name": name}
        if rollback is not None:
            body["rollback"] = rollback
        key = idempotency_key or str(uuid.uuid4())
        result = self._request(
            "POST",
            self._project("/database/migrations"),
            json=body,
            headers={"Idempotency-Key": key},
            operation=f"management: apply migration {name}",
            idempotent=True,  # the Idempotency-Key makes a resend harmless
        )
        if isinstance(result, dict) and result.get("version"):
            return RemoteMigration(str(result["version"]), result.get("name", name))
        applied = [m for m in self.list_migrations() if m.name == name]
        if not applied:
            raise InvalidInputError(f"management: migration {name} was not recorded")
        return applied[-1]

    # -- branches -------------------------------------------------------------------------

    def list_branches(self) -> list[Branch]:
        """Every branch, the default one included (empty when branching is off)."""
        try:
            rows = self._request(
                "GET", self._project("/branches"), operation="management: list branches"
            )
        except InvalidInputError as exc:
            if exc.status == 422:  # the hosted API's answer when branching is not enabled
                return []
            raise
        return [Branch.from_json(r) for r in rows or []]

    def create_branch(
        self, name: str, *, git_branch: str | None = None, persistent: bool = False
    ) -> Branch:
        """Create a branch (a fresh database with the parent's migrations, no data)."""
        body: dict[str, Any] = {"branch_name": name, "persistent": persistent}
        if git_branch is not None:
            body["git_branch"] = git_branch
        result = self._request(
            "POST",
            self._project("/branches"),
            json=body,
            operation=f"management: create branch {name}",
            idempotent=False,
        )
        return Branch.from_json(result)

    def get_branch(self, branch_id: str) -> BranchDetail:
        """Connection details of a branch (``id`` or ref)."""
        result = self._request(
            "GET", f"/v1/branches/{branch_id}", operation=f"management: get branch {branch_id}"
        )
        return BranchDetail.from_json(result)

    def delete_branch(self, branch_id: str) -> None:
        """Delete a branch and its database."""
        self._request(
            "DELETE",
            f"/v1/branches/{branch_id}",
            operation=f"management: delete branch {branch_id}",
        )

    def reset_branch(self, branch_id: str, *, migration_version: str | None = None) -> None:
        """Recreate a branch's database, keeping migrations up to ``migration_version``."""
        body = {} if migration_version is None else {"migration_version": migration_version}
        self._request(
            "POST",
            f"/v1/branches/{branch_id}/reset",
            json=body,
            operation=f"management: reset branch {branch_id}",
        )

    def merge_branch(self, branch_id: str, *, migration_version: str | None = None) -> Any:
        """Apply the branch's new migrations to its parent."""
        body = {} if migration_version is None else {"migration_version": migration_version}
        return self._request(
            "POST",
            f"/v1/branches/{branch_id}/merge",
            json=body,
            operation=f"management: merge branch {branch_id}",
        )

    def push_branch(self, branch_id: str) -> Any:
        """Rebase: apply the parent's newer migrations to the branch."""
        return self._request(
            "POST",
            f"/v1/branches/{branch_id}/push",
            json={},
            operation=f"management: push branch {branch_id}",
        )

    # -- storage config and advisors ----------------------------------------------------------

    def get_storage_config(self) -> dict[str, Any]:
        """``{"fileSizeLimit": ..., "features": {...}}``."""
        result = self._request(
            "GET", self._project("/config/storage"), operation="management: get storage config"
        )
        return dict(result or {})

    def update_storage_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Change storage settings (e.g. ``{"fileSizeLimit": 104857600}``)."""
        result = self._request(
            "PATCH",
            self._project("/config/storage"),
            json=dict(config),
            operation="management: update storage config",
        )
        return dict(result or {}) if isinstance(result, dict) else self.get_storage_config()

    def advisors(self, kind: str = "security") -> list[Lint]:
        """The project's ``security`` or ``performance`` advisor lints."""
        if kind not in ("security", "performance"):
            raise InvalidInputError(
                f"advisor kind must be 'security' or 'performance', not {kind!r}"
            )
        result = self._request(
            "GET", self._project(f"/advisors/{kind}"), operation=f"management: {kind} advisors"
        )
        lints = result.get("lints", []) if isinstance(result, dict) else []
        return [Lint.from_json(item) for item in lints]
