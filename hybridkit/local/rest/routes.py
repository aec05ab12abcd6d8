"""HTTP handling for the PostgREST subset: headers and bodies in, PostgREST's answers out.

Every request runs in one transaction on a connection logged in as
``authenticator`` (as PostgREST does), switched to the JWT's role with the
request's claims set, so row-level security decides as on Supabase. GET and
HEAD run ``READ ONLY`` transactions. Errors become PostgREST's JSON error object
with its status; a failure after a write rolls the write back.
"""

from __future__ import annotations

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
    SINGLE_UNNAMED_TYPES,
    Function,
    RequestContext,
    find_functions,
    find_relation,
    function_names,
    request_context,
)
from hybridkit.local.rest.compose import Relation, filters_from_query
from hybridkit.local.rest.embed import EmbedPlan, plan_embeds, split_embed_options
from hybridkit.local.rest.errors import ApiError, from_pg_error
from hybridkit.local.rest.parsing import (
    Condition,
    Embed,
    OrderTerm,
    Prefer,
    SelectItem,
    non_negative_int,
    parse_order,
    parse_prefer,
    parse_range,
    parse_select_tree,
    split_top_level,
)
from hybridkit.local.rest.relationships import closest
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

    kind: str  # "array" | "object" | "csv" | "plan"
    strip_nulls: bool = False
    plan_format: str = "text"  # "text" | "json", for "plan"
    plan_options: tuple[str, ...] = ()  # analyze, verbose, settings, buffers, wal


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
        if media.startswith(_PLAN):
            return _plan_accept(media, options)
    raise ApiError.of("not_acceptable", accept=header)


_PLAN = "application/vnd.pgrst.plan"
_PLAN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")


def _plan_accept(media: str, parameters: str) -> Accept:
    """``application/vnd.pgrst.plan[+json|+text]; options=analyze|verbose|...``."""
    suffix = media[len(_PLAN) :]
    if suffix not in ("", "+json", "+text"):
        raise ApiError.of("not_acceptable", accept=media)
    options: tuple[str, ...] = ()
    for parameter in parameters.split(";"):
        key, _, value = parameter.strip().partition("=")
        if key.strip().lower() == "options":
            chosen = {o.strip().lower() for o in value.split("|")}
            options = tuple(o for o in _PLAN_OPTIONS if o in chosen)
    return Accept("plan", plan_format="json" if suffix == "+json" else "text", plan_options=options)


async def _planned_rows(
    conn: AsyncConnection[DictRow], count_stmt: sql.Composed, params: dict[str, Any]
) -> int:
    """The planner's estimate of the rows a count statement counts."""
    explain = sql.SQL("EXPLAIN (FORMAT JSON) {}").format(count_stmt)
    row = await (await conn.execute(explain, params)).fetchone()
    assert row is not None
    plan = next(iter(row.values()))[0]["Plan"]
    return int(plan.get("Plans", [plan])[0]["Plan Rows"])


async def _explain(
    conn: AsyncConnection[DictRow], stmt: sql.Composed, params: dict[str, Any], accept: Accept
) -> Response:
    """``EXPLAIN`` the statement a request would run, as PostgREST answers a plan media type.

    With ``analyze`` the statement runs; the caller rolls back what it wrote.
    """
    options = [sql.SQL(o.upper()) for o in accept.plan_options]
    options.append(sql.SQL("FORMAT JSON" if accept.plan_format == "json" else "FORMAT TEXT"))
    explain = sql.SQL("EXPLAIN ({}) {}").format(sql.SQL(", ").join(options), stmt)
    rows = await (await conn.execute(explain, params)).fetchall()
    plan = [next(iter(row.values())) for row in rows]
    if accept.plan_format == "json":
        text = json.dumps(plan[0] if len(plan) == 1 else plan)
    else:
        text = "\n".join(str(line) for line in plan)
    media = f'{_PLAN}+{accept.plan_format}; for="application/json"; charset=utf-8'
    return Response(text, status_code=200, media_type=media)


