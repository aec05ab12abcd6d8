"""Migrations on the Supabase CLI's ledger: status with drift, apply, dry run.

Files follow the CLI: ``<version>_<name>.sql`` (``supabase migration new`` writes a
14-digit UTC timestamp); other files are skipped. The ledger is the CLI's
``supabase_migrations.schema_migrations (version, name, statements)``, so
``supabase migration list`` and hybridkit agree on the same database.

Status goes further than the CLI, which compares versions only:

* ``applied`` — in the ledger, and the stored statements match the file;
* ``changed`` — in the ledger under the same version, but the file differs;
* ``pending`` — not applied yet (``out of order`` when older than the newest
  applied version: the CLI refuses those without ``--include-all``);
* ``applied elsewhere`` — not under its own version, but a ledger row with the
  same content (and usually the same name) exists under another timestamp — what
  the dashboard or the MCP server's ``apply_migration`` write;
* ``missing locally`` — in the ledger, with no file.

Content is compared with :func:`hybridkit.database.sqltext.fingerprint` (comments and
whitespace ignored). Each migration is applied in one transaction together with
its ledger row, so a failing migration leaves nothing behind.

Rollbacks: ``rollback/<version>_<name>.down.sql`` beside the migrations (the CLI
has no down migrations; these are for humans and for :func:`rollback_sql`).

Example:
    >>> ledger = ledger_from_settings(Settings.load())  # doctest: +SKIP
    >>> status = migration_status("migrations", ledger)  # doctest: +SKIP
    >>> print(status.table())  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from hybridkit._tables import text_table
from hybridkit.config import Settings, mask_url
from hybridkit.database.paths import choose_path
from hybridkit.database.sqltext import fingerprint, split_statements
from hybridkit.errors import HybridError, InvalidInputError, MigrationError

if TYPE_CHECKING:
    from hybridkit.management import ManagementClient

__all__ = [
    "FILE_PATTERN",
    "AppliedMigration",
    "ApplyResult",
    "DirectLedger",
    "Ledger",
    "ManagementLedger",
    "Migration",
    "MigrationStatus",
    "State",
    "StatusEntry",
    "apply_migrations",
    "compute_status",
    "ledger_from_settings",
    "load_migrations",
    "migration_status",
    "migrations_folder",
    "new_migration",
    "rollback_sql",
]

FILE_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql$")
# Companions that live beside migrations and are not worth a warning.
_COMPANIONS = frozenset({"checks.toml", "README.md", "rollback"})
LEDGER_TABLE = "supabase_migrations.schema_migrations"
# The CLI's ledger DDL (pkg/migration/history.go).
LEDGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations "
    "(version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
_INSERT_LEDGER = (
    "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) "
    "VALUES (%s, %s, %s)"
)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Migration:
    """A local migration file.

    Attributes:
        version: the digits before the first ``_``.
        name: the rest of the file name, without ``.sql``.
        path: where the file is.
        sql: its text.
    """

    version: str
    name: str
    path: Path
    sql: str = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.version}_{self.name}.sql"

    @property
    def statements(self) -> list[str]:
        """The statements as the CLI splits them (and stores them in the ledger)."""
        return split_statements(self.sql)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.statements)

    @property
    def rollback_path(self) -> Path:
        return self.path.parent / "rollback" / f"{self.version}_{self.name}.down.sql"


@dataclass(frozen=True)
class AppliedMigration:
    """A ledger row."""

    version: str
    name: str | None
    statements: tuple[str, ...] = field(default=(), repr=False)

    @property
    def fingerprint(self) -> str | None:
        """``None`` when the row has no statements (old CLIs, ``migration repair``)."""
        return fingerprint(list(self.statements)) if self.statements else None


class State(enum.StrEnum):
    """Where a migration stands."""

    APPLIED = "applied"
    PENDING = "pending"
    OUT_OF_ORDER = "out of order"
    CHANGED = "changed"
    APPLIED_ELSEWHERE = "applied elsewhere"
    MISSING_LOCAL = "missing locally"


@dataclass(frozen=True)
class StatusEntry:
    """One line of the status table."""

    version: str
    name: str
    state: State
    note: str = ""
    local: Migration | None = field(default=None, repr=False)
    remote: AppliedMigration | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MigrationStatus:
    """Local files against the ledger.

    Attributes:
        entries: one per local file and per ledger row without a file, by version.
        target: where the ledger is (a masked URL, or ``management:<ref>``).
        skipped: files in the folder that are not migrations.
    """

    entries: tuple[StatusEntry, ...]
    target: str
    skipped: tuple[str, ...] = ()

    def by_state(self, *states: State) -> list[StatusEntry]:
        return [e for e in self.entries if e.state in states]

    @property
    def pending(self) -> list[Migration]:
        """Local migrations not applied yet, in version order."""
        return [
            e.local for e in self.by_state(State.PENDING, State.OUT_OF_ORDER) if e.local is not None
        ]

    @property
    def ok(self) -> bool:
        """No drift: nothing changed since applied, missing locally or out of order."""
        return not self.by_state(State.CHANGED, State.MISSING_LOCAL, State.OUT_OF_ORDER)

    def table(self) -> str:
        """A readable table (like ``supabase migration list``, with a state column)."""
        rows = [(e.version, e.name, e.state.value, e.note) for e in self.entries]
        lines = text_table(("VERSION", "NAME", "STATE", "NOTE"), rows)
        summary = ", ".join(f"{len(self.by_state(s))} {s.value}" for s in State if self.by_state(s))
        lines.append(f"({summary or 'no migrations'}; ledger: {self.target})")
        if self.skipped:
            lines.append(f"skipped (not <version>_<name>.sql): {', '.join(self.skipped)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_migrations` did (or, in a dry run, would do)."""

    planned: tuple[Migration, ...]
    applied: tuple[str, ...]
    dry_run: bool
    target: str

    @property
    def sql(self) -> str:
        """The SQL of the planned migrations, each headed by its file name."""
        return "\n\n".join(f"-- {m.filename}\n{m.sql.strip()}\n" for m in self.planned)


