"""The request schemas of the Storage API's routes (ajv style, as fastify declares them)."""

from __future__ import annotations

from typing import Any

from hybridkit.local.storage.images import TRANSFORM_PROPERTIES
from hybridkit.local.storage.validation import SIZE_PATTERN

__all__ = [
    "BUCKET_LIST_QUERY",
    "COPY_BODY",
    "CREATE_BUCKET_BODY",
    "DELETE_OBJECTS_BODY",
    "LIST_V1_BODY",
    "LIST_V2_BODY",
    "MOVE_BODY",
    "RENDER_QUERY",
    "SIGNED_QUERY",
    "SIGN_BODY",
    "SIGN_MANY_BODY",
    "UPDATE_BUCKET_BODY",
]

Schema = dict[str, Any]

_FILE_SIZE_LIMIT: Schema = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "nullable": True},
        {"type": "string", "pattern": SIZE_PATTERN, "nullable": True},
    ]
}
_MIME_TYPES: Schema = {"type": "array", "nullable": True, "items": {"type": "string"}}
_ORDER: Schema = {"type": "string", "enum": ["asc", "desc"]}

BUCKET_LIST_QUERY: Schema = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 1},
        "offset": {"type": "integer", "minimum": 0},
        "sortColumn": {"type": "string", "enum": ["id", "name", "created_at", "updated_at"]},
        "sortOrder": _ORDER,
        "search": {"type": "string"},
    },
}

CREATE_BUCKET_BODY: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "id": {"type": "string"},
        "public": {"type": "boolean"},
        "type": {"type": "string", "enum": ["STANDARD", "ANALYTICS"]},
        "file_size_limit": _FILE_SIZE_LIMIT,
        "allowed_mime_types": _MIME_TYPES,
    },
}

UPDATE_BUCKET_BODY: Schema = {
    "type": "object",
    "properties": {
        "public": {"type": "boolean"},
        "file_size_limit": _FILE_SIZE_LIMIT,
        "allowed_mime_types": _MIME_TYPES,
    },
    # The real schema's minProperties: 1 is never reached: ajv reports this first.
    "anyOf": [
        {"required": ["public"]},
        {"required": ["file_size_limit"]},
        {"required": ["allowed_mime_types"]},
    ],
}

LIST_V1_BODY: Schema = {
    "type": "object",
    "required": ["prefix"],
    "properties": {
        "prefix": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "offset": {"type": "integer", "minimum": 0},
        "sortBy": {
            "type": "object",
            "required": ["column"],
            "properties": {
                "column": {
                    "type": "string",
                    "enum": ["name", "updated_at", "created_at", "last_accessed_at"],
                },
                "order": _ORDER,
            },
        },
        "search": {"type": "string"},
    },
}

LIST_V2_BODY: Schema = {
    "type": "object",
    "properties": {
        "prefix": {"type": "string"},
        "limit": {"type": "integer", "minimum": 1},
        "cursor": {"type": "string"},
        "with_delimiter": {"type": "boolean"},
        "sortBy": {
            "type": "object",
            "required": ["column"],
            "properties": {
                "column": {"type": "string", "enum": ["name", "updated_at", "created_at"]},
                "order": _ORDER,
            },
        },
    },
}

DELETE_OBJECTS_BODY: Schema = {
    "type": "object",
    "required": ["prefixes"],
    "properties": {"prefixes": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
}

MOVE_BODY: Schema = {
    "type": "object",
    "required": ["bucketId", "sourceKey", "destinationKey"],
    "properties": {
        "bucketId": {"type": "string"},
        "sourceKey": {"type": "string"},
        "destinationBucket": {"type": "string"},
        "destinationKey": {"type": "string"},
    },
}

COPY_BODY: Schema = {
    **MOVE_BODY,
    "properties": {
        **MOVE_BODY["properties"],
        "metadata": {
            "type": "object",
            "properties": {"cacheControl": {"type": "string"}, "mimetype": {"type": "string"}},
        },
        "copyMetadata": {"type": "boolean"},
    },
}

_TRANSFORM: Schema = {"type": "object", "properties": TRANSFORM_PROPERTIES}

SIGN_BODY: Schema = {
    "type": "object",
    "required": ["expiresIn"],
    "properties": {"expiresIn": {"type": "integer", "minimum": 1}, "transform": _TRANSFORM},
}

SIGN_MANY_BODY: Schema = {
    "type": "object",
    "required": ["expiresIn", "paths"],
    "properties": {
        "expiresIn": {"type": "integer", "minimum": 1},
        "paths": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string"}},
    },
}

SIGNED_QUERY: Schema = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string"}, "download": {"type": "string"}},
}

RENDER_QUERY: Schema = {
    "type": "object",
    "properties": {**TRANSFORM_PROPERTIES, "download": {"type": "string"}},
}
