"""Issue 18's throughput matrix against one target, interleaved, in one command (not a test).

Workloads and methods (each run is its own process, timed from outside, start-up included,
as a user would see it; client peak RSS is the child's ``VmHWM``):

* one large file (``--big-mb``, default 1 GiB): ``curl -T`` (the ceiling), ``hybridkit storage
  cp --standard`` and ``hybridkit storage cp --resumable``;
* a folder of small files (``--files`` x 16 KiB, default 2,000): storage3 (supabase-py) in a
  sequential loop, storage3 with 8 threads around one client, and ``hybridkit storage cp -r``
  with its default settings;
* optionally (``--scale-files 20000``) the same ``cp -r`` on a bigger folder: its rate against
  the small folder's, and its RSS.

Methods run A/B/C, A/B/C ... for ``--rounds`` rounds so that a drifting machine hits them
alike; each large-file run starts after ``sync``. The target is a local stack started here on
a free port with its own state folder, or the project named by SUPABASE_URL and
SUPABASE_SERVICE_ROLE_KEY.

Usage::

    python bench/throughput_matrix.py                       # 1 GiB, 2,000 files, 3 rounds
    python bench/throughput_matrix.py --big-mb 256 --files 500 --rounds 2
    python bench/throughput_matrix.py --scale-files 20000   # adds the scale check
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
SMALL = 16 * 1024
HERE = Path(__file__).resolve()
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- storage3 children


def _storage3_child(folder: str, bucket: str, prefix: str, threads: str) -> None:
    """Upload every file of ``folder`` with supabase-py, as a user's own script would."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from supabase import ClientOptions, create_client

    n = int(threads)
    http = httpx.Client(
        timeout=120, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)
    )
    client = create_client(
        os.environ["SUPABASE_URL"],
        os.environ["SUPABASE_SERVICE_ROLE_KEY"],
        options=ClientOptions(httpx_client=http),
    )
    store = client.storage.from_(bucket)
    names = sorted(os.listdir(folder))

    def one(name: str) -> None:
        with open(os.path.join(folder, name), "rb") as fh:
            store.upload(f"{prefix}/{name}", fh, {"content-type": "application/octet-stream"})

    if n <= 1:
        for name in names:
            one(name)
    else:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, names))


# --------------------------------------------------------------------------- running a child


