"""The catalog diff's pure logic: scope, baseline, normalisation and repair statements."""

from __future__ import annotations

from typing import Any

from hybridkit.database.checks import check
from hybridkit.database.schema_diff import KINDS, Catalog, SchemaDiff, diff_catalogs


def catalog(**kinds: list[dict[str, Any]]) -> Catalog:
    data: dict[str, Any] = {k: [] for k in KINDS}
    for kind, items in kinds.items():
        data[kind.replace("_", " ")] = items
    return Catalog.from_json(data)


IDX = {
    "k": "public.t_idx",
    "s": "public",
    "t": "public.t",
    "v": {"def": "CREATE INDEX t_idx ON public.t USING btree (a)"},
}
PLATFORM_FN = {
    "k": "storage.search()",
    "s": "storage",
    "v": {"def": "CREATE OR REPLACE FUNCTION storage.search() ...", "owner": "supabase_admin"},
}
POLICY = {
    "k": 'storage.objects: "mine"',
    "s": "storage",
    "t": "storage.objects",
    "n": '"mine"',
    "v": {
        "cmd": "SELECT",
        "permissive": True,
        "roles": ["authenticated"],
        "using": "(owner = auth.uid())",
        "check": None,
    },
}


def test_a_missing_index_is_repaired_from_the_expected_definition() -> None:
    rows = diff_catalogs(catalog(index=[IDX]), catalog())
    assert [(r.kind, r.object, r.change) for r in rows] == [("index", "public.t_idx", "missing")]
    assert rows[0].repair == "CREATE INDEX t_idx ON public.t USING btree (a);"


def test_whitespace_is_cosmetic_but_a_changed_word_is_not() -> None:
    spaced = {**IDX, "v": {"def": "CREATE INDEX t_idx\n  ON public.t USING btree ( a )"}}
    assert diff_catalogs(catalog(index=[IDX]), catalog(index=[spaced])) == []
    other = {**IDX, "v": {"def": "CREATE INDEX t_idx ON public.t USING btree (b)"}}
    [row] = diff_catalogs(catalog(index=[IDX]), catalog(index=[other]))
    assert row.change == "changed" and row.repair.startswith("DROP INDEX public.t_idx; CREATE")


def test_without_strict_only_what_the_migrations_define_is_compared() -> None:
    # A hosted project's own storage functions differ from the local baseline's, and
    # the project has functions the baseline lacks: neither is the migrations' business.
    baseline = catalog(function=[PLATFORM_FN])
    expected = catalog(function=[PLATFORM_FN], policy=[POLICY])
    hosted_fn = {**PLATFORM_FN, "v": {**PLATFORM_FN["v"], "def": "CREATE ... other body"}}
    live = catalog(
        function=[hosted_fn, {"k": "storage.extra()", "s": "storage", "v": {"def": "x"}}],
        policy=[],
    )
    rows = diff_catalogs(expected, live, baseline=baseline, strict=False)
    assert [(r.kind, r.change) for r in rows] == [("policy", "missing")]
    assert rows[0].repair == (
        'CREATE POLICY "mine" ON storage.objects AS PERMISSIVE FOR SELECT TO authenticated '
        "USING ((owner = auth.uid()));"
    )
    # strict (same server, same baseline): the baseline's objects count too.
    strict = diff_catalogs(expected, live, baseline=baseline, strict=True)
    assert {(r.kind, r.object, r.change) for r in strict} >= {
        ("function", "storage.search()", "changed"),
        ("function", "storage.extra()", "extra"),
    }


def test_extra_policies_on_touched_tables_report_even_without_strict() -> None:
    extra = {**POLICY, "k": 'storage.objects: "open"', "n": '"open"'}
    live = catalog(policy=[POLICY, extra])
    rows = diff_catalogs(catalog(policy=[POLICY]), live, baseline=catalog(), strict=False)
    assert [(r.object, r.change, r.repair) for r in rows] == [
        ('storage.objects: "open"', "extra", '-- DROP POLICY "open" ON storage.objects;')
    ]


def test_grant_rows_say_what_to_grant_and_revoke() -> None:
    def grant(privileges: list[str]) -> dict[str, Any]:
        return {
            "k": "table public.t to anon",
            "s": "public",
            "t": "public.t",
            "n": "table public.t",
            "g": "anon",
            "v": {"privileges": privileges},
        }

    [row] = diff_catalogs(
        catalog(grant=[grant(["SELECT"])]), catalog(grant=[grant(["INSERT", "SELECT*"])])
    )
    assert row.change == "changed"
    assert row.repair == (
        "REVOKE GRANT OPTION FOR SELECT ON TABLE public.t FROM anon; "
        "REVOKE INSERT ON TABLE public.t FROM anon;"
    )
    # A grant option alone: the privilege is there already.
    [row] = diff_catalogs(catalog(grant=[grant(["SELECT*"])]), catalog(grant=[grant(["SELECT"])]))
    assert row.repair == "GRANT SELECT ON TABLE public.t TO anon WITH GRANT OPTION;"


def test_rows_become_findings_and_keep_the_report_shape() -> None:
    rows = tuple(diff_catalogs(catalog(index=[IDX]), catalog()))
    diff = SchemaDiff(rows, expected="shadow", live="db", schemas=("public",), compared=1)

    class Ledger:
        target = "db"

        def query(self, sql: str) -> list[dict[str, Any]]:
            return [{"facts": {}}] if "facts" in sql else []

    report = check(Ledger(), drift=diff, lints=False)  # type: ignore[arg-type]
    assert not report.ok and report.drift is diff
    assert [(f.check, f.subject) for f in report.problems] == [("drift:index", "public.t_idx")]
    assert diff.to_dict()["rows"][0]["repair"].startswith("CREATE INDEX")
    assert "public.t_idx" in diff.table()
