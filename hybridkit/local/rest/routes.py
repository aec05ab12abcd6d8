"""HTTP handling for the PostgREST subset: headers and bodies in, PostgREST's answers out.

Every request runs in one transaction on a connection logged in as
``authenticator`` (as PostgREST does), switched to the JWT's role with the
request's claims set, so row-level security decides as on Supabase. GET and
HEAD run ``READ ONLY`` transactions. Errors become PostgREST's JSON error object
with its status; a failure after a write rolls the write back.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hybridkit.local.auth import JWTError, bearer_token, verify
from hybridkit.local.db import Database, Identity
from hybridkit.local.rest.catalog import (
    Function,
    RequestContext,
    find_functions,
    find_relation,
    request_context,
)
from hybridkit.local.rest.compose import Relation, filters_from_query
from hybridkit.local.rest.embed import EmbedPlan, plan_embeds, split_embed_options
from hybridkit.local.rest.errors import ApiError, from_pg_error
from hybridkit.local.rest.parsing import (
    Condition,
    Prefer,
    non_negative_int,
    parse_order,
    parse_prefer,
    parse_range,
    parse_select,
    parse_select_tree,
    split_top_level,
)
from hybridkit.local.rest.statements import (
    Returning,
    RpcCall,
    count_sql,
    delete_sql,
    insert_sql,
    read_sql,
    rpc_sql,
    update_sql,
)

__all__ = ["RestRoutes"]

_RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
_JSON = "application/json; charset=utf-8"
_OBJECT = "application/vnd.pgrst.object+json"
_ARRAY = "application/vnd.pgrst.array+json"
_CSV = "text/csv"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the role, claims and raw token from the JWT."""

    role: str
    claims: Mapping[str, Any]
    token: str | None

    @property
    def anonymous(self) -> bool:
        return self.role == "anon"


@dataclass(frozen=True)
class Accept:
    """The representation asked for in ``Accept``."""

    kind: str  # "array" | "object" | "csv"
    strip_nulls: bool = False


def _accept(header: str | None) -> Accept:
    if not header:
        return Accept("array")
    for raw in header.split(","):
        media, _, options = raw.strip().partition(";")
        media = media.strip().lower()
        strip = "nulls=stripped" in options.replace(" ", "").lower()
        if media == _OBJECT:
            return Accept("object", strip)
        if media == _ARRAY:
            return Accept("array", strip)
        if media in ("application/json", "*/*", "application/*"):
            return Accept("array")
        if media == _CSV:
            return Accept("csv")
    raise ApiError.not_acceptable(header)


async def _root(request: Request) -> Response:
    # PostgREST answers the root with its OpenAPI document; a stub is enough here.
    return JSONResponse({"swagger": "2.0", "info": {"title": "hybridkit local PostgREST"}})


@dataclass
class Outcome:
    """A finished statement: the JSON body text (or None), rows and an optional total."""

    body: str | None
    rows: int
    total: int | None = None


