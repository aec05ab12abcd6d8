"""SQL text handling that needs no database: splitting, fingerprints, inlined parameters.

* :func:`split_statements` splits a migration file into statements the way the
  Supabase CLI does (``pkg/parser``): at ``;`` outside quotes, dollar quotes,
  comments, parentheses and ``BEGIN ATOMIC ... END`` bodies; each statement keeps
  its comments and loses surrounding whitespace and trailing ``;``. The ledger's
  ``statements`` column holds exactly these.
* :func:`fingerprint` is what drift detection compares: the statements with
  comments dropped and whitespace collapsed, so a file reformatted or
  re-commented is still "the same migration", while a changed word is not —
  and a row the dashboard or MCP stored as one big statement matches the same
  file split by the CLI.
* :func:`inline_params` binds ``%s`` parameters as quoted literals, for the one
  path that cannot bind (the Management API's query endpoint).
* :func:`check_read_only` parses a read-only call's text with PostgreSQL's own
  parser (pglast) and refuses what is not one plain query: several statements,
  SET/RESET/BEGIN/COMMIT, COPY, DO, data-modifying CTEs, SELECT INTO, and calls
  of functions that change settings or roles or reach the server's processes.
  It is the first of three walls; the other two are PostgreSQL's (the
  read-only role, and a READ ONLY transaction that is rolled back).

Example:
    >>> split_statements("create table a (x int); -- done\\ninsert into a values (1);")
    ['create table a (x int)', '-- done\\ninsert into a values (1)']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Segment",
    "canonical",
    "check_read_only",
    "fingerprint",
    "inline_params",
    "segments",
    "split_statements",
]

# Functions a read-only call may not name: settings (a role is a setting), signals,
# configuration, server files, and the advisory/backup controls.
_REFUSED_FUNCTIONS = frozenset(
    {
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "lo_import",
        "lo_export",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_switch_wal",
        "pg_create_restore_point",
        "dblink",
        "dblink_exec",
        "dblink_connect",
    }
)

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


@dataclass(frozen=True)
class Segment:
    """A run of SQL text of one kind: ``code``, ``string``, ``ident``, ``dollar`` or ``comment``."""

    kind: str
    text: str


def segments(text: str) -> Iterator[Segment]:
    """Lex ``text`` into code, quoted strings, quoted identifiers, dollar quotes and comments.

    Unterminated quotes or comments run to the end of the text (as PostgreSQL
    would report an error there, the splitter just keeps the text together).
    """
    i = 0
    n = len(text)
    start = 0
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        end: int | None = None
        kind = ""
        if ch == "-" and nxt == "-":
            newline = text.find("\n", i)
            end = n if newline < 0 else newline
            kind = "comment"
        elif ch == "/" and nxt == "*":
            depth = 0
            j = i
            while j < n:
                if text.startswith("/*", j):
                    depth += 1
                    j += 2
                elif text.startswith("*/", j):
                    depth -= 1
                    j += 2
                    if depth == 0:
                        break
                else:
                    j += 1
            end = j
            kind = "comment"
        elif ch == "'":
            # E'...' strings allow backslash escapes; standard strings only ''.
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not _is_word(text[i - 2]))
            end = _quoted_end(text, i, escapes=escapes)
            kind = "string"
        elif ch == '"':
            end = _quoted_end(text, i)
            kind = "ident"
        elif ch == "$" and (i == 0 or not _is_word(text[i - 1])):
            match = _DOLLAR_TAG.match(text, i)
            if match:
                tag = match.group(0)
                close = text.find(tag, match.end())
                end = n if close < 0 else close + len(tag)
                kind = "dollar"
        if end is None:
            i += 1
            continue
        if start < i:
            yield Segment("code", text[start:i])
        yield Segment(kind, text[i:end])
        i = end
        start = end
    if start < n:
        yield Segment("code", text[start:])


def _quoted_end(text: str, i: int, *, escapes: bool = False) -> int:
    """Where the quote opened at ``text[i]`` ends (just past it; a doubled quote is kept,
    and with ``escapes`` a backslash escapes the next character); at most ``len(text)``."""
    quote = text[i]
    n = len(text)
    j = i + 1
    while j < n:
        if escapes and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            j += 1
            break
        j += 1
    return min(j, n)


def _code_of(text: str, other: Callable[[str], object]) -> Iterator[str]:
    """The code segments of ``text`` in order, each other segment (quoted text, a comment)
    given to ``other`` where it stands: for the scans that rewrite or cut only code."""
    for segment in segments(text):
        if segment.kind == "code":
            yield segment.text
        else:
            other(segment.text)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def split_statements(text: str) -> list[str]:
    """Split SQL into statements as the Supabase CLI does (comments kept, ``;`` dropped).

    Example:
        >>> split_statements("do $$ begin perform 1; end $$; select ';'")
        ['do $$ begin perform 1; end $$', "select ';'"]
    """
    statements: list[str] = []
    current: list[str] = []
    depth = 0
    atomic = False
    case_depth = 0

    def flush() -> None:
        statement = "".join(current).strip().rstrip(";").strip()
        if statement:
            statements.append(statement)
        current.clear()

    for piece in _code_of(text, current.append):
        i = 0
        while i < len(piece):
            ch = piece[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            elif _is_word(ch) and (i == 0 or not _is_word(piece[i - 1])):
                word_match = _WORD.match(piece, i)
                if word_match:
                    word = word_match.group(0).upper()
                    if word == "ATOMIC" and re.search(
                        r"BEGIN\s*$", _tail(current, piece[:i]), re.I
                    ):
                        atomic = True
                        case_depth = 0
                    elif atomic and word == "CASE":
                        case_depth += 1
                    elif atomic and word == "END":
                        if case_depth:
                            case_depth -= 1
                        else:
                            atomic = False
                    current.append(piece[i : word_match.end()])
                    i = word_match.end()
                    continue
            elif ch == ";" and depth == 0 and not atomic:
                current.append(";")
                flush()
                i += 1
                continue
            current.append(ch)
            i += 1
    flush()
    return statements


def _tail(current: list[str], extra: str, size: int = 40) -> str:
    text = "".join(current[-size:]) + extra
    return text[-size:]


def canonical(statements: Sequence[str]) -> str:
    """The statements with comments dropped and whitespace collapsed, one per line.

    Example:
        >>> canonical(["create  table a (x int) -- note", "select 1"])
        'create table a(x int)\\nselect 1'
    """
    out: list[str] = []
    for statement in split_statements("\n;\n".join(statements)):
        text = "".join(_canonical_parts(statement)).strip()
        if text:
            out.append(text)
    return "\n".join(out)


def _canonical_parts(statement: str) -> Iterator[str]:
    code: list[str] = []
    for segment in segments(statement):
        if segment.kind in ("code", "comment"):
            code.append(" " if segment.kind == "comment" else segment.text)
            continue
        yield _squeeze("".join(code))
        code.clear()
        yield segment.text
    yield _squeeze("".join(code))


def _squeeze(code: str) -> str:
    text = re.sub(r"\s+", " ", code)
    # Whitespace around punctuation carries no meaning: "( x int )" == "(x int)".
    return re.sub(r"\s*([(),=])\s*", r"\1", text)


def fingerprint(statements: Sequence[str] | str) -> str:
    """A short hash of :func:`canonical` (a whole file, or a ledger row's statements).

    Example:
        >>> fingerprint("select 1; -- x") == fingerprint(["select 1"])
        True
    """
    items = [statements] if isinstance(statements, str) else list(statements)
    return hashlib.sha256(canonical(items).encode()).hexdigest()[:16]


def inline_params(query: str, params: Sequence[Any] | None) -> str:
    """Replace each ``%s`` outside quotes and comments with a quoted literal; ``%%`` -> ``%``.

    Quoting is psycopg's (:class:`psycopg.sql.Literal`), so values cannot break
    out of their literal.

    Example:
        >>> inline_params("select %s, '%s', 100%%", ["it's"])
        "select 'it''s', '%s', 100%"
    """
    if params is None:
        return query
    from psycopg import sql

    values = list(params)
    out: list[str] = []
    used = 0
    for text in _code_of(query, out.append):
        i = 0
        while i < len(text):
            if text.startswith("%%", i):
                out.append("%")
                i += 2
            elif text.startswith("%s", i):
                if used >= len(values):
                    raise ValueError(
                        f"the query has more %s placeholders than the {len(values)} parameters"
                    )
                out.append(sql.Literal(values[used]).as_string(None))
                used += 1
                i += 2
            elif text[i] == "%":
                raise ValueError("only %s placeholders are supported (write %% for a literal %)")
            else:
                out.append(text[i])
                i += 1
    if used != len(values):
        raise ValueError(f"the query has {used} %s placeholders but {len(values)} parameters")
    return "".join(out)


def check_read_only(query: str) -> None:
    """Refuse ``query`` unless it is exactly one plain, side-effect-free statement.

    Allowed: ``SELECT`` (with read-only CTEs), ``VALUES``, ``TABLE``, ``SHOW`` and
    ``EXPLAIN`` of those. ``%s`` placeholders are accepted (they parse as ``$n``).

    Raises:
        ValueError: why the text is refused (the parser's message for a syntax error).

    Example:
        >>> check_read_only("select 1")
        >>> check_read_only("set role postgres")
        Traceback (most recent call last):
        ...
        ValueError: read-only SQL takes one query (SELECT, VALUES, TABLE, SHOW or EXPLAIN), not SET
    """
    from pglast import ast, parse_sql
    from pglast.parser import ParseError
    from pglast.visitors import Visitor

    try:
        statements = parse_sql(_placeholders_as_params(query))
    except ParseError as exc:
        raise ValueError(f"syntax error: {exc}") from None
    if len(statements) != 1:
        raise ValueError(
            f"read-only SQL takes exactly one statement, got {len(statements)} "
            "(a read-only call cannot end its transaction or start another)"
        )
    root = statements[0].stmt
    top = root.query if isinstance(root, ast.ExplainStmt) else root
    if not isinstance(top, ast.SelectStmt | ast.VariableShowStmt):
        raise ValueError(
            "read-only SQL takes one query (SELECT, VALUES, TABLE, SHOW or EXPLAIN), "
            f"not {_statement_name(top)}"
        )
    problems: list[str] = []

    class _Walls(Visitor):  # type: ignore[misc]
        def visit_FuncCall(self, ancestors: Any, node: Any) -> None:
            name = str(node.funcname[-1].sval).lower()
            if name in _REFUSED_FUNCTIONS:
                problems.append(f"{name}() is refused in read-only SQL")

        def visit_SelectStmt(self, ancestors: Any, node: Any) -> None:
            if node.intoClause is not None:
                problems.append("SELECT INTO creates a table")

        def _writes(self, ancestors: Any, node: Any) -> None:
            problems.append(f"{_statement_name(node)} inside a query writes")

        visit_InsertStmt = visit_UpdateStmt = visit_DeleteStmt = visit_MergeStmt = _writes

    _Walls()(statements[0])
    if problems:
        raise ValueError("; ".join(dict.fromkeys(problems)))


def _statement_name(node: Any) -> str:
    """``SET`` for VariableSetStmt, ``COPY`` for CopyStmt..., for messages."""
    names = {
        "VariableSetStmt": "SET",
        "TransactionStmt": "a transaction command (BEGIN, COMMIT, ...)",
        "CopyStmt": "COPY",
        "DoStmt": "DO",
        "CallStmt": "CALL",
        "InsertStmt": "INSERT",
        "UpdateStmt": "UPDATE",
        "DeleteStmt": "DELETE",
        "MergeStmt": "MERGE",
    }
    kind = type(node).__name__
    return names.get(kind, kind.removesuffix("Stmt").upper())


def _placeholders_as_params(query: str) -> str:
    """``%s`` outside quotes and comments as ``$n`` (and ``%%`` as ``%``), so pglast parses it."""
    out: list[str] = []
    n = 0
    for code in _code_of(query, out.append):
        pieces = re.split(r"(%%|%s)", code)
        for piece in pieces:
            if piece == "%s":
                n += 1
                out.append(f"${n}")
            elif piece == "%%":
                out.append("%")
            else:
                out.append(piece)
    return "".join(out)