# --------------------------------------------------------------------------- files


def migrations_folder(path: str | Path) -> Path:
    """The migrations folder ``path`` names: itself, or a project's ``supabase/migrations``.

    A Supabase CLI project keeps ``supabase/migrations/<version>_<name>.sql``; its
    root, its ``supabase`` folder or the migrations folder itself all do.
    """
    root = Path(path)
    for candidate in (root / "supabase" / "migrations", root / "migrations"):
        if candidate.is_dir() and not any(FILE_PATTERN.match(p.name) for p in root.glob("*.sql")):
            return candidate
    return root


def load_migrations(folder: str | Path) -> tuple[list[Migration], list[str]]:
    """The migrations in ``folder`` by version, and the names of files that are not.

    Raises:
        MigrationError: two files share a version, or the folder does not exist.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MigrationError(
            f"no migrations folder at {root.absolute()}",
            hint="run from the project's folder, or give --dir DIR "
            "(a migrations folder, or a Supabase CLI project with supabase/migrations)",
        )
    migrations: list[Migration] = []
    skipped: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(root.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if not match or not path.is_file():
            if path.name not in _COMPANIONS and not path.name.startswith("."):
                skipped.append(path.name)
            continue
        version, name = match.group(1), match.group(2)
        if version in seen:
            raise MigrationError(
                f"two migrations share version {version}: {seen[version]} and {path.name}"
            )
        seen[version] = path.name
        migrations.append(Migration(version, name, path, path.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: _version_key(m.version))
    return migrations, skipped


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (0, version)


def new_migration(folder: str | Path, name: str, *, now: datetime | None = None) -> Migration:
    """Create ``<timestamp>_<name>.sql`` (and its rollback file), as ``supabase migration new``.

    Raises:
        InvalidInputError: the name has characters other than letters, digits, ``_`` and ``-``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise InvalidInputError(
            f"migration name {name!r} may only use letters, digits, '_' and '-'"
        )
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    version = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    path = root / f"{version}_{name}.sql"
    if path.exists():
        raise InvalidInputError(f"{path} already exists")
    text = f"-- {name}\n"
    path.write_text(text, encoding="utf-8")
    migration = Migration(version, name, path, text)
    migration.rollback_path.parent.mkdir(exist_ok=True)
    migration.rollback_path.write_text(
        f"-- Reverts {migration.filename}; run by hand (the CLI has no down migrations).\n",
        encoding="utf-8",
    )
    return migration