class RestRoutes:
    """The endpoints; one instance per app, sharing one connection pool."""

    def __init__(self, database: Database, jwt_secret: str, *, max_rows: int | None = 1000) -> None:
        self.database = database
        self._secret = jwt_secret
        self.max_rows = max_rows

    # -- identity ------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Every route: the root, ``/rpc/{name}`` and ``/{table}``."""
        return [
            Route("/", _root, methods=["GET", "HEAD"]),
            Route("/rpc/{name}", self.rpc, methods=["GET", "HEAD", "POST"]),
            Route("/{table}", self.table, methods=["GET", "HEAD", "POST", "PATCH", "DELETE"]),
        ]

    def _caller(self, request: Request) -> Caller:
        token = bearer_token(request.headers)
        if token is None and "apikey" not in request.query_params:
            # The gateway (Kong) in front of PostgREST refuses a request without a key.
            raise ApiError(
                401,
                "",
                "No API key found in request",
                hint="No `apikey` request header or url param was found.",
            )
        if token is None:
            return Caller("anon", {"role": "anon"}, None)
        try:
            claims = verify(token, self._secret)
        except JWTError as exc:
            if "exp" in exc.message:
                raise ApiError.jwt("JWT expired", "PGRST303") from None
            raise ApiError.jwt(exc.message) from None
        role = claims.get("role")
        if role is None:
            role = "anon"
        if not isinstance(role, str) or not role:
            raise ApiError.jwt("JWT claim 'role' must be a string", "PGRST303")
        return Caller(role, claims, token)

    def _capped(self, limit: int | None) -> int | None:
        """``limit`` within max-rows (PostgREST's cap on what one read returns)."""
        if self.max_rows is None:
            return limit
        return self.max_rows if limit is None else min(limit, self.max_rows)

    def _identity(self, request: Request, caller: Caller, ctx: RequestContext) -> Identity:
        settings = {"statement_timeout": ctx.statement_timeout} if ctx.statement_timeout else {}
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Identity(
            role=caller.role,
            claims=caller.claims,
            token=caller.token,
            method=request.method,
            path=request.url.path,
            headers=headers,
            settings=settings,
        )

    # -- entry points -----------------------------------------------------------------------

    async def table(self, request: Request) -> Response:
        return await self._answer(request, self._table)

    async def rpc(self, request: Request) -> Response:
        return await self._answer(request, self._rpc)

    async def _answer(
        self, request: Request, handler: Callable[[Request, Caller], Awaitable[Response]]
    ) -> Response:
        """Authenticate, run ``handler`` and render any failure as PostgREST's error."""
        caller: Caller | None = None
        try:
            caller = self._caller(request)
            return await handler(request, caller)
        except ApiError as exc:
            return exc.response()
        except psycopg.Error as exc:
            anonymous = caller is None or caller.anonymous
            return from_pg_error(exc, anonymous=anonymous).response()

    # -- shared steps -------------------------------------------------------------------------

    async def _begin(
        self, conn: AsyncConnection[DictRow], request: Request, caller: Caller, read_only: bool
    ) -> tuple[RequestContext, str]:
        if read_only:
            # Must come first: after the first query a transaction cannot change its mode.
            await conn.execute("SET TRANSACTION READ ONLY")
        ctx = await request_context(conn, caller.role)
        header = "accept-profile" if request.method in ("GET", "HEAD") else "content-profile"
        schema = request.headers.get(header) or ctx.exposed_schemas[0]
        if schema not in ctx.exposed_schemas:
            raise ApiError.schema_not_exposed(list(ctx.exposed_schemas))
        return ctx, schema

    async def _body(self, request: Request) -> Any:
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.split(";")[0].strip().lower()
        if media not in ("application/json", "", "application/vnd.pgrst.object+json"):
            raise ApiError.unsupported_media_type(content_type)
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError.invalid_body("Empty or invalid json") from None

    # -- tables -----------------------------------------------------------------------------------

    async def _table(self, request: Request, caller: Caller) -> Response:
        name = request.path_params["table"]
        method = request.method
        query = request.query_params
        items = list(query.multi_items())
        accept = _accept(request.headers.get("accept"))
        prefer = parse_prefer(request.headers.getlist("prefer"))
        select, embeds = parse_select_tree(query.get("select"))
        root_items, embed_options = split_embed_options(items, _RESERVED)
        conditions = filters_from_query(root_items, _RESERVED)
        order = parse_order(query["order"]) if query.get("order") else ()
        limit = non_negative_int("limit", query)
        offset = non_negative_int("offset", query)
        if method in ("GET", "HEAD"):
            ranged = parse_range(request.headers.get("range"))
            if ranged is not None:
                offset = ranged[0] if offset is None else offset
                limit = ranged[1] if limit is None else limit
            limit = self._capped(limit)
        body = await self._body(request) if method in ("POST", "PATCH") else None
        if method in ("PATCH", "DELETE") and (limit is not None or offset):
            raise ApiError.parse(
                "limit/offset on PATCH and DELETE are not supported by the local stack",
                "filter the rows to change instead",
            )
        async with self.database.transaction(None) as conn:
            ctx, schema = await self._begin(conn, request, caller, method in ("GET", "HEAD"))
            rel = await find_relation(conn, schema, name)
            if rel is None:
                raise ApiError.table_not_found(schema, name)
            reading = method in ("GET", "HEAD")
            represent = not (
                prefer.return_ in ("minimal", "headers-only") and "select" not in query
            )
            plans: list[EmbedPlan] = []
            if reading:
                plans, conditions = await plan_embeds(
                    conn, schema, rel, embeds, embed_options, conditions
                )
            elif represent:
                # Embeds and their options shape the representation only, never the write.
                plans, _ = await plan_embeds(conn, schema, rel, embeds, embed_options, ())
            await Database.set_identity(conn, self._identity(request, caller, ctx))
            if reading:
                outcome = await self._read(
                    conn, rel, select, conditions, order, limit, offset, prefer, plans
                )
                return self._read_response(request, outcome, accept, offset or 0, prefer)
            returning = Returning(select, order, plans) if represent else None
            if method == "POST":
                outcome = await self._insert(conn, rel, body, query, prefer, returning)
            elif method == "PATCH":
                outcome = await self._update(conn, rel, body, query, conditions, returning)
            else:
                outcome = await self._delete(conn, rel, conditions, returning)
            self._check_affected(outcome, prefer)
            if accept.kind == "object" and returning is not None and outcome.rows != 1:
                raise ApiError.singular(outcome.rows)  # rolls the write back, as PostgREST does
        status = 201 if method == "POST" else (200 if returning is not None else 204)
        return self._write_response(outcome, accept, prefer, status, returning is not None)

    async def _read(
        self,
        conn: AsyncConnection[DictRow],
        rel: Relation,
        select: Sequence[Any],
        conditions: Sequence[Condition],
        order: Sequence[Any],
        limit: int | None,
        offset: int | None,
        prefer: Prefer,
        embeds: Sequence[EmbedPlan] = (),
    ) -> Outcome:
        stmt, params = read_sql(
            rel, select, conditions, order, limit=limit, offset=offset, embeds=embeds
        )
        row = await (await conn.execute(stmt, params)).fetchone()
        assert row is not None
        total: int | None = None
        if prefer.count is not None:
            # planned and estimated are answered exactly: the local tables are small.
            count_stmt, count_params = count_sql(rel, conditions, embeds)
            counted = await (await conn.execute(count_stmt, count_params)).fetchone()
            total = int(counted["total"]) if counted else 0
        return Outcome(str(row["body"]), int(row["n"]), total)

    async def _insert(
        self,
        conn: AsyncConnection[DictRow],
        rel: Relation,
        body: Any,
        query: Mapping[str, str],
        prefer: Prefer,
        returning: Returning | None,
    ) -> Outcome:
        if isinstance(body, dict):
            rows: list[dict[str, Any]] = [body]
        elif isinstance(body, list) and all(isinstance(r, dict) for r in body):
            rows = body
        else:
            raise ApiError.invalid_body("Empty or invalid json")
        if not rows:
            return Outcome("[]", 0, 0)
        if query.get("columns"):
            columns = _column_list(query["columns"])
        else:
            first = list(rows[0])
            if any(set(r) != set(first) for r in rows[1:]):
                raise ApiError.invalid_body("All object keys must match")
            columns = first
        on_conflict = _column_list(query["on_conflict"]) if query.get("on_conflict") else []
        stmt, params = insert_sql(
            rel,
            rows,
            columns,
            resolution=prefer.resolution,
            on_conflict=on_conflict,
            returning=returning,
            missing_default=prefer.missing == "default",
        )
        return await self._run_write(conn, stmt, params, returning)

    async def _update(
        self,
        conn: AsyncConnection[DictRow],
        rel: Relation,
        body: Any,
        query: Mapping[str, str],
        conditions: Sequence[Condition],
        returning: Returning | None,
    ) -> Outcome:
        if not isinstance(body, dict):
            raise ApiError.invalid_body("Empty or invalid json")
        columns = _column_list(query["columns"]) if query.get("columns") else list(body)
        if not columns:
            return Outcome("[]", 0, 0)
        if not conditions:
            # Supabase loads pg-safeupdate for the API: a bare UPDATE is refused.
            raise ApiError(400, "21000", "UPDATE requires a WHERE clause")
        stmt, params = update_sql(rel, body, columns, conditions, returning=returning)
        return await self._run_write(conn, stmt, params, returning)

    async def _delete(
        self,
        conn: AsyncConnection[DictRow],
        rel: Relation,
        conditions: Sequence[Condition],
        returning: Returning | None,
    ) -> Outcome:
        if not conditions:
            raise ApiError(400, "21000", "DELETE requires a WHERE clause")
        stmt, params = delete_sql(rel, conditions, returning=returning)
        return await self._run_write(conn, stmt, params, returning)

    @staticmethod
    async def _run_write(
        conn: AsyncConnection[DictRow],
        stmt: sql.Composed,
        params: dict[str, Any],
        returning: Returning | None,
    ) -> Outcome:
        cursor = await conn.execute(stmt, params)
        if returning is None:
            rows = max(cursor.rowcount, 0)
            return Outcome(None, rows, rows)
        row = await cursor.fetchone()
        assert row is not None
        return Outcome(str(row["body"]), int(row["n"]), int(row["n"]))

    @staticmethod
    def _check_affected(outcome: Outcome, prefer: Prefer) -> None:
        if (
            prefer.handling == "strict"
            and prefer.max_affected is not None
            and outcome.rows > prefer.max_affected
        ):
            raise ApiError(
                400,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                details=f"The query affects {outcome.rows} rows",
            )

    # -- responses ------------------------------------------------------------------------------

    def _render(self, outcome: Outcome, accept: Accept) -> tuple[str, str]:
        text = outcome.body or "[]"
        if accept.kind == "csv":
            return _to_csv(json.loads(text)), "text/csv; charset=utf-8"
        if accept.kind == "object":
            if outcome.rows != 1:
                raise ApiError.singular(outcome.rows)
            value = json.loads(text)[0]
            if accept.strip_nulls:
                value = _strip_nulls(value)
            return json.dumps(value), _OBJECT + "; charset=utf-8"
        if accept.strip_nulls:
            return json.dumps(_strip_nulls(json.loads(text))), _JSON
        return text, _JSON

    def _read_response(
        self, request: Request, outcome: Outcome, accept: Accept, offset: int, prefer: Prefer
    ) -> Response:
        total = outcome.total
        if total is not None and offset > total:
            raise ApiError.invalid_range(
                f"An offset of {offset} was requested, but there are only {total} rows."
            )
        shown = "*" if total is None else str(total)
        if outcome.rows == 0:
            content_range = f"*/{shown}"
        else:
            content_range = f"{offset}-{offset + outcome.rows - 1}/{shown}"
        status = 200
        if total is not None and outcome.rows < total:
            status = 206
        text, media = self._render(outcome, accept)
        headers = {"Content-Range": content_range}
        if prefer.count:
            headers["Preference-Applied"] = f"count={prefer.count}"
        if request.method == "HEAD":
            return Response(None, status_code=status, headers=headers, media_type=media)
        return Response(text, status_code=status, headers=headers, media_type=media)

    def _write_response(
        self, outcome: Outcome, accept: Accept, prefer: Prefer, status: int, represent: bool
    ) -> Response:
        shown = str(outcome.total) if prefer.count and outcome.total is not None else "*"
        headers = {"Content-Range": f"*/{shown}"}
        applied = [f"return={prefer.return_}"] if prefer.return_ else []
        if prefer.resolution:
            applied.append(f"resolution={prefer.resolution}")
        if prefer.count:
            applied.append(f"count={prefer.count}")
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        if not represent:
            return Response(None, status_code=status, headers=headers)
        text, media = self._render(outcome, accept)
        return Response(text, status_code=status, headers=headers, media_type=media)

    # -- rpc ---------------------------------------------------------------------------------------

    async def _rpc(self, request: Request, caller: Caller) -> Response:
        name = request.path_params["name"]
        method = request.method
        query = request.query_params
        accept = _accept(request.headers.get("accept"))
        prefer = parse_prefer(request.headers.getlist("prefer"))
        body = await self._body(request) if method == "POST" else None
        if body is None and method == "POST":
            body = {}
        limit = self._capped(non_negative_int("limit", query))
        offset = non_negative_int("offset", query)
        async with self.database.transaction(None) as conn:
            ctx, schema = await self._begin(conn, request, caller, method in ("GET", "HEAD"))
            functions = await find_functions(conn, schema, name)
            call, filter_items = _choose(functions, schema, name, method, body, query, prefer)
            select = parse_select(query.get("select"))
            conditions = filters_from_query(filter_items, _RESERVED)
            order = parse_order(query["order"]) if query.get("order") else ()
            await Database.set_identity(conn, self._identity(request, caller, ctx))
            stmt, params = rpc_sql(call, select, conditions, order, limit=limit, offset=offset)
            cursor = await conn.execute(stmt, params)
            fn = call.function
            if fn.returns_void:
                return Response(None, status_code=204)
            row = await cursor.fetchone()
            assert row is not None
            outcome = Outcome(str(row["body"]), int(row["n"]))
            if prefer.count and (fn.returns_set or fn.returns_rows):
                count_stmt, count_params = rpc_sql(
                    call, select, conditions, order, limit=None, offset=None, count=True
                )
                counted = await (await conn.execute(count_stmt, count_params)).fetchone()
                outcome.total = int(counted["total"]) if counted else 0
        return self._rpc_response(request, fn, outcome, accept, offset or 0, prefer)

    def _rpc_response(
        self,
        request: Request,
        fn: Function,
        outcome: Outcome,
        accept: Accept,
        offset: int,
        prefer: Prefer,
    ) -> Response:
        if fn.returns_set:
            return self._read_response(request, outcome, accept, offset, prefer)
        text = outcome.body or "null"
        if fn.returns_rows:
            rows = json.loads(text)
            text = json.dumps(rows[0] if rows else None)
        media = _OBJECT + "; charset=utf-8" if accept.kind == "object" else _JSON
        if request.method == "HEAD":
            return Response(None, status_code=200, media_type=media)
        return Response(text, status_code=200, media_type=media)


