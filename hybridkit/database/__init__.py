"""The database side: one SQL path, the migration engine and its checks.

:mod:`.client` holds :class:`Database` (PostgREST table calls, RPC, and SQL over
the direct connection or the Management API, whichever :func:`.paths.choose_path`
picks for ``via``), :mod:`.operations` the component the manager facade composes.
The migration engine: :mod:`.migrations` (files and the ledger), :mod:`.checks`
(the check report), :mod:`.shadow` and :mod:`.schema_diff` (the schema a shadow
database builds, compared with the target's) and :mod:`.sqltext` (statement
splitting, fingerprints, read-only checks).
"""

from hybridkit.database.client import Database, Filters, SqlResult, pg_error

__all__ = ["Database", "Filters", "SqlResult", "pg_error"]
