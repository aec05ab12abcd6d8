"""The runbook helpers without a kernel: validation, confirmation, progress, display."""

from __future__ import annotations

from typing import Any

import pytest

import hybridkit.runbook as rb
from hybridkit.config import Settings
from hybridkit.progress import Progress
from hybridkit.runbook import RunbookError


def ns(**values: Any) -> dict[str, Any]:
    """A notebook namespace: values plus the parameters cell's annotations."""
    types = {k: type(v) if not isinstance(v, list) else "list[str]" for k, v in values.items()}
    return {"__annotations__": types, **values}


# ----------------------------------------------------------------------------- validate


def test_validate_returns_checked_values() -> None:
    p = rb.validate(ns(bucket="logs", jobs=4, dry=True), jobs=rb.between(1, 32))
    assert (p.bucket, p.jobs, p.dry) == ("logs", 4, True)
    assert dict(p) == {"bucket": "logs", "jobs": 4, "dry": True}


def test_papermill_guessed_number_for_text_is_refused_with_the_fix() -> None:
    space = ns(bucket="x")
    space["bucket"] = 7  # what `papermill -p bucket 007` injects
    with pytest.raises(RunbookError) as info:
        rb.validate(space)
    message = str(info.value)
    assert "bucket: expected text, got the number 7" in message
    assert "hybridkit run" in message and "-r NAME VALUE" in message
    assert info.value.nothing_changed


def test_validate_lists_every_problem_at_once() -> None:
    space = ns(bucket="a", jobs=1, action="list")
    space.update(bucket="a/b", jobs=0, action="explode")
    with pytest.raises(RunbookError) as info:
        rb.validate(
            space,
            bucket=rb.bucket_name(),
            jobs=rb.between(1, 32),
            action=rb.one_of("list", "create"),
        )
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid parameters:"
    assert any(line.startswith("- bucket: 'a/b' is not a bucket name") for line in lines)
    assert "- jobs: must be between 1 and 32, got 0" in lines
    assert "- action: must be one of list, create; got 'explode'" in lines


def test_validate_refuses_secret_like_parameters() -> None:
    with pytest.raises(RunbookError, match="service_role_key: secrets are never parameters"):
        rb.validate(ns(service_role_key="eyJ..."))


def test_rule_for_an_undeclared_parameter_is_a_runbook_bug() -> None:
    with pytest.raises(RunbookError, match="ghost: has a rule but is not declared"):
        rb.validate(ns(bucket="a"), ghost=rb.non_empty())


@pytest.mark.parametrize(
    ("declared", "value", "expected"),
    [
        ("str", "007", "007"),
        ("int", "007", 7),
        ("int", 3.0, 3),
        ("float", 2, 2.0),
        ("float", "1e3", 1000.0),
        ("bool", "false", False),
        ("bool", "YES", True),
        ("bool", True, True),
        ("list[str]", "*.csv, *.json", ["*.csv", "*.json"]),
        ("list[str]", ["a"], ["a"]),
        ("list[str]", "", []),
    ],
)
def test_coerce_converts_only_where_nothing_is_lost(
    declared: str, value: Any, expected: Any
) -> None:
    assert rb.coerce(declared, value) == expected


@pytest.mark.parametrize(
    ("declared", "value", "message"),
    [
        ("str", 7, "expected text, got the number 7"),
        ("int", "4.5", "expected a whole number, got the text '4.5'"),
        ("int", True, "expected a whole number, got the boolean True"),
        ("bool", "maybe", "expected True or False, got the text 'maybe'"),
        ("float", "fast", "expected a number"),
        ("list[str]", [1, 2], "expected a list of text"),
        ("dict", {}, "unsupported type"),
    ],
)
def test_coerce_says_what_to_pass(declared: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        rb.coerce(declared, value)


def test_rules() -> None:
    assert rb.prefix()("/2026/11/") == "2026/11"
    with pytest.raises(ValueError, match=r"'\.\.' are not allowed"):
        rb.prefix()("a/../b")
    assert rb.byte_size()("50MB") == 50_000_000
    assert rb.byte_size()("1.5 GiB") == int(1.5 * 1024**3)
    assert rb.byte_size()("1024") == 1024
    assert rb.byte_size()("") is None
    with pytest.raises(ValueError, match="is not a size"):
        rb.byte_size()("lots")
    assert rb.mime_types()(["image/*", "text/csv"]) == ["image/*", "text/csv"]
    with pytest.raises(ValueError, match="not mime types: 'png'"):
        rb.mime_types()(["png"])
    assert rb.one_of("list", "create")("CREATE") == "create"
    assert rb.glob_list()(["*.csv", " "]) == ["*.csv"]
    with pytest.raises(ValueError, match="does not exist"):
        rb.local_path(must_exist=True)("/no/such/path/here")


# ----------------------------------------------------------------------------- confirm


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "0")


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "1")


def test_dry_run_never_proceeds(headless: None, capsys: pytest.CaptureFixture[str]) -> None:
    gate = rb.confirm("logs", action="empty bucket 'logs'", dry_run=True, confirm="logs")
    assert gate.proceed() is False
    assert "DRY RUN: would empty bucket 'logs'. Nothing will be changed." in capsys.readouterr().out


def test_headless_needs_the_exact_name(headless: None) -> None:
    gate = rb.confirm("logs", action="empty bucket 'logs'", dry_run=False)
    with pytest.raises(RunbookError) as info:
        gate.proceed()
    assert "not confirmed: refusing to empty bucket 'logs'" in str(info.value)
    assert "-p confirm logs" in info.value.hint
    assert info.value.nothing_changed
    with pytest.raises(RunbookError, match="confirm is 'log' but the target is 'logs'"):
        rb.confirm("logs", action="empty bucket 'logs'", dry_run=False, confirm="log")
    assert rb.confirm("logs", action="x", dry_run=False, confirm="logs").proceed() is True


