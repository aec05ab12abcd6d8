"""Copy the RLS policies on ``storage.objects`` and ``storage.buckets`` between projects.

Storage access on Supabase is decided by these policies (``storage.objects``'s
above all), so a project copied without them serves nothing to its users. The
source's are read from ``pg_policies``; each becomes one ``CREATE POLICY`` on the
destination, a policy of the same name that differs is dropped and created
again, and an identical one is skipped. Both sides need a database URL (a
profile's ``DB_URL``); the statements run in one transaction.

Example:
    >>> plan = plan_policies(Database(src_settings), Database(dst_settings))  # doctest: +SKIP
    >>> print("\\n".join(plan.statements))  # doctest: +SKIP
    CREATE POLICY "read own" ON storage.objects AS PERMISSIVE FOR SELECT TO authenticated ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hybridkit.database import Database

__all__ = ["Policy", "PolicyPlan", "PolicyStep", "apply_policies", "plan_policies", "read_policies"]

_READ = """
select tablename, policyname, permissive, roles::text[] as roles, cmd, qual, with_check
from pg_policies
where schemaname = 'storage' and tablename in ('objects', 'buckets')
order by tablename, policyname
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Policy:
    """One row of ``pg_policies`` for a storage table."""

    table: str
    name: str
    permissive: str
    roles: tuple[str, ...]
    command: str
    using: str | None
    check: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Policy:
        roles = row["roles"]
        if isinstance(roles, str):  # '{a,b}' when the driver does not parse arrays
            roles = [r for r in roles.strip("{}").split(",") if r]
        return cls(
            row["tablename"],
            row["policyname"],
            row["permissive"],
            tuple(sorted(roles)),
            row["cmd"],
            row["qual"],
            row["with_check"],
        )

    def create_sql(self) -> str:
        """The ``CREATE POLICY`` statement that makes this policy."""
        roles = ", ".join("PUBLIC" if r == "public" else _ident(r) for r in self.roles)
        text = (
            f"CREATE POLICY {_ident(self.name)} ON storage.{_ident(self.table)} "
            f"AS {self.permissive} FOR {self.command} TO {roles or 'PUBLIC'}"
        )
        if self.using is not None:
            text += f" USING ({self.using})"
        if self.check is not None:
            text += f" WITH CHECK ({self.check})"
        return text

    def drop_sql(self) -> str:
        """The ``DROP POLICY`` statement that removes this policy."""
        return f"DROP POLICY {_ident(self.name)} ON storage.{_ident(self.table)}"


@dataclass(frozen=True)
class PolicyStep:
    """``create`` a missing policy, ``replace`` a different one, ``skip`` an identical one."""

    action: Literal["create", "replace", "skip"]
    policy: Policy


@dataclass(frozen=True)
class PolicyPlan:
    """What :func:`plan_policies` found; ``statements`` is the SQL that applies it."""

    steps: tuple[PolicyStep, ...]

    @property
    def statements(self) -> tuple[str, ...]:
        """``DROP POLICY`` (for a replaced one) and ``CREATE POLICY`` statements, in order."""
        out: list[str] = []
        for step in self.steps:
            if step.action == "replace":
                out.append(step.policy.drop_sql())
            if step.action != "skip":
                out.append(step.policy.create_sql())
        return tuple(out)

    def summary(self) -> str:
        """One line: how many to create, to replace, identical."""
        n = {a: sum(1 for s in self.steps if s.action == a) for a in ("create", "replace", "skip")}
        return (
            f"policies: {n['create']} to create, {n['replace']} to replace, {n['skip']} identical"
        )


def read_policies(db: Database) -> list[Policy]:
    """The RLS policies on ``storage.objects`` and ``storage.buckets`` (read-only)."""
    return [Policy.from_row(row) for row in db.sql(_READ, read_only=True, via="sql").rows]


def plan_policies(src: Database, dst: Database) -> PolicyPlan:
    """Compare the source's storage policies with the destination's, by table and name."""
    there = {(p.table, p.name): p for p in read_policies(dst)}
    steps = []
    for policy in read_policies(src):
        have = there.get((policy.table, policy.name))
        action: Literal["create", "replace", "skip"] = (
            "create" if have is None else "skip" if have == policy else "replace"
        )
        steps.append(PolicyStep(action, policy))
    return PolicyPlan(tuple(steps))


def apply_policies(plan: PolicyPlan, dst: Database) -> None:
    """Run the plan's statements on ``dst`` in one transaction (nothing when all are identical)."""
    if plan.statements:
        dst.sql(";\n".join(plan.statements), via="sql")
