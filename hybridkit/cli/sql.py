"""``hybridkit sql "…"``: run SQL, read-only unless ``--write``.

Read-only is checked three times (docs/security.md): one plain query by
PostgreSQL's parser, run as supabase_read_only_user, in a READ ONLY transaction
that is rolled back — so no text can write, switch role or reach the server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hybridkit.cli._common import add_db_options, target_settings
from hybridkit.errors import InvalidInputError

__all__ = ["add_arguments"]


def add_arguments(parser: Any) -> None:
    """The options of ``hybridkit sql`` (registered in :mod:`hybridkit.cli`)."""
    parser.add_argument("query", nargs="?", help="the SQL (or use --file, or '-' for stdin)")
    parser.add_argument("-f", "--file", type=Path, help="read the SQL from a file")
    parser.add_argument(
        "--write", action="store_true", help="allow writes (one transaction, several statements)"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_db_options(parser, "force the direct connection (sql) or the Management API")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from hybridkit.database import Database

    if args.file is not None:
        query = args.file.read_text(encoding="utf-8")
    elif args.query == "-":
        query = sys.stdin.read()
    elif args.query:
        query = args.query
    else:
        raise InvalidInputError('give the SQL: hybridkit sql "select 1"  (or --file FILE)')
    settings = target_settings(db_url=args.db_url)
    result = Database(settings).sql(query, read_only=not args.write, via=args.via)
    if args.json:
        print(json.dumps(list(result.rows), indent=2, default=str))
    else:
        print(result.table())
    return 0