async def _root(request: Request) -> Response:
    # PostgREST answers the root with its OpenAPI document; a stub is enough here.
    return JSONResponse({"swagger": "2.0", "info": {"title": "hybridkit local PostgREST"}})


@dataclass
class Outcome:
    """A finished statement: the JSON body text (or None), rows and an optional total."""

    body: str | None
    rows: int
    total: int | None = None
    inserted: int | None = None  # rows an upsert inserted (None: not an upsert)


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
        self,
        conn: AsyncConnection[DictRow],
        request: Request,
        caller: Caller,
        read_only: bool,
    ) -> tuple[RequestContext, str]:
        if read_only:
            # Must come first: after the first query a transaction cannot change its mode.
            await conn.execute("SET TRANSACTION READ ONLY")
        ctx = await request_context(conn, caller.role)
        header = "accept-profile" if request.method in ("GET", "HEAD") else "content-profile"
        schema = request.headers.get(header) or ctx.exposed_schemas[0]
        if schema not in ctx.exposed_schemas:
            raise ApiError.of("schema_not_exposed", schemas=", ".join(ctx.exposed_schemas))
        # As PostgREST: the request's schema first, then Supabase's extra search path, so
        # unqualified names in functions resolve in the schema asked for.
        path = ", ".join('"' + s.replace('"', '""') + '"' for s in (schema, *_EXTRA_SEARCH_PATH))
        await conn.execute("SELECT set_config('search_path', %s, true)", [path])
        return ctx, schema

    async def _body(self, request: Request) -> Any:
        return await _json_body(request)

    # -- tables -----------------------------------------------------------------------------------

    async def _table(self, request: Request, caller: Caller) -> Response:
        name, method, query = request.path_params["table"], request.method, request.query_params
        ask = _ask(request)
        accept, prefer, select, embeds, order = (
            ask.accept, ask.prefer, ask.select, ask.embeds, ask.order
        )  # fmt: skip
        limit, offset = ask.limit, ask.offset
        root_items, embed_options = split_embed_options(ask.items, _RESERVED)
        conditions = filters_from_query(root_items, _RESERVED)
        if method in ("GET", "HEAD"):
            ranged = parse_range(request.headers.get("range"))
            if ranged is not None:
                offset = ranged[0] if offset is None else offset
                limit = ranged[1] if limit is None else limit
            limit = self._capped(limit)
        body = await self._body(request) if method in ("POST", "PATCH") else None
        if accept.kind == "plan" and method not in ("GET", "HEAD"):
            # Explaining a write would need it run and rolled back: not done locally.
            raise ApiError.of("not_acceptable", accept=request.headers.get("accept", ""))
        if method in ("PATCH", "DELETE") and (limit is not None or offset):
            raise ApiError.parse(
                "limit/offset on PATCH and DELETE are not supported by the local stack",
                "filter the rows to change instead",
            )
        async with self.database.transaction(None, rollback=prefer.tx == "rollback") as conn:
            ctx, schema = await self._begin(conn, request, caller, method in ("GET", "HEAD"))
            rel = await find_relation(conn, schema, name)
            if rel is None:
                raise ApiError.of("table_not_found", schema=schema, name=name)
            reading = method in ("GET", "HEAD")
            # Without ``Prefer: return=representation`` a write answers no body, as PostgREST.
            represent = prefer.return_ == "representation"
            plans: list[EmbedPlan] = []
            if reading:
                plans, conditions = await plan_embeds(
                    conn, schema, rel, embeds, embed_options, conditions
                )
            elif represent:
                # Embeds and their options shape the representation only, never the write.
                plans, _ = await plan_embeds(conn, schema, rel, embeds, embed_options, ())
            await Database.set_identity(conn, self._identity(request, caller, ctx))
            if reading and accept.kind == "plan":
                stmt, params = read_sql(
                    rel, select, conditions, order, limit=limit, offset=offset, embeds=plans
                )
                return await _explain(conn, stmt, params, accept)
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
                raise ApiError.of(
                    "singular", rows=outcome.rows
                )  # rolls the write back, as PostgREST does
        if method == "POST":
            # An upsert that inserted nothing updated rows: PostgREST answers 200.
            status = 200 if outcome.inserted == 0 and outcome.rows else 201
        else:
            status = 200 if returning is not None else 204
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
            count_stmt, count_params = count_sql(rel, conditions, embeds)
            if prefer.count != "planned":
                counted = await (await conn.execute(count_stmt, count_params)).fetchone()
                total = int(counted["total"]) if counted else 0
            # planned is the planner's estimate; estimated is exact below max-rows (PostgREST)
            if prefer.count == "planned" or (
                self.max_rows is not None and total is not None and total > self.max_rows
            ):
                total = await _planned_rows(conn, count_stmt, count_params)
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
        row = await (await conn.execute(stmt, params)).fetchone()
        assert row is not None
        rows = int(row["n"])
        body = None if returning is None else str(row["body"])
        inserted = None if row["inserted"] is None else int(row["inserted"])
        return Outcome(body, rows, rows, inserted)

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
                raise ApiError.of("singular", rows=outcome.rows)
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
            raise ApiError.of(
                "invalid_range",
                details=f"An offset of {offset} was requested, but there are only {total} rows.",
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
        headers = {"Content-Range": content_range, **_applied(prefer)}
        if request.method == "HEAD":
            return Response(None, status_code=status, headers=headers, media_type=media)
        return Response(text, status_code=status, headers=headers, media_type=media)

    def _write_response(
        self, outcome: Outcome, accept: Accept, prefer: Prefer, status: int, represent: bool
    ) -> Response:
        shown = str(outcome.total) if prefer.count and outcome.total is not None else "*"
        headers = {"Content-Range": f"*/{shown}", **_applied(prefer)}
        if not represent:
            return Response(None, status_code=status, headers=headers)
        text, media = self._render(outcome, accept)
        return Response(text, status_code=status, headers=headers, media_type=media)

    # -- rpc ---------------------------------------------------------------------------------------

    async def _rpc(self, request: Request, caller: Caller) -> Response:
        name, method = request.path_params["name"], request.method
        ask = _ask(request)
        items, accept, prefer, select, embeds, order = (
            ask.items, ask.accept, ask.prefer, ask.select, ask.embeds, ask.order
        )  # fmt: skip
        limit, offset = self._capped(ask.limit), ask.offset
        body = await _rpc_body(request) if method == "POST" else None
        # An explained call (with ``analyze`` it runs) keeps nothing it wrote.
        rollback = prefer.tx == "rollback" or accept.kind == "plan"
        async with self.database.transaction(None, rollback=rollback) as conn:
            ctx, schema = await self._begin(conn, request, caller, method in ("GET", "HEAD"))
            functions = await find_functions(conn, schema, name)
            try:
                call, filter_items = _choose(functions, method, body, items, prefer)
            except _NoFunction as missing:
                raise await _function_not_found(conn, schema, name, functions, missing) from None
            fn = call.function
            root_items, embed_options = split_embed_options(filter_items, _RESERVED)
            conditions = filters_from_query(root_items, _RESERVED)
            plans: list[EmbedPlan] = []
            if embeds or embed_options:
                if not fn.returns_rows:
                    raise ApiError.embed_unsupported(embeds[0].target if embeds else name)
                plans, conditions = await plan_embeds(
                    conn, schema, fn.relation(), embeds, embed_options, conditions
                )
            await Database.set_identity(conn, self._identity(request, caller, ctx))
            stmt, params = rpc_sql(
                call, select, conditions, order, limit=limit, offset=offset, embeds=plans
            )
            if accept.kind == "plan":
                return await _explain(conn, stmt, params, accept)
            cursor = await conn.execute(stmt, params)
            if fn.returns_void:
                return Response(None, status_code=204, headers=_applied(prefer))
            row = await cursor.fetchone()
            assert row is not None
            outcome = Outcome(str(row["body"]), int(row["n"]))
            if prefer.count and (fn.returns_set or fn.returns_rows):
                count_stmt, count_params = rpc_sql(
                    call,
                    select,
                    conditions,
                    order,
                    limit=None,
                    offset=None,
                    count=True,
                    embeds=plans,
                )
                counted = await (await conn.execute(count_stmt, count_params)).fetchone()
                outcome.total = int(counted["total"]) if counted else 0
            elif prefer.count:
                outcome.total = 1
            self._check_affected(outcome, prefer)
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
        headers = _applied(prefer)
        if outcome.total is not None:
            headers["Content-Range"] = f"0-0/{outcome.total}"
        body = None if request.method == "HEAD" else text
        return Response(body, status_code=200, headers=headers, media_type=media)


@dataclass(frozen=True)
class Ask:
    """What a request asks for in its query string and headers, parsed."""

    items: list[tuple[str, str]]
    accept: Accept
    prefer: Prefer
    select: tuple[SelectItem, ...]
    embeds: tuple[Embed, ...]
    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int | None


def _ask(request: Request) -> Ask:
    query = request.query_params
    select, embeds = parse_select_tree(query.get("select"))
    order = parse_order(query["order"]) if query.get("order") else ()
    return Ask(
        list(query.multi_items()),
        _accept(request.headers.get("accept")),
        _prefer(request),
        select,
        embeds,
        order,
        non_negative_int("limit", query),
        non_negative_int("offset", query),
    )


def _prefer(request: Request) -> Prefer:
    """``Prefer``; with ``handling=strict`` a preference not understood is PGRST122."""
    prefer = parse_prefer(request.headers.getlist("prefer"))
    if prefer.handling == "strict" and prefer.invalid:
        raise ApiError(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
            details="Invalid preferences: " + ", ".join(prefer.invalid),
        )
    return prefer


def _applied(prefer: Prefer) -> dict[str, str]:
    applied = prefer.applied()
    return {"Preference-Applied": applied} if applied else {}


async def _json_body(request: Request) -> Any:
    """The JSON body (``None`` when empty); another Content-Type is a 415."""
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


@dataclass(frozen=True)
class RpcBody:
    """A POST body for ``/rpc``: parsed JSON, or the raw text/xml/bytes for one parameter."""

    kind: str  # "json" | "text" | "xml" | "bytea"
    value: Any


_RAW_MEDIA = {"text/plain": "text", "text/xml": "xml", "application/octet-stream": "bytea"}


async def _rpc_body(request: Request) -> RpcBody:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    kind = _RAW_MEDIA.get(media)
    if kind is None:
        value = await _json_body(request)
        return RpcBody("json", {} if value is None else value)
    raw = await request.body()
    return RpcBody(kind, raw if kind == "bytea" else raw.decode("utf-8", "replace"))


class _NoFunction(Exception):
    """No overload fits: the argument names searched for, and the kind of body."""

    def __init__(self, keys: list[str], body: str | None) -> None:
        super().__init__(keys)
        self.keys = keys
        self.body = body


def _choose(
    functions: Sequence[Function],
    method: str,
    body: RpcBody | None,
    items: Sequence[tuple[str, str]],
    prefer: Prefer,
) -> tuple[RpcCall, list[tuple[str, str]]]:
    """Pick the overload whose argument names fit the request, as PostgREST does.

    Raises:
        ApiError: PGRST203 when several overloads fit.
        _NoFunction: when none does.
    """
    if body is not None and body.kind != "json":
        for fn in functions:
            if (
                len(fn.args) == 1
                and SINGLE_UNNAMED_TYPES.get(fn.args[0].type_name) == (_MEDIA_OF[body.kind])
            ):
                return RpcCall(fn, use_single=True, raw=body.value), list(items)
        raise _NoFunction([], body.kind)
    single = [
        fn for fn in functions if len(fn.args) == 1 and fn.args[0].type_name in ("json", "jsonb")
    ]
    if body is not None:
        value = body.value
        if prefer.params == "single-object" or not isinstance(value, dict):
            if single:
                return RpcCall(single[0], single_json=value, use_single=True), list(items)
            raise _NoFunction([], "json")
        keys = list(value)
        fits = [fn for fn in functions if _fits(fn, keys)]
        if not fits and single:
            return RpcCall(single[0], single_json=value, use_single=True), list(items)
        return RpcCall(_one(fits, keys, "json"), json_args=value), list(items)
    candidates = list(dict.fromkeys(k for k, _ in items if k not in _RESERVED))
    best: list[Function] = []
    best_used: list[str] = []
    for fn in functions:
        names = {a.name for a in fn.args}
        used = [k for k in candidates if k in names]
        if not _fits(fn, used):
            continue
        if len(used) > len(best_used):
            best, best_used = [fn], used
        elif len(used) == len(best_used):
            best.append(fn)
    fn = _one(best, candidates, None)
    args: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, text in items:
        if key in best_used and key not in args:
            args[key] = text
        else:
            rest.append((key, text))
    return RpcCall(fn, text_args=args), rest


_MEDIA_OF = {"text": "text/plain", "xml": "text/xml", "bytea": "application/octet-stream"}


def _fits(fn: Function, keys: Sequence[str]) -> bool:
    """Every required argument given, every key an argument."""
    names = {a.name for a in fn.args}
    required = {a.name for a in fn.args if not a.has_default}
    return set(keys) <= names and required <= set(keys)


def _one(fits: Sequence[Function], keys: Sequence[str], body: str | None) -> Function:
    if not fits:
        raise _NoFunction(sorted(keys), body)
    if len(fits) > 1:
        ranked = sorted(fits, key=lambda f: (len(f.args), f.signature))
        raise ApiError.of("ambiguous_function", signatures=", ".join(f.signature for f in ranked))
    return fits[0]


_RPC_HINT_SCORE = 0.75
# db-extra-search-path as Supabase sets it (after the request's own schema).
_EXTRA_SEARCH_PATH = ("public", "extensions")


async def _function_not_found(
    conn: AsyncConnection[DictRow],
    schema: str,
    name: str,
    overloads: Sequence[Function],
    missing: _NoFunction,
) -> ApiError:
    """PGRST202, with PostgREST's hint: an overload's arguments, or a close name."""
    suggestion: str | None = None
    if overloads:
        first = overloads[0]
        suggestion = f"{schema}.{name}({', '.join(a.name for a in first.args)})"
    else:
        names = [n for n in await function_names(conn, schema) if n != name]
        # PostgREST (v13+) names another function only when it is very close (score 0.75).
        close = closest(name, names, minimum=_RPC_HINT_SCORE)
        suggestion = f"{schema}.{close}" if close else None
    return ApiError.function_not_found(
        schema, name, missing.keys, body=missing.body, suggestion=suggestion
    )


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def _to_csv(rows: Any) -> str:
    """Rows as PostgREST's CSV: a header, then values; one with a comma, quote, space or
    line break is quoted (quotes doubled), JSON values are written as JSON."""
    if not isinstance(rows, list) or not rows:
        return ""
    names = list(rows[0])
    lines = [",".join(_csv_field(n) for n in names)]
    lines += [",".join(_csv_field(row.get(n)) for n in names) for row in rows]
    return "\n".join(lines)


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value)
    else:
        text = str(value)
    if any(ch in text for ch in ',"\r\n '):
        return '"' + text.replace('"', '""') + '"'
    return text