def rollback_sql(migration: Migration) -> str | None:
    """The rollback file's SQL, or ``None`` when there is none."""
    path = migration.rollback_path
    return path.read_text(encoding="utf-8") if path.is_file() else None


# --------------------------------------------------------------------------- status


def compute_status(
    local: Sequence[Migration],
    remote: Sequence[AppliedMigration],
    *,
    target: str = "",
    skipped: Sequence[str] = (),
) -> MigrationStatus:
    """Compare local files with ledger rows (pure; see the module docstring).

    Example:
        >>> m = Migration("1", "a", Path("1_a.sql"), "select 1;")
        >>> compute_status([m], [AppliedMigration("1", "a", ("select 2",))]).entries[0].state
        <State.CHANGED: 'changed'>
    """
    by_version = {r.version: r for r in remote}
    local_versions = {m.version for m in local}
    orphans = [r for r in remote if r.version not in local_versions]
    claimed: set[str] = set()
    last_remote = max((_version_key(r.version) for r in remote), default=None)
    entries: list[StatusEntry] = []
    for migration in local:
        row = by_version.get(migration.version)
        if row is not None:
            if row.fingerprint is None:
                entries.append(
                    StatusEntry(
                        migration.version,
                        migration.name,
                        State.APPLIED,
                        "not verified: the ledger row has no statements",
                        migration,
                        row,
                    )
                )
            elif row.fingerprint == migration.fingerprint:
                entries.append(
                    StatusEntry(
                        migration.version, migration.name, State.APPLIED, "", migration, row
                    )
                )
            else:
                entries.append(
                    StatusEntry(
                        migration.version,
                        migration.name,
                        State.CHANGED,
                        "the file differs from the statements applied",
                        migration,
                        row,
                    )
                )
            continue
        twin = _find_twin(migration, orphans, claimed)
        if twin is not None:
            claimed.add(twin.version)
            entries.append(
                StatusEntry(
                    migration.version,
                    migration.name,
                    State.APPLIED_ELSEWHERE,
                    f"applied as {twin.version}_{twin.name or ''} (dashboard/MCP); rename the "
                    f"file to that version to line up with `supabase migration list`",
                    migration,
                    twin,
                )
            )
            continue
        same_name = [r for r in orphans if r.name == migration.name]
        note = ""
        if same_name:
            note = f"a ledger row named {migration.name} ({same_name[0].version}) has other SQL"
        if last_remote is not None and _version_key(migration.version) < last_remote:
            entries.append(
                StatusEntry(
                    migration.version,
                    migration.name,
                    State.OUT_OF_ORDER,
                    note or "older than the newest applied migration",
                    migration,
                )
            )
        else:
            entries.append(
                StatusEntry(migration.version, migration.name, State.PENDING, note, migration)
            )
    for row in orphans:
        if row.version in claimed:
            continue
        entries.append(
            StatusEntry(
                row.version,
                row.name or "",
                State.MISSING_LOCAL,
                "in the ledger, no file: `supabase migration fetch` or repair",
                None,
                row,
            )
        )
    entries.sort(key=lambda e: _version_key(e.version))
    return MigrationStatus(tuple(entries), target, tuple(skipped))


def _find_twin(
    migration: Migration, orphans: Sequence[AppliedMigration], claimed: set[str]
) -> AppliedMigration | None:
    """A ledger row under another version with the same content (same name preferred)."""
    matches = [
        r
        for r in orphans
        if r.version not in claimed
        and r.fingerprint is not None
        and r.fingerprint == migration.fingerprint
    ]
    if not matches:
        return None
    named = [r for r in matches if r.name == migration.name]
    return (named or matches)[0]