def test_interactive_uses_the_widget_hook(interactive: None) -> None:
    built: list[rb.Gate] = []

    def factory(gate: rb.Gate) -> str:
        built.append(gate)
        return "widget"

    rb.set_confirm_widget(factory)
    try:
        gate = rb.confirm("logs", action="delete bucket 'logs'", dry_run=False)
    finally:
        rb.set_confirm_widget(None)
    assert built == [gate] and gate.widget == "widget"
    with pytest.raises(RunbookError, match="not confirmed") as info:
        gate.proceed()
    assert "click Confirm" in info.value.hint
    gate.approve()  # what the widget's button does
    assert gate.proceed() is True


def test_mode_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDKIT_INTERACTIVE", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert rb.is_interactive() is False  # papermill, nbclient, nbval
    monkeypatch.setenv("JPY_SESSION_NAME", "/notebooks/upload.ipynb")  # JupyterLab's kernels
    assert rb.is_interactive() is True
    monkeypatch.setenv("HYBRIDKIT_INTERACTIVE", "0")
    assert rb.is_interactive() is False


# ----------------------------------------------------------------------------- progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_text_bar_is_bounded_whatever_the_number_of_updates() -> None:
    lines: list[str] = []
    bar = rb.TextBar("upload", unit="B", total=10_000_000, out=lines.append, clock=FakeClock())
    for _ in range(10_000):
        bar.update(1000)
    bar.close()
    assert len(lines) == 10
    assert lines[0].startswith("upload  [#.........]  10%")
    assert lines[-1].startswith("upload  [##########] 100%  9.5 MiB/9.5 MiB  in ")


def test_text_bar_follows_progress_snapshots_and_closes_once() -> None:
    lines: list[str] = []
    bar = rb.TextBar("up", total=None, out=lines.append, clock=FakeClock())
    bar(Progress(done=50, total=100, elapsed=1, rate=50.0, eta=1.0))
    bar(Progress(done=100, total=100, elapsed=2, rate=50.0, eta=0.0, finished=True))
    bar.close()
    assert [line.split()[1] for line in lines] == ["[#####.....]", "[##########]"]


def test_text_bar_without_total_prints_at_most_max_lines() -> None:
    clock = FakeClock()
    lines: list[str] = []
    bar = rb.TextBar("files", unit="files", interval=10, max_lines=3, out=lines.append, clock=clock)
    for _ in range(1000):
        clock.now += 1
        bar.update(1)
    bar.close()
    assert len(lines) == 4  # three throttled lines and the final one
    assert lines[-1].startswith("files  1000 files  in 16m 40s")


def test_progress_is_text_headless(headless: None) -> None:
    assert isinstance(rb.progress("x"), rb.TextBar)


# ----------------------------------------------------------------------------- display


def test_target_banner_never_shows_a_key(
    headless: None, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    settings = Settings.load(
        env={
            "SUPABASE_URL": "http://127.0.0.1:54321",
            "SUPABASE_SERVICE_ROLE_KEY": key,
            "SUPABASE_DB_URL": "postgresql://postgres:s3cret-password-123@127.0.0.1:54322/postgres",
        },
        env_file=None,
    )
    rb.show_target(rb.Connection(settings=settings), {"bucket": "logs"}, dry_run=True)
    out = capsys.readouterr().out
    assert "service_role (not shown)" in out
    assert "http://127.0.0.1:54321" in out
    assert "postgres:********@127.0.0.1:54322" in out
    assert key not in out and "s3cret" not in out
    assert "yes — nothing will be changed" in out


def test_tables_are_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    rb.table([{"key": f"k{i}", "size": i} for i in range(500)], title="objects", limit=3)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "objects",
        "key  size",
        "---  ----",
        "k0   0",
        "k1   1",
        "k2   2",
        "... and 497 more",
    ]


def test_runbook_error_renders_message_and_hint_without_a_traceback() -> None:
    error = RunbookError("bucket 'x' is missing", hint="create it", nothing_changed=True)
    lines = error._render_traceback_()
    assert "RUNBOOK FAILED" in lines[0] and "bucket 'x' is missing" in lines[0]
    assert "Nothing was changed." in lines[1]
    assert "create it" in lines[2]


def test_check_unwraps_results_or_fails_loudly() -> None:
    class Result:
        def __init__(self, success: bool, data: Any, error: Any) -> None:
            self.success, self.data, self.error = success, data, error

    assert rb.check(Result(True, [1], None), "list") == [1]
    with pytest.raises(RunbookError, match="create bucket 'x' failed: ValueError: boom"):
        rb.check(Result(False, None, ValueError("boom")), "create bucket 'x'")


def test_formatting() -> None:
    assert rb.format_bytes(1536) == "1.5 KiB"
    assert rb.format_duration(0.0123) == "12 ms"
    assert rb.format_duration(75.2) == "1m 15s"


def test_local_stack_dir_is_shared_by_the_notebooks_folder_and_the_project_root(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HYBRIDKIT_LOCAL_DIR", raising=False)
    (tmp_path / "pyproject.toml").write_text("")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    # No stack yet: the project's folder, not the notebooks folder, gets it.
    assert rb.local_stack_dir(notebooks) == tmp_path / ".hybridkit" / "local"
    (tmp_path / ".hybridkit" / "local").mkdir(parents=True)
    assert rb.local_stack_dir(notebooks) == tmp_path / ".hybridkit" / "local"
    monkeypatch.setenv("HYBRIDKIT_LOCAL_DIR", str(tmp_path / "elsewhere"))
    assert rb.local_stack_dir(notebooks) == tmp_path / "elsewhere"
