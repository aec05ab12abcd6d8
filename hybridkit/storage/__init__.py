"""Buckets and objects: the storage client, in stages.

:class:`StorageManager` (:mod:`.manager`) is the public face. It builds a
:class:`StorageSession` (:mod:`.session`) — the one seam to the server: the
authenticated call, the JSON call, the counters, the auth headers — and hands it
to the stages: :mod:`.listing` (walks and object info), :mod:`.upload` (standard
and resumable), :mod:`.tus` (the TUS protocol and its resume store),
:mod:`.download` (streamed, verified, resumed downloads), :mod:`.folders` (folder
jobs) and :mod:`.transfer` (sources, checks and counters they share). The values
they return live in :mod:`.values`.
"""

from hybridkit.storage.manager import StorageManager
from hybridkit.storage.session import StorageSession, transfer_timeout
from hybridkit.storage.values import (
    BucketInfo,
    DownloadResult,
    FileResult,
    ObjectInfo,
    TransferReport,
    UploadReport,
    UploadResult,
    VerifyReport,
)

__all__ = [
    "BucketInfo",
    "DownloadResult",
    "FileResult",
    "ObjectInfo",
    "StorageManager",
    "StorageSession",
    "TransferReport",
    "UploadReport",
    "UploadResult",
    "VerifyReport",
    "transfer_timeout",
]
