"""PostgREST's wire errors: ``{"code", "message", "details", "hint"}`` with its statuses.

Each error the local PostgREST subset can answer is built here, so fidelity lives
in one place (moto's ``exceptions.py``). PostgreSQL errors are mapped by SQLSTATE
exactly as PostgREST maps them (``42501`` is 401 for the anonymous role and 403
for everyone else, ``23505`` is 409, ``P0001`` is 400, ...).
"""

from __future__ import annotations

from typing import Any

import psycopg

from hybridkit.local.errors import WireError

__all__ = ["ERRORS", "ApiError", "from_pg_error", "pg_status"]


class ApiError(WireError):
    """An error response: HTTP status plus PostgREST's JSON error object."""

    separators = (", ", ": ")

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: str | list[dict[str, str]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status, self.code, self.message = status, code, message
        self.details, self.hint = details, hint

    @property
    def status(self) -> int:
        """The HTTP status (``http_status``)."""
        return self.http_status

    def headers(self) -> dict[str, str]:
        return {"Proxy-Status": f"PostgREST; error={self.code}"}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }

    @classmethod
    def of(cls, kind: str, **fields: str | int) -> ApiError:
        """The error ``kind`` of :data:`ERRORS`, its texts filled in with ``fields``.

        Example:
            >>> ApiError.of("table_not_found", schema="public", name="nope").code
            'PGRST205'
        """
        status, code, message, details, hint = ERRORS[kind]

        def fill(text: str | None) -> str | None:
            return None if text is None else text.format(**fields)

        return cls(status, code, message.format(**fields), details=fill(details), hint=fill(hint))

    # -- PostgREST's own codes -------------------------------------------------------

    @classmethod
    def parse(cls, message: str, details: str | None = None) -> ApiError:
        """PGRST100: the query string cannot be parsed."""
        return cls(400, "PGRST100", message, details=details)

    @classmethod
    def invalid_body(cls, message: str) -> ApiError:
        """PGRST102: the body is not the JSON PostgREST expects."""
        return cls(400, "PGRST102", message)

    @classmethod
    def unsupported_media_type(cls, content_type: str) -> ApiError:
        return cls(415, "PGRST107", f"Content-Type not acceptable: {content_type}")

    @classmethod
    def no_relationship(
        cls,
        parent: str,
        child: str,
        schema: str,
        *,
        embed_hint: str | None = None,
        suggestion: str | None = None,
    ) -> ApiError:
        """PGRST200: no foreign key joins ``parent`` and ``child`` (as the hint asks)."""
        using = f"' using the hint '{embed_hint}" if embed_hint is not None else ""
        return cls(
            400,
            "PGRST200",
            f"Could not find a relationship between '{parent}' and '{child}' in the schema cache",
            details=f"Searched for a foreign key relationship between '{parent}' and "
            f"'{child}{using}' in the schema '{schema}', but no matches were found.",
            hint=suggestion,
        )

    @classmethod
    def ambiguous_relationship(
        cls, parent: str, child: str, found: list[dict[str, str]], choices: list[str]
    ) -> ApiError:
        """PGRST201 (HTTP 300): several foreign keys fit; ``details`` lists them."""
        return cls(
            300,
            "PGRST201",
            "Could not embed because more than one relationship was found for "
            f"'{parent}' and '{child}'",
            details=found,
            hint=f"Try changing '{child}' to one of the following: {', '.join(choices)}. "
            "Find the desired relationship in the 'details' key.",
        )

    @classmethod
    def embed_unsupported(cls, name: str) -> ApiError:
        """PGRST200 for ``/rpc`` results, which the local subset does not embed into."""
        return cls(
            400,
            "PGRST200",
            f"Could not find a relationship for '{name}' in the schema cache",
            hint="the hybridkit local stack embeds resources in table reads and writes, "
            "not in /rpc results",
        )

    @classmethod
    def function_not_found(
        cls,
        schema: str,
        name: str,
        args: list[str],
        *,
        body: str | None = None,
        suggestion: str | None = None,
    ) -> ApiError:
        """PGRST202: no function with that name and those argument names.

        ``body`` is the kind of parameter a POST body could have been (``json``,
        ``text``, ``xml``, ``bytea``); ``suggestion`` names a function to try.
        """
        function = f"{schema}.{name}"
        listed = ", ".join(args)
        plural = "s" if len(args) > 1 else ""
        searched = f" with parameter{plural} {listed}" if args else " without parameters"
        shown = f"({listed})" if args else " without parameters"
        if body == "json":
            searched += " or with a single unnamed json/jsonb parameter"
        elif body is not None:
            searched, shown = f" with a single unnamed {body} parameter", ""
        return cls(
            404,
            "PGRST202",
            f"Could not find the function {function}{shown} in the schema cache",
            details=f"Searched for the function {function}{searched}, "
            "but no matches were found in the schema cache.",
            hint=f"Perhaps you meant to call the function {suggestion}" if suggestion else None,
        )

    @classmethod
    def jwt(cls, message: str, code: str = "PGRST301") -> ApiError:
        """PGRST301/PGRST303: the JWT cannot be used."""
        return cls(401, code, message)