def _column_list(text: str) -> list[str]:
    """``columns="a","b"`` or ``on_conflict=a,b``: names, quotes removed."""
    names: list[str] = []
    for raw in split_top_level(text):
        item = raw.strip()
        if len(item) >= 2 and item[0] == '"' and item[-1] == '"':
            item = item[1:-1].replace('""', '"')
        if not item:
            raise ApiError.parse(f'"failed to parse columns parameter ({text})"')
        names.append(item)
    return names


def _choose(
    functions: Sequence[Function],
    schema: str,
    name: str,
    method: str,
    body: Any,
    query: Any,
    prefer: Prefer,
) -> tuple[RpcCall, list[tuple[str, str]]]:
    """Pick the overload whose argument names fit the request, as PostgREST does."""
    items: list[tuple[str, str]] = list(query.multi_items())
    candidates = [k for k, _ in items if k not in _RESERVED]
    if method == "POST":
        if prefer.params == "single-object" or not isinstance(body, dict):
            for fn in functions:
                if len(fn.args) == 1 and fn.args[0].type_name in ("json", "jsonb"):
                    return RpcCall(fn, single_json=body, use_single=True), items
            raise ApiError.function_not_found(schema, name, [])
        keys = list(body)
        for fn in functions:
            names = {a.name for a in fn.args}
            required = {a.name for a in fn.args if not a.has_default}
            if set(keys) <= names and required <= set(keys):
                return RpcCall(fn, json_args=body), items
        for fn in functions:
            if (
                len(fn.args) == 1
                and fn.args[0].name == ""
                and fn.args[0].type_name
                in (
                    "json",
                    "jsonb",
                )
            ):
                return RpcCall(fn, single_json=body, use_single=True), items
        raise ApiError.function_not_found(schema, name, sorted(keys))
    best: tuple[Function, list[str]] | None = None
    for fn in functions:
        names = {a.name for a in fn.args}
        required = {a.name for a in fn.args if not a.has_default}
        used = [k for k in dict.fromkeys(candidates) if k in names]
        if required <= set(used) and (best is None or len(used) > len(best[1])):
            best = (fn, used)
    if best is None:
        raise ApiError.function_not_found(schema, name, sorted(set(candidates)))
    fn, used = best
    args: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in items:
        if key in used and key not in args:
            args[key] = value
        else:
            rest.append((key, value))
    return RpcCall(fn, text_args=args), rest


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def _to_csv(rows: Any) -> str:
    if not isinstance(rows, list) or not rows:
        return ""
    out = io.StringIO()
    names = list(rows[0])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(
            [
                ""
                if row.get(n) is None
                else (json.dumps(row[n]) if isinstance(row[n], dict | list) else row[n])
                for n in names
            ]
        )
    return out.getvalue().rstrip("\n")
