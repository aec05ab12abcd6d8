"""``hybridkit demo``: the quick start's main job, end to end through supabase-py.

Starts (or attaches to) the local stack unless SUPABASE_URL is set, then creates
a bucket, uploads a file, lists it and checks the bytes came back intact.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hybridkit.cli._common import target_settings

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="create a bucket, upload a file and list it (local stack by default)",
    )
    parser.add_argument("--bucket", default="hybridkit-demo", help="bucket to use")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    import httpx
    from supabase import ClientOptions, create_client

    settings = target_settings()
    print(f"target: {settings.supabase_url}")
    settings.require("supabase_url", "service_role_key")
    assert settings.supabase_url is not None and settings.service_role_key is not None
    print(f"key:    {settings.key_role} (not shown)")

    with httpx.Client(timeout=httpx.Timeout(60, connect=10)) as http:
        client = create_client(
            settings.supabase_url,
            settings.service_role_key.get_secret_value(),
            options=ClientOptions(httpx_client=http),
        )
        storage = client.storage
        existing = {b.id for b in storage.list_buckets()}
        if args.bucket not in existing:
            storage.create_bucket(args.bucket, options={"public": False})
            print(f"created bucket {args.bucket!r}")
        else:
            print(f"bucket {args.bucket!r} already exists")

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "hello.csv"
            path.write_text("id,name\n1,ada\n2,grace\n3,margaret\n")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            storage.from_(args.bucket).upload(
                "reports/hello.csv",
                str(path),
                {"content-type": "text/csv", "upsert": "true"},
            )
        print("uploaded reports/hello.csv")

        rows = storage.from_(args.bucket).list("reports")
        print(f"\n{'name':<20} {'size':>8}  {'type':<12} updated")
        for row in rows:
            meta = row.get("metadata") or {}
            print(
                f"{row['name']:<20} {meta.get('size', '-'):>8}  "
                f"{meta.get('mimetype', 'folder'):<12} {row.get('updated_at') or '-'}"
            )
        data = storage.from_(args.bucket).download("reports/hello.csv")
        ok = hashlib.sha256(data).hexdigest() == digest
        print(f"\ndownload check: {'bytes match' if ok else 'MISMATCH'}")
    return 0 if ok else 1