# The errors whose texts only take values: kind -> (status, code, message, details, hint).
ERRORS: dict[str, tuple[int, str, str, str | None, str | None]] = {
    # the requested range cannot be satisfied
    "invalid_range": (416, "PGRST103", "Requested range not satisfiable", "{details}", None),
    # Accept-Profile/Content-Profile names a schema that is not exposed
    "schema_not_exposed": (
        406, "PGRST106", "The schema must be one of the following: {schemas}", None, None,
    ),
    # no representation for the requested media type
    "not_acceptable": (
        406, "PGRST107", "None of these media types are available", "{accept}", None,
    ),
    # a ``rel.col=...`` option names a resource ``select`` does not embed
    "not_embedded": (
        400, "PGRST108", "'{resource}' is not an embedded resource in this request", None,
        "Verify that '{resource}' is included in the 'select' query parameter.",
    ),
    # vnd.pgrst.object+json with zero or several rows
    "singular": (
        406, "PGRST116", "Cannot coerce the result to a single JSON object",
        "The result contains {rows} rows", None,
    ),
    # ``...rel(cols)`` on a to-many relationship (PostgREST v12)
    "spread_not_to_one": (
        400, "PGRST119", "A spread operation on '{target}' is not possible",
        "'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship", None,
    ),
    # a filter on an embedded resource itself other than is.null
    "bad_embed_filter": (
        400, "PGRST120", "Bad operator on the '{target}' embedded resource",
        "Only is null or not is null filters are allowed on embedded resources", None,
    ),
    # several overloads fit the arguments
    "ambiguous_function": (
        300, "PGRST203", "Could not choose the best candidate function between: {signatures}",
        None,
        "Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    ),
    # a payload or ``columns`` key that the table does not have
    "column_not_found": (
        400, "PGRST204", "Could not find the '{column}' column of '{table}' in the schema cache",
        None, None,
    ),
    # no table or view of that name in an exposed schema
    "table_not_found": (
        404, "PGRST205", "Could not find the table '{schema}.{name}' in the schema cache",
        None, None,
    ),
    # a select, filter or order column the relation does not have
    "undefined_column": (400, "42703", "column {table}.{column} does not exist", None, None),
}  # fmt: skip

# SQLSTATE class (two characters) or full code -> HTTP status, as PostgREST maps them.
_BY_CODE = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
    "21000": 400,
}
_BY_CLASS = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def pg_status(sqlstate: str, *, anonymous: bool) -> int:
    """The HTTP status PostgREST answers for a PostgreSQL error."""
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate in _BY_CODE:
        return _BY_CODE[sqlstate]
    return _BY_CLASS.get(sqlstate[:2], 400)


def from_pg_error(exc: psycopg.Error, *, anonymous: bool) -> ApiError:
    """Turn a PostgreSQL error into PostgREST's answer."""
    diag = exc.diag
    sqlstate = exc.sqlstate or "XX000"
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return ApiError(503, "PGRST001", "Database client error. Retrying the connection.")
    return ApiError(
        pg_status(sqlstate, anonymous=anonymous),
        sqlstate,
        message,
        details=diag.message_detail,
        hint=diag.message_hint,
    )
