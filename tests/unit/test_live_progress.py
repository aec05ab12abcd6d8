"""The terminal's live bar for headless runs: the kernel's feed, drawn in MiB."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hybridkit.progress import Progress
from hybridkit.run._live import LiveProgress
from hybridkit.runbook._bar import FedBar, TextBar


def test_a_fed_bar_keeps_the_text_record_and_reports_once_when_done(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines: list[str] = []
    ticks = iter(range(100))
    bar = FedBar(
        TextBar("upload", total=4 * 1024**2, out=lines.append),
        str(feed),
        interval=0.25,
        clock=lambda: next(ticks) * 0.1,
    )
    for done in (1, 2, 3, 4):
        bar(
            Progress(
                done=done * 1024**2,
                total=4 * 1024**2,
                elapsed=done,
                rate=1024**2,
                eta=None,
                finished=done == 4,
            )
        )
    bar.close()  # after a finished snapshot: no second final report
    states = [json.loads(line) for line in feed.read_text().splitlines()]
    assert [s["done"] for s in states].count(True) == 1
    assert states[-1]["n"] == 4 * 1024**2 and states[-1]["unit"] == "B"
    assert lines[-1].startswith("upload  [##########] 100%  4.0 MiB/4.0 MiB")


def test_live_progress_draws_in_place_and_leaves_one_final_line(tmp_path: Path) -> None:
    out = io.StringIO()
    with LiveProgress(out, interval=60) as live, open(live.path, "a") as feed:
        for n in (1, 2):
            feed.write(
                json.dumps(
                    {
                        "bar": "a",
                        "desc": "upload",
                        "unit": "B",
                        "n": n * 1024**2,
                        "total": 2 * 1024**2,
                        "elapsed": n * 0.5,
                        "done": n == 2,
                    }
                )
                + "\n"
            )
        feed.write('{"bar": "b", "desc": "files", "unit": "files", "n": 1, "to')  # half a line
    text = out.getvalue()
    assert "upload  [####################] 100%  2.0 MiB/2.0 MiB  in 1.0 s  (2.0 MiB/s)\n" in text
    assert "files" not in text  # a half-written line is never drawn
    assert "MB/s" not in text.replace("MiB/s", "")
    assert not Path(live.path).exists()  # the feed goes with the run


def test_text_and_tqdm_texts_show_files_and_no_rate_for_skipped_bytes() -> None:
    from hybridkit.runbook._bar import _tqdm_amounts

    lines: list[str] = []
    bar = TextBar("upload", total=2 * 1024**2, out=lines.append, clock=lambda: 1.0)
    bar(
        Progress(
            done=2 * 1024**2, total=2 * 1024**2, elapsed=1, rate=0, eta=0, finished=True,
            files_done=3, files_total=3, skipped=2 * 1024**2,
        )
    )  # fmt: skip
    assert "3/3 files" in lines[-1] and "/s" not in lines[-1]
    text = _tqdm_amounts(3 * 1024**2, 4 * 1024**2, 1.0, "B", skipped=2 * 1024**2, files="2/4 files")
    assert text.startswith("2/4 files \u00b7 3.0 MiB/4.0 MiB \u00b7 1.0 MiB/s")


def test_the_terminal_bar_shows_the_file_count_and_no_rate_for_skipped_bytes() -> None:
    out = io.StringIO()
    with LiveProgress(out, interval=60) as live, open(live.path, "a") as feed:
        state = {"bar": "a", "desc": "upload", "unit": "B", "total": 2 * 1024**2}
        feed.write(
            json.dumps(
                {
                    **state,
                    "n": 1024**2,
                    "elapsed": 0.5,
                    "done": False,
                    "files_done": 1,
                    "files_total": 3,
                    "skipped": 1024**2,
                }
            )
            + "\n"
        )
        feed.write(
            json.dumps(
                {
                    **state,
                    "n": 2 * 1024**2,
                    "elapsed": 1.0,
                    "done": True,
                    "files_done": 3,
                    "files_total": 3,
                    "skipped": 2 * 1024**2,
                }
            )
            + "\n"
        )
    final = out.getvalue().splitlines()[-1]
    assert "100%  3/3 files  2.0 MiB/2.0 MiB  in 1.0 s" in final
    assert "/s" not in final.split(" in ")[-1]  # every byte was skipped: no throughput


def test_the_text_bar_ends_on_the_final_file_count() -> None:
    lines: list[str] = []
    bar = TextBar("upload", total=4, out=lines.append, clock=lambda: 1.0)
    snap = dict(total=4, elapsed=1, rate=0, eta=0, files_total=3)
    bar(Progress(done=4, files_done=2, **snap))  # all bytes in, one answer still out
    bar(Progress(done=4, files_done=3, finished=True, **snap))
    assert "2/3 files" in lines[-2] and " in " not in lines[-2]
    assert "3/3 files  in" in lines[-1] and sum(" in " in line for line in lines) == 1