# --------------------------------------------------------------------------- ledgers


class Ledger(Protocol):
    """Where migrations are recorded and applied."""

    @property
    def target(self) -> str:
        """A printable description of the database (no secrets)."""
        ...

    def fetch(self) -> list[AppliedMigration]:
        """Every ledger row, by version (none when the ledger does not exist yet)."""
        ...

    def apply(self, migration: Migration) -> None:
        """Run the migration and record it, in one transaction.

        Raises:
            MigrationError: it failed; nothing of it remains, and no ledger row.
        """
        ...

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run one read-only query (checks and lints)."""
        ...


class DirectLedger:
    """The ledger over a direct PostgreSQL connection (``SUPABASE_DB_URL``)."""

    def __init__(self, db_url: str, *, connect_timeout: float = 10) -> None:
        self._url = db_url
        self._timeout = connect_timeout

    @property
    def target(self) -> str:
        return mask_url(self._url)

    def __repr__(self) -> str:
        return f"DirectLedger({self.target!r})"

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(
                self._url, connect_timeout=int(self._timeout), row_factory=dict_row
            )
        except psycopg.Error as exc:
            raise _pg(exc, f"connect to {self.target}") from None

    def fetch(self) -> list[AppliedMigration]:
        with self._connect() as conn:
            try:
                rows = conn.execute(
                    "SELECT to_jsonb(m) AS row FROM supabase_migrations.schema_migrations m"
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return []  # as the CLI does: no ledger means no remote migrations
            except psycopg.Error as exc:
                raise _pg(exc, "read the migration ledger") from None
        return _rows_to_applied(r["row"] for r in rows)

    def apply(self, migration: Migration) -> None:
        statements = migration.statements
        with self._connect() as conn:
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '4s'")
                    for ddl in LEDGER_DDL:
                        conn.execute(ddl)
            except psycopg.Error as exc:
                raise _pg(exc, "create the migration ledger") from None
            try:
                with conn.transaction():
                    for number, statement in enumerate(statements, 1):
                        try:
                            conn.execute(statement.encode())
                        except psycopg.Error as exc:
                            raise _statement_error(migration, number, statement, exc) from None
                    conn.execute(_INSERT_LEDGER, [migration.version, migration.name, statements])
            except psycopg.Error as exc:
                raise _pg(exc, f"record {migration.filename}") from None

    def query(self, sql: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            conn.read_only = True
            try:
                with conn.transaction(force_rollback=True):
                    with conn.pipeline():  # the extended protocol: one statement only
                        cursor = conn.execute(sql.encode())
                    return list(cursor.fetchall())
            except psycopg.Error as exc:
                raise _pg(exc, "check") from None


class ManagementLedger:
    """The ledger through the Management API's query endpoint (no DB URL needed).

    Migrations keep their file versions: the migration and its ledger row go out
    as one multi-statement query, which PostgreSQL runs as one transaction.
    """

    def __init__(self, client: ManagementClient) -> None:
        self.client = client

    @property
    def target(self) -> str:
        return f"management:{self.client.project_ref}"

    def __repr__(self) -> str:
        return f"ManagementLedger({self.target!r})"

    def fetch(self) -> list[AppliedMigration]:
        exists = self.client.query(
            "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL AS ok",
            read_only=True,
        )
        if not exists or not exists[0].get("ok"):
            return []
        rows = self.client.query(
            "SELECT to_jsonb(m) AS row FROM supabase_migrations.schema_migrations m",
            read_only=True,
        )
        return _rows_to_applied(r["row"] for r in rows)

    def apply(self, migration: Migration) -> None:
        statements = migration.statements
        self.client.query(";\n".join(LEDGER_DDL))
        ledger_row = pgsql.SQL(_INSERT_LEDGER.replace("%s", "{}")).format(
            pgsql.Literal(migration.version),
            pgsql.Literal(migration.name),
            pgsql.Literal(statements),
        )
        # "\n;\n" because a statement may end in a line comment.
        script = "\n;\n".join([*statements, ledger_row.as_string(None)])
        try:
            self.client.query(script)
        except HybridError as exc:
            raise MigrationError(f"{migration.filename} failed: {exc.message}") from None

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.client.query(sql, read_only=True)


def ledger_from_settings(settings: Settings, *, via: str = "auto") -> Ledger:
    """A direct ledger when ``SUPABASE_DB_URL`` is set, else the Management API's.

    Args:
        settings: the configuration.
        via: ``auto``, ``sql`` (require the DB URL) or ``management`` (require a token).

    Raises:
        InvalidInputError: ``via`` is none of the three.
        ConfigError: what ``via`` needs is not configured.
    """
    if choose_path(settings, via, needs="migrations need") == "sql":
        assert settings.db_url is not None
        return DirectLedger(settings.db_url.get_secret_value())
    from hybridkit.management import ManagementClient

    return ManagementLedger(ManagementClient.from_settings(settings))


def _rows_to_applied(rows: Any) -> list[AppliedMigration]:
    applied = [
        AppliedMigration(
            str(row["version"]),
            row.get("name"),
            tuple(row.get("statements") or ()),
        )
        for row in rows
    ]
    applied.sort(key=lambda a: _version_key(a.version))
    return applied


def _pg(exc: psycopg.Error, context: str) -> HybridError:
    from hybridkit.database.client import pg_error

    return pg_error(exc, context)


def _statement_error(
    migration: Migration, number: int, statement: str, exc: psycopg.Error
) -> MigrationError:
    primary = exc.diag.message_primary or str(exc).strip()
    first_line = statement.strip().splitlines()[0] if statement.strip() else ""
    return MigrationError(
        f"{migration.filename} failed at statement {number}: {primary} "
        f"(SQLSTATE {exc.sqlstate}); statement starts: {first_line[:120]!r}. "
        "Nothing of this migration was applied.",
        code=exc.sqlstate,
    )


# --------------------------------------------------------------------------- top level


def migration_status(folder: str | Path, ledger: Ledger) -> MigrationStatus:
    """Status of the files in ``folder`` against ``ledger``."""
    local, skipped = load_migrations(folder)
    return compute_status(local, ledger.fetch(), target=ledger.target, skipped=skipped)


def apply_migrations(
    folder: str | Path,
    ledger: Ledger,
    *,
    dry_run: bool = False,
    include_all: bool = False,
) -> ApplyResult:
    """Apply pending migrations in version order, each in its own transaction.

    Args:
        folder: the migrations folder.
        ledger: where to apply them.
        dry_run: plan only; :attr:`ApplyResult.sql` holds what would run.
        include_all: also apply migrations older than the newest applied one
            (the CLI's ``--include-all``).

    Raises:
        MigrationError: the ledger has versions with no file, out-of-order files
            without ``include_all``, or a migration failed (the ones before it stay
            applied; the failing one left nothing).
    """
    status = migration_status(folder, ledger)
    missing = status.by_state(State.MISSING_LOCAL)
    if missing:
        raise MigrationError(
            "the ledger has versions with no local file: "
            + ", ".join(f"{e.version}_{e.name}" for e in missing)
            + " — fetch them (`supabase migration fetch`) or repair the ledger first"
        )
    out_of_order = status.by_state(State.OUT_OF_ORDER)
    if out_of_order and not include_all:
        raise MigrationError(
            "local migrations older than the newest applied one: "
            + ", ".join(f"{e.version}_{e.name}" for e in out_of_order)
            + " — pass include_all=True (--include-all) to apply them anyway"
        )
    planned = tuple(status.pending)
    if dry_run:
        return ApplyResult(planned, (), True, ledger.target)
    applied: list[str] = []
    for migration in planned:
        ledger.apply(migration)
        applied.append(migration.version)
    return ApplyResult(planned, tuple(applied), False, ledger.target)
