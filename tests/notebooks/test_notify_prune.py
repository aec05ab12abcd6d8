"""``hybridkit run --notify`` and ``hybridkit runs prune``, as a scheduler uses them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hybridkit.run import list_runs, prune_runs

Cli = Callable[..., Any]
TOKEN = "T00000000-B00000000-XXXXXXXXXXXXsecretpath"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/{TOKEN}", received
    finally:
        server.shutdown()


def test_a_failed_run_notifies_the_webhook_without_secrets(
    cli: Cli, tmp_path: Path, unique_name: str, webhook: Any, stack: Any
) -> None:
    url, received = webhook
    out = cli(
        "run", "upload", "-p", "bucket", unique_name, "-p", "create_bucket", "false",
        "--output", str(tmp_path), "--notify", url,
    )  # fmt: skip
    assert out.returncode == 1
    assert len(received) == 1
    body = received[0]["json"]
    assert body["runbook"] == "upload" and body["outcome"] == "failed" and body["ok"] is False
    assert body["text"].startswith("hybridkit: upload FAILED")
    assert f"bucket {unique_name!r} does not exist" in body["text"]
    assert Path(body["notebook"]).is_file()
    text = json.dumps(body)
    assert stack.service_role_key not in text and "eyJ" not in text
    assert "notified 127.0.0.1 (HTTP 200)" in out.stderr
    assert TOKEN not in out.stderr + out.stdout  # the webhook's URL is itself a secret


def test_notify_on_always_reports_a_good_run_and_failure_only_does_not(
    cli: Cli, tmp_path: Path, webhook: Any
) -> None:
    url, received = webhook
    quiet = cli("run", "health_check", "--output", str(tmp_path), "--notify", url)
    assert quiet.returncode == 0, quiet.stderr
    assert received == []
    loud = cli(
        "run", "health_check", "--output", str(tmp_path), "--notify", url, "--notify-on", "always"
    )
    assert loud.returncode == 0, loud.stderr
    assert [r["json"]["outcome"] for r in received] == ["ok"]


def test_a_bad_webhook_is_refused_before_the_run_and_a_dead_one_does_not_change_the_exit(
    cli: Cli, tmp_path: Path
) -> None:
    bad = cli("run", "health_check", "--output", str(tmp_path), "--notify", "hooks.example/x")
    assert bad.returncode == 2 and "http:// or https://" in bad.stderr
    assert not (tmp_path / "health_check").exists()
    dead = cli(
        "run", "health_check", "--output", str(tmp_path), "--notify",
        f"http://127.0.0.1:9/{TOKEN}", "--notify-on", "always",
    )  # fmt: skip
    assert dead.returncode == 0, dead.stderr
    assert "notification to 127.0.0.1 failed after 3 attempts: ConnectError" in dead.stderr
    assert TOKEN not in dead.stderr


def fake_run(root: Path, runbook: str, started: str, run_id: str) -> Path:
    folder = root / runbook
    folder.mkdir(parents=True, exist_ok=True)
    stamp = started.replace("-", "").replace(":", "")
    base = folder / f"{runbook}-{stamp}-{run_id}-ok"
    base.with_suffix(".ipynb").write_text("{}")
    base.with_suffix(".json").write_text(
        json.dumps({"runbook": runbook, "run_id": run_id, "outcome": "ok", "started_at": started})
    )
    return base


def test_prune_keeps_the_newest_per_runbook_and_drops_the_old(tmp_path: Path) -> None:
    for day in range(1, 6):
        fake_run(tmp_path, "upload", f"2026-11-0{day}T10:00:00Z", f"0000000{day}")
    fake_run(tmp_path, "health_check", "2026-11-01T10:00:00Z", "aaaaaaaa")
    (tmp_path / "upload" / "notes.txt").write_text("not a run: never touched")

    planned = prune_runs(tmp_path, keep=2, dry_run=True)
    assert [r.run_id for r in planned] == ["00000003", "00000002", "00000001"]
    assert len(list_runs(tmp_path)) == 6  # a dry run changes nothing

    removed = prune_runs(tmp_path, keep=2)
    assert [r.run_id for r in removed] == ["00000003", "00000002", "00000001"]
    assert sorted(r.run_id for r in list_runs(tmp_path)) == ["00000004", "00000005", "aaaaaaaa"]
    assert not list((tmp_path / "upload").glob("*00000001*"))
    assert (tmp_path / "upload" / "notes.txt").exists()

    now = datetime(2026, 11, 3, tzinfo=UTC).timestamp()  # health_check's run is 2 days old
    assert prune_runs(tmp_path, older_than_days=3, runbook="health_check", now=now) == []
    old = prune_runs(tmp_path, older_than_days=1, runbook="health_check", now=now)
    assert [r.run_id for r in old] == ["aaaaaaaa"]


def test_runs_prune_from_the_shell(cli: Cli, tmp_path: Path) -> None:
    for day in range(1, 4):
        fake_run(tmp_path, "upload", f"2026-11-0{day}T10:00:00Z", f"0000000{day}")
    missing = cli("runs", "prune", "--output", str(tmp_path))
    assert missing.returncode == 2 and "--keep N and/or --older-than DAYS" in missing.stderr
    bad = cli("runs", "prune", "--keep", "many", "--output", str(tmp_path))
    assert bad.returncode == 2 and "--keep must be a whole number" in bad.stderr
    dry = cli("runs", "prune", "--keep", "1", "--dry-run", "--output", str(tmp_path))
    assert dry.returncode == 0 and dry.stdout.count("would remove") == 2
    unconfirmed = cli("runs", "prune", "--keep", "1", "--output", str(tmp_path))
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert len(list_runs(tmp_path)) == 3
    done = cli("runs", "prune", "upload", "--keep", "1", "--yes", "--output", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert [r.run_id for r in list_runs(tmp_path)] == ["00000003"]
    assert cli("runs", "--output", str(tmp_path)).returncode == 0