def _hwm(pid: int) -> int:
    """Peak resident set size (KiB) of a live process, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_kib: int


def _run(argv: list[str], env: dict[str, str]) -> Run:
    """Run ``argv``, timed from outside; its peak RSS polled from /proc until it exits.

    ``VmHWM`` is the exec'd program's own high-water mark (``ru_maxrss`` would include the
    forked copy of this process from before ``exec``).
    """
    # stderr to a file, not a pipe: a progress bar must never fill a pipe nobody reads.
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _hwm(process.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {err.read()[-2000:]}")
    return Run(seconds, peak)


# --------------------------------------------------------------------------- the matrix


@contextmanager
def _target(work: Path) -> Iterator[tuple[str, str]]:
    url, key = os.environ.get("SUPABASE_URL"), os.environ.get("SUPABASE_SERVICE_ROLE_KEY")
    if url and key:
        yield url, key
        return
    from hybridkit.local import LocalStack

    with LocalStack(dir=work / "stack", port=0) as stack:
        yield stack.url, stack.service_role_key


def _write_big(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(MiB, left)
            fh.write(block[:n])
            left -= n


def _write_folder(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"f{i:06d}.bin").write_bytes(os.urandom(SMALL))


Method = Callable[[str], list[str]]


def _big_methods(path: Path, url: str, bucket: str, headers: Path) -> dict[str, Method]:
    hk = str(BIN / "hybridkit")
    return {
        "curl": lambda key: [
            "curl",
            "-sS",
            "--fail-with-body",
            "-o",
            "/dev/null",
            "-H",
            f"@{headers}",
            "-X",
            "POST",
            "-T",
            str(path),
            f"{url}/storage/v1/object/{bucket}/{key}",
        ],
        "hybridkit standard": lambda key: [
            hk,
            "storage",
            "cp",
            "--standard",
            str(path),
            f"ss:///{bucket}/{key}",
        ],
        "hybridkit resumable": lambda key: [
            hk,
            "storage",
            "cp",
            "--resumable",
            str(path),
            f"ss:///{bucket}/{key}",
        ],
    }


def _small_methods(folder: Path, bucket: str) -> dict[str, Method]:
    py, hk = sys.executable, str(BIN / "hybridkit")
    child = [py, str(HERE), "--storage3-child", str(folder), bucket]
    return {
        "storage3 sequential": lambda prefix: [*child, prefix, "1"],
        "storage3 8 threads": lambda prefix: [*child, prefix, "8"],
        "hybridkit cp -r": lambda prefix: [
            hk,
            "storage",
            "cp",
            "-r",
            str(folder),
            f"ss:///{bucket}/{prefix}",
        ],
    }


def _interleave(
    methods: dict[str, Method],
    rounds: int,
    env: dict[str, str],
    after: Callable[[str], None],
    sync: bool,
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in methods}
    for r in range(rounds):
        for i, (name, argv) in enumerate(methods.items()):
            if sync:
                os.sync()
            dest = f"r{r}m{i}-{uuid.uuid4().hex[:6]}"
            runs[name].append(_run(argv(dest), env))
            after(dest)
            print(f"  round {r + 1}: {name}: {runs[name][-1].seconds:.2f}s", file=sys.stderr)
    return runs


def _table(
    title: str,
    runs: dict[str, list[Run]],
    amount: float,
    unit: str,
    scale: float,
    yardstick: str,
) -> list[str]:
    def rate(run: Run) -> float:
        return amount / run.seconds / scale

    means = {name: statistics.mean(rate(r) for r in rows) for name, rows in runs.items()}
    out = [
        f"\n{title}",
        f"{'method':<22}{unit + ' mean':>12}{'vs ' + yardstick:>22}{'peak RSS':>11}   runs",
    ]
    for name, rows in runs.items():
        ratio = means[name] / means[yardstick]
        peak = max(r.rss_kib for r in rows) / 1024
        each = ", ".join(f"{rate(r):.0f}" for r in rows)
        out.append(f"{name:<22}{means[name]:>12.1f}{ratio:>21.2f}x{peak:>8.0f} MB   {each}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=1024, help="large file (MiB); 0 skips")
    parser.add_argument("--files", type=int, default=2000, help="16 KiB files; 0 skips")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--scale-files", type=int, default=0, help="also cp -r a folder this big (e.g. 20000)"
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (kept if given)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="hybridkit-matrix-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        _matrix(args, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def _matrix(args: argparse.Namespace, work: Path) -> None:
    from hybridkit.config import Settings
    from hybridkit.storage import StorageManager

    with _target(work) as (url, key):
        env = {
            **os.environ,
            "SUPABASE_URL": url,
            "SUPABASE_SERVICE_ROLE_KEY": key,
            # TUS upload URLs are remembered in the scratch folder, not the user's cache.
            "XDG_CACHE_HOME": str(work / "cache"),
        }
        settings = Settings.load(env={}, env_file=None, supabase_url=url, service_role_key=key)
        bucket = f"matrix-{uuid.uuid4().hex[:8]}"
        lines = [f"target: {url}  (cpus: {os.cpu_count()}, rounds: {args.rounds})"]
        headers = work / "curl.headers"
        # Headers from a file: the key never appears on a command line.
        headers.write_text(
            f"Authorization: Bearer {key}\napikey: {key}\n"
            "Content-Type: application/octet-stream\nx-upsert: true\n"
        )
        with StorageManager(settings, resume_dir=None, max_connections=16) as manager:
            manager.create_bucket(bucket)
            try:
                if args.big_mb:
                    size = args.big_mb * MiB
                    path = work / "big.bin"
                    _write_big(path, size)
                    runs = _interleave(
                        _big_methods(path, url, bucket, headers),
                        args.rounds,
                        env,
                        lambda dest: manager.remove(bucket, [dest]),
                        sync=True,
                    )
                    path.unlink()
                    lines += _table(
                        f"one file of {args.big_mb} MiB",
                        runs,
                        size,
                        "MiB/s",
                        MiB,
                        "curl",
                    )
                small_rate = 0.0
                if args.files:
                    folder = work / "small"
                    _write_folder(folder, args.files)
                    runs = _interleave(
                        _small_methods(folder, bucket),
                        args.rounds,
                        env,
                        lambda dest: None,
                        sync=False,
                    )
                    lines += _table(
                        f"{args.files} files of 16 KiB",
                        runs,
                        args.files,
                        "files/s",
                        1,
                        "storage3 8 threads",
                    )
                    small_rate = statistics.mean(
                        args.files / r.seconds for r in runs["hybridkit cp -r"]
                    )
                if args.scale_files:
                    lines += _scale(args.scale_files, work, bucket, env, small_rate)
            finally:
                manager.delete_bucket(bucket, force=True)
        print("\n".join(lines))


def _scale(
    count: int, work: Path, bucket: str, env: dict[str, str], small_rate: float
) -> list[str]:
    folder = work / "scale"
    _write_folder(folder, count)
    methods = _small_methods(folder, bucket)
    run = _run(methods["hybridkit cp -r"](f"scale-{uuid.uuid4().hex[:6]}"), env)
    rate = count / run.seconds
    versus = f", {rate / small_rate:.0%} of the small folder's rate" if small_rate else ""
    shutil.rmtree(folder)
    return [
        f"\n{count} files of 16 KiB, hybridkit cp -r once: {rate:.1f} files/s{versus}, "
        f"peak RSS {run.rss_kib / 1024:.0f} MB"
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--storage3-child":
        _storage3_child(*sys.argv[2:6])
    else:
        main()
