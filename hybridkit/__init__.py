"""hybridkit: a Jupyter-based operations kit for Supabase.

Public names are re-exported here; ``tests/unit/test_public_api.py`` pins ``__all__``.
"""

from __future__ import annotations

import importlib
from typing import Any

from hybridkit.config import Secret, Settings
from hybridkit.errors import (
    AuthError,
    CancelledError,
    CircuitOpenError,
    ConfigError,
    ConflictError,
    HybridError,
    InvalidInputError,
    LocalStackError,
    MigrationError,
    NonRetryableError,
    NotFoundError,
    QuotaError,
    RetriesExhausted,
    RetryableError,
)

__version__ = "0.1.0"

# The heavier parts (supabase-py, httpx, psycopg) load on first use, so that
# `import hybridkit` and the CLI start quickly (PEP 562).
_LAZY: dict[str, str] = {
    "CircuitBreaker": "hybridkit.retry",
    "Database": "hybridkit.database",
    "HybridOperationResult": "hybridkit.manager",
    "HybridSupabaseManager": "hybridkit.manager",
    "ManagementClient": "hybridkit.management",
    "MigrationReport": "hybridkit.database.checks",
    "Progress": "hybridkit.progress",
    "ProgressTracker": "hybridkit.progress",
    "RetryPolicy": "hybridkit.retry",
    "SchemaDiff": "hybridkit.database.schema_diff",
    "SqlResult": "hybridkit.database",
    "StorageManager": "hybridkit.storage",
    "TqdmProgress": "hybridkit.progress",
    "TransferReport": "hybridkit.storage",
    "UploadReport": "hybridkit.storage",
    "VerifyReport": "hybridkit.storage",
    "apply_migrations": "hybridkit.database.migrations",
    "check": "hybridkit.database.checks",
    "migration_drift": "hybridkit.database.shadow",
    "migration_status": "hybridkit.database.migrations",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hybridkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthError",
    "CancelledError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigError",
    "ConflictError",
    "Database",
    "HybridError",
    "HybridOperationResult",
    "HybridSupabaseManager",
    "InvalidInputError",
    "LocalStackError",
    "ManagementClient",
    "MigrationError",
    "MigrationReport",
    "NonRetryableError",
    "NotFoundError",
    "Progress",
    "ProgressTracker",
    "QuotaError",
    "RetriesExhausted",
    "RetryPolicy",
    "RetryableError",
    "SchemaDiff",
    "Secret",
    "Settings",
    "SqlResult",
    "StorageManager",
    "TqdmProgress",
    "TransferReport",
    "UploadReport",
    "VerifyReport",
    "__version__",
    "apply_migrations",
    "check",
    "migration_drift",
    "migration_status",
]
