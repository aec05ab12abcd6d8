"""hybridkit: a Jupyter-based operations kit for Supabase.

Public names are re-exported here; ``tests/unit/test_public_api.py`` pins ``__all__``.
"""

from __future__ import annotations

from hybridkit.config import Secret, Settings
from hybridkit.errors import (
    AuthError,
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

__all__ = [
    "AuthError",
    "CircuitOpenError",
    "ConfigError",
    "ConflictError",
    "HybridError",
    "InvalidInputError",
    "LocalStackError",
    "MigrationError",
    "NonRetryableError",
    "NotFoundError",
    "QuotaError",
    "RetriesExhausted",
    "RetryableError",
    "Secret",
    "Settings",
    "__version__",
]
