"""Pin ``hybridkit.__all__``: a change to the public API must change this test too."""

from __future__ import annotations

import importlib.metadata

import hybridkit

PUBLIC_API = [
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


def test_all_is_pinned() -> None:
    assert sorted(hybridkit.__all__) == PUBLIC_API


def test_all_is_sorted_and_unique() -> None:
    assert list(hybridkit.__all__) == sorted(set(hybridkit.__all__))


def test_every_public_name_is_importable() -> None:
    for name in hybridkit.__all__:
        assert hasattr(hybridkit, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from hybridkit import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(hybridkit.__all__)


def test_public_classes_live_in_their_modules() -> None:
    from hybridkit import config, errors

    assert hybridkit.Settings is config.Settings
    assert hybridkit.Secret is config.Secret
    for name in errors.__all__:
        assert getattr(hybridkit, name) is getattr(errors, name)


def test_lazy_names_come_from_their_modules() -> None:
    from hybridkit import manager, storage
    from hybridkit.database import checks

    assert hybridkit.HybridSupabaseManager is manager.HybridSupabaseManager
    assert hybridkit.StorageManager is storage.StorageManager
    assert hybridkit.MigrationReport is checks.MigrationReport


def test_version_matches_the_distribution() -> None:
    assert hybridkit.__version__ == importlib.metadata.version("hybridkit")
