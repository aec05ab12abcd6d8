"""Request parsing for the PostgREST subset: query string, ``Prefer`` and ``Range`` to plain values.

Nothing here touches SQL. The output is a small tree of frozen dataclasses
(:class:`Field`, :class:`Filter`, :class:`Logic`, :class:`OrderTerm`,
:class:`SelectItem`) that :mod:`hybridkit.local.rest.compose` turns into SQL with
quoted identifiers and bound values. Grammar follows PostgREST:

* ``select=alias:col->a->>b::text,*,alias:table!hint!inner(col,nested(*))``
* ``col=[not.]op[(modifier)].value`` with ``in.(1,"a,b",null)`` lists
* ``or=(a.eq.1,and(b.gt.2,c.is.null),not.or(...))``, ``not.or=...``, ``and=...``
* ``order=col.desc.nullslast,other``

Example:
    >>> parse_order("created_at.desc,id.asc.nullsfirst")[0].descending
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hybridkit.local.rest.errors import ApiError

__all__ = [
    "OPERATORS",
    "Condition",
    "Embed",
    "Field",
    "Filter",
    "Logic",
    "OrderTerm",
    "PathStep",
    "Prefer",
    "SelectItem",
    "parse_condition",
    "parse_field",
    "parse_in_list",
    "parse_logic",
    "parse_order",
    "parse_prefer",
    "parse_range",
    "parse_select",
    "parse_select_tree",
    "split_top_level",
]

# Operators PostgREST accepts after the column; ``is`` and ``in`` take special values.
OPERATORS = frozenset(
    {
        "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch",
        "is", "isdistinct", "in", "cs", "cd", "ov", "sl", "sr", "nxl", "nxr", "adj",
        "fts", "plfts", "phfts", "wfts",
    }
)  # fmt: skip
# Operators that take an ``(any)`` / ``(all)`` modifier.
_QUANTIFIABLE = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"}
)
_FTS = frozenset({"fts", "plfts", "phfts", "wfts"})
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
_OP = re.compile(r"^(?P<op>[a-z]+)(?:\((?P<mod>[^()]*)\))?\.(?P<value>.*)$", re.DOTALL)
_ARROW = re.compile(r"->>|->")
_DIGITS = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class PathStep:
    """One JSON step: ``->`` (json) or ``->>`` (text), with a key or an array index."""

    arrow: str
    key: str | int


@dataclass(frozen=True)
class Field:
    """A column, optionally followed by JSON steps (``data->a->>b``)."""

    column: str
    path: tuple[PathStep, ...] = ()

    @property
    def default_alias(self) -> str:
        """PostgREST names a JSON path after its last key."""
        if not self.path:
            return self.column
        return str(self.path[-1].key)


@dataclass(frozen=True)
class SelectItem:
    """One entry of ``select``: ``*``, a field, or an aggregate, with an optional alias and cast.

    ``aggregate`` is ``count``, ``sum``, ``avg``, ``min`` or ``max`` (``col.sum()``,
    ``count()`` with no field); ``cast`` applies to the result, ``field_cast`` to the
    field before it is aggregated (``col::int.sum()``).
    """

    field: Field | None  # None for ``*`` (and for ``count()``)
    alias: str | None = None
    cast: str | None = None
    aggregate: str | None = None
    field_cast: str | None = None

    @property
    def star(self) -> bool:
        return self.field is None and self.aggregate is None


@dataclass(frozen=True)
class Embed:
    """One embedded resource of ``select``: ``[alias:][...]target[!hint][!inner|!left](...)``.

    ``target`` names a table, a foreign key constraint or a foreign key column;
    ``hint`` (after ``!``) picks one of several foreign keys. An embed with nothing
    selected (``rel()``) only filters (with ``!inner``) and adds no key.
    """

    target: str
    alias: str | None = None
    hint: str | None = None
    join: str | None = None  # "inner" | "left" | None (left)
    spread: bool = False
    items: tuple[SelectItem, ...] = ()
    embeds: tuple[Embed, ...] = ()

    @property
    def label(self) -> str:
        return self.alias or self.target


@dataclass(frozen=True)
class Filter:
    """``column=[not.]op[(modifier)].value``."""

    field: Field
    op: str
    value: str | tuple[str | None, ...]
    negate: bool = False
    modifier: str | None = None  # "any" / "all", or the fts language


@dataclass(frozen=True)
class Logic:
    """``or=(...)`` / ``and=(...)``, possibly negated, holding filters and nested groups."""

    op: str  # "and" | "or"
    children: tuple[Condition, ...]
    negate: bool = False


Condition = Filter | Logic


@dataclass(frozen=True)
class OrderTerm:
    """``column[.asc|.desc][.nullsfirst|.nullslast]``."""

    field: Field
    descending: bool = False
    nulls: str | None = None  # "first" | "last" | None (PostgreSQL's default)


@dataclass(frozen=True)
class Prefer:
    """The ``Prefer`` header's preferences that the subset honours."""

    return_: str | None = None  # "representation" | "minimal" | "headers-only"
    count: str | None = None  # "exact" | "planned" | "estimated"
    resolution: str | None = None  # "merge-duplicates" | "ignore-duplicates"
    missing: str | None = None  # "default"
    params: str | None = None  # "single-object"
    handling: str | None = None  # "strict" | "lenient"
    max_affected: int | None = None
    tx: str | None = None  # "commit" | "rollback"
    invalid: tuple[str, ...] = field(default=())  # items not understood, for handling=strict

    def applied(self) -> str:
        """``Preference-Applied``: the preferences honoured, in PostgREST's order."""
        pairs = [
            ("params", self.params),
            ("resolution", self.resolution),
            ("missing", self.missing),
            ("return", self.return_),
            ("count", self.count),
            ("tx", self.tx),
            ("handling", self.handling),
            ("max-affected", None if self.max_affected is None else str(self.max_affected)),
        ]
        return ", ".join(f"{key}={value}" for key, value in pairs if value is not None)


# --------------------------------------------------------------------------- lexing


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses, braces and double quotes.

    Example:
        >>> split_top_level('a,b(c,d),"e,f"')
        ['a', 'b(c,d)', '"e,f"']
    """
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    current: list[str] = []
    for ch in text:
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
            if depth < 0:
                raise ApiError.parse(f'"failed to parse: unbalanced parenthesis in {text!r}"')
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted or depth != 0:
        raise ApiError.parse(f"failed to parse {text!r}", "unterminated quote or parenthesis")
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    """Strip PostgREST's double quotes (``"a,b"`` with ``\\`` escapes)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        out: list[str] = []
        escaped = False
        for ch in inner:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    return text


def _read_name(text: str) -> tuple[str, str]:
    """Read a leading column name (quoted, or bare up to ``.``, ``-`` or ``:``) and the rest."""
    if text.startswith('"'):
        i = 1
        out: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                return "".join(out), text[i + 1 :]
            out.append(ch)
            i += 1
        raise ApiError.parse(f"failed to parse {text!r}", "unterminated quoted identifier")
    match = re.match(r"^[^.\-:]+", text)
    if not match:
        raise ApiError.parse(f"failed to parse {text!r}", "expected a column name")
    return match.group(0), text[match.end() :]


def parse_field(text: str) -> Field:
    """``col``, ``"my col"``, ``data->a->>b``, ``arr->0``.

    Example:
        >>> parse_field("data->a->>0")
        Field(column='data', path=(PathStep(arrow='->', key='a'), PathStep(arrow='->>', key=0)))
    """
    text = text.strip()
    column, rest = _read_name(text)
    steps: list[PathStep] = []
    while rest:
        match = _ARROW.match(rest)
        if not match:
            raise ApiError.parse(f"failed to parse field {text!r}", f"unexpected {rest!r}")
        rest = rest[match.end() :]
        key, rest = _read_name(rest) if rest else ("", "")
        if key == "":
            raise ApiError.parse(f"failed to parse field {text!r}", "empty JSON key")
        steps.append(PathStep(match.group(0), int(key) if _DIGITS.match(key) else key))
    if not column:
        raise ApiError.parse(f"failed to parse field {text!r}", "empty column name")
    return Field(column, tuple(steps))


# --------------------------------------------------------------------------- select


def parse_select(text: str | None) -> tuple[SelectItem, ...]:
    """``select=`` without embedded resources (``None`` or empty means ``*``).

    Used where nothing can be embedded: an embed is refused.

    Example:
        >>> item = parse_select("id,label:name::text,n:count()")[1]
        >>> item.field, item.alias, item.cast
        (Field(column='name', path=()), 'label', 'text')
    """
    items, embeds = parse_select_tree(text)
    if embeds:
        raise ApiError.embed_unsupported(embeds[0].target)
    return items


def parse_select_tree(text: str | None) -> tuple[tuple[SelectItem, ...], tuple[Embed, ...]]:
    """``select=`` as its columns and its embedded resources (``None`` or empty means ``*``).

    Example:
        >>> items, embeds = parse_select_tree("id,buyer:customers!inner(name)")
        >>> embeds[0].label, embeds[0].target, embeds[0].join, embeds[0].items[0].field
        ('buyer', 'customers', 'inner', Field(column='name', path=()))
    """
    if text is None or text.strip() == "":
        return (SelectItem(None),), ()
    return _parse_select_list(text, text)


def _parse_select_list(text: str, whole: str) -> tuple[tuple[SelectItem, ...], tuple[Embed, ...]]:
    items: list[SelectItem] = []
    embeds: list[Embed] = []
    for raw in split_top_level(text):
        part = raw.strip()
        if part == "":
            raise ApiError.parse(f'"failed to parse select parameter ({whole})"', "empty item")
        if part == "*":
            items.append(SelectItem(None))
            continue
        aggregate = _AGGREGATE.match(part)
        if aggregate:
            items.append(_parse_aggregate(aggregate, whole))
            continue
        if "(" in _strip_quoted(part):
            embeds.append(_parse_embed(part, whole))
            continue
        alias, part = _split_alias(part)
        part, cast = _split_cast(part)
        items.append(SelectItem(parse_field(part), alias, cast))
    return tuple(items), tuple(embeds)


# ``[alias:][field[::type].]fn()[::type]`` (PostgREST's aggregate functions)
_AGGREGATE = re.compile(
    r"^(?P<head>.*?)(?P<sep>^|[.:])(?P<fn>count|sum|avg|min|max)\(\)(?:::(?P<cast>[\w ]+))?$",
    re.DOTALL,
)


def _split_alias(part: str) -> tuple[str | None, str]:
    """``alias:field`` — a colon that is not part of a ``::`` cast."""
    match = re.match(r'^((?:"(?:[^"]|"")*")|[^:"]+):(?!:)(.*)$', part)
    if match:
        return _unquote_ident(match.group(1)), match.group(2)
    return None, part


def _split_cast(part: str) -> tuple[str, str | None]:
    if "::" in _strip_quoted(part):
        part, cast = part.rsplit("::", 1)
        return part, cast.strip()
    return part, None


def _parse_aggregate(match: re.Match[str], whole: str) -> SelectItem:
    head, sep, function = match.group("head"), match.group("sep"), match.group("fn")
    cast = match.group("cast")
    if sep == ":":
        return SelectItem(None, _unquote_ident(head.strip()) or None, cast, function)
    if sep == "":
        return SelectItem(None, None, cast, function)
    alias, head = _split_alias(head.strip())
    head, field_cast = _split_cast(head)
    return SelectItem(parse_field(head), alias, cast, function, field_cast)


_EMBED_NAME = re.compile(r'^\s*("(?:[^"]|"")*"|[^!:"()]+?)\s*(?=$|[!:])')


def _parse_embed(part: str, whole: str) -> Embed:
    """``alias:target!hint!inner(items)`` (the parenthesis was found outside quotes)."""
    opening = _first_paren(part)
    head, body = part[:opening], part[opening:]
    if opening < 0 or not body.endswith(")"):
        raise ApiError.parse(f'"failed to parse select parameter ({whole})"', f"in {part!r}")
    spread = head.lstrip().startswith("...")
    if spread:
        head = head.lstrip()[3:]
    names: list[str] = []
    separators: list[str] = []
    rest = head
    while True:
        match = _EMBED_NAME.match(rest)
        if not match:
            raise ApiError.parse(
                f'"failed to parse select parameter ({whole})"', f"unexpected {rest!r} in {part!r}"
            )
        names.append(_unquote_ident(match.group(1).strip()))
        rest = rest[match.end() :]
        if not rest:
            break
        separators.append(rest[0])
        rest = rest[1:]
    alias: str | None = None
    if separators and separators[0] == ":" and not spread:
        alias = names.pop(0)
        separators.pop(0)
    if not names or any(sep != "!" for sep in separators) or len(names) > 3:
        raise ApiError.parse(f'"failed to parse select parameter ({whole})"', f"in {part!r}")
    target, params = names[0], names[1:]
    join: str | None = None
    hint: str | None = None
    for param in params:
        if param in ("inner", "left") and join is None:
            join = param
        elif hint is None:
            hint = param
        else:
            raise ApiError.parse(f'"failed to parse select parameter ({whole})"', f"in {part!r}")
    inner = body[1:-1]
    items, embeds = _parse_select_list(inner, whole) if inner.strip() else ((), ())
    return Embed(target, alias, hint, join, spread, items, embeds)


def _first_paren(text: str) -> int:
    """Index of the first ``(`` outside double quotes."""
    quoted = False
    for index, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            return index
    return -1


def _strip_quoted(text: str) -> str:
    return re.sub(r'"(?:[^"]|"")*"', '""', text)


def _unquote_ident(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


# --------------------------------------------------------------------------- filters


def parse_in_list(text: str) -> tuple[str | None, ...]:
    """``(1,"a,b",null)`` -> ``('1', 'a,b', None)``; a quoted ``"null"`` stays a string.

    Example:
        >>> parse_in_list('(1,"a,b",null)')
        ('1', 'a,b', None)
    """
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ApiError.parse(f'"failed to parse filter (in.{text})"', "expected (a,b,...)")
    inner = text[1:-1]
    if inner.strip() == "":
        return ()
    values: list[str | None] = []
    for raw in split_top_level(inner):
        item = raw.strip()
        if item == "null":
            values.append(None)
        else:
            values.append(_unquote(item))
    return tuple(values)


def _parse_array_values(text: str) -> tuple[str | None, ...]:
    """``{a,"b c"}`` for the ``(any)``/``(all)`` modifiers."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ApiError.parse(f"failed to parse {text!r}", "expected {a,b,...}")
    return parse_in_list("(" + text[1:-1] + ")")


def parse_condition(field_text: str, expr: str) -> Filter:
    """One filter: the key (``col``) and its value (``not.in.(1,2)``).

    Example:
        >>> parse_condition("age", "not.gt.18")
        Filter(field=Field(column='age', path=()), op='gt', value='18', negate=True, modifier=None)
    """
    negate = False
    if expr.startswith("not."):
        negate = True
        expr = expr[4:]
    match = _OP.match(expr)
    if not match or match.group("op") not in OPERATORS:
        raise ApiError.parse(
            f'"failed to parse filter ({expr})" (line 1, column 1)',
            f"unknown operator in {expr!r}; use eq, neq, gt, gte, lt, lte, like, ilike, is, "
            "in, cs, cd, ov, fts...",
        )
    op, modifier, raw = match.group("op"), match.group("mod"), match.group("value")
    field_ = parse_field(field_text)
    value: str | tuple[str | None, ...]
    if op == "is":
        if modifier is not None or raw.lower() not in IS_VALUES:
            raise ApiError.parse(
                f'"failed to parse filter (is.{raw})"',
                "is. takes null, not_null, true, false or unknown",
            )
        value = raw.lower()
    elif op == "in":
        if modifier is not None:
            raise ApiError.parse(f'"failed to parse filter (in({modifier}))"')
        value = parse_in_list(raw)
    elif modifier is not None:
        if op in _FTS:
            value = raw  # the modifier is the text search configuration
        elif op in _QUANTIFIABLE and modifier in ("any", "all"):
            value = _parse_array_values(raw)
        else:
            raise ApiError.parse(f'"failed to parse filter ({op}({modifier}))"')
    else:
        value = raw
    return Filter(field_, op, value, negate, modifier)


def parse_logic(key: str, value: str) -> Logic:
    """``or=(a.eq.1,b.gt.2)`` (key ``or``/``and``/``not.or``/``not.and``).

    Example:
        >>> parse_logic("or", "(a.eq.1,and(b.gt.2,c.is.null))").op
        'or'
    """
    negate = key.startswith("not.")
    op = key[4:] if negate else key
    if op not in ("and", "or"):
        raise ApiError.parse(f'"failed to parse logic tree ({key})"')
    return Logic(op, _parse_group(value, key), negate)


def _parse_group(text: str, context: str) -> tuple[Condition, ...]:
    text = text.strip()
    if not (text.startswith("(") and text.endswith(")")):
        raise ApiError.parse(
            f'"failed to parse logic tree ({text})" (line 1, column 1)',
            f"{context}= needs a parenthesised list like (a.eq.1,b.gt.2)",
        )
    children: list[Condition] = []
    for raw in split_top_level(text[1:-1]):
        item = raw.strip()
        if item == "":
            raise ApiError.parse(f'"failed to parse logic tree ({text})"', "empty condition")
        nested = re.match(r"^(not\.)?(and|or)(\(.*\))$", item, re.DOTALL)
        if nested:
            children.append(
                Logic(nested.group(2), _parse_group(nested.group(3), item), bool(nested.group(1)))
            )
            continue
        name, rest = _read_field_prefix(item)
        if not rest.startswith("."):
            raise ApiError.parse(f'"failed to parse logic tree ({text})"', f"in {item!r}")
        expr = rest[1:]
        parsed = parse_condition(name, expr)
        if isinstance(parsed.value, str) and parsed.op not in ("is",):
            parsed = Filter(
                parsed.field, parsed.op, _unquote(parsed.value), parsed.negate, parsed.modifier
            )
        children.append(parsed)
    return tuple(children)


def _read_field_prefix(item: str) -> tuple[str, str]:
    """Split ``data->>a.eq.1`` into ``data->>a`` and ``.eq.1``."""
    if item.startswith('"'):
        _, rest = _read_name(item)
        return item[: len(item) - len(rest)], rest
    i = 0
    while i < len(item):
        if item[i] == ".":
            break
        i += 1
    return item[:i], item[i:]


# --------------------------------------------------------------------------- order


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    """``order=a.desc.nullslast,b``.

    Example:
        >>> parse_order("name.asc.nullsfirst")
        (OrderTerm(field=Field(column='name', path=()), descending=False, nulls='first'),)
    """
    terms: list[OrderTerm] = []
    for raw in split_top_level(text):
        item = raw.strip()
        if not item:
            raise ApiError.parse(f'"failed to parse order ({text})"', "empty term")
        name, rest = _read_field_prefix(item)
        modifiers = [m for m in rest.split(".") if m] if rest else []
        descending = False
        nulls: str | None = None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = modifier[5:]
            else:
                raise ApiError.parse(
                    f'"failed to parse order ({text})" (line 1, column 1)',
                    f"unexpected {modifier!r}: use asc, desc, nullsfirst or nullslast",
                )
        terms.append(OrderTerm(parse_field(name), descending, nulls))
    return tuple(terms)


# --------------------------------------------------------------------------- headers


def parse_prefer(values: Iterable[str]) -> Prefer:
    """Merge every ``Prefer`` header (comma-separated ``key=value`` items).

    Example:
        >>> parse_prefer(["return=minimal,count=exact"]).count
        'exact'
    """
    allowed = {
        "return": {"representation", "minimal", "headers-only"},
        "count": {"exact", "planned", "estimated"},
        "resolution": {"merge-duplicates", "ignore-duplicates"},
        "missing": {"default", "null"},
        "params": {"single-object", "multiple-objects"},
        "handling": {"strict", "lenient"},
        "tx": {"commit", "rollback"},
    }
    found: dict[str, str] = {}
    invalid: list[str] = []
    for header in values:
        for item in header.split(","):
            item = item.strip()
            key, _, val = item.partition("=")
            key, val = key.strip().lower(), val.strip()
            if (key == "max-affected" and re.match(r"^\d+$", val)) or val in allowed.get(key, ()):
                found[key] = val
            elif item and key != "timezone":
                invalid.append(item)
    max_affected = int(found["max-affected"]) if "max-affected" in found else None
    return Prefer(
        return_=found.get("return"),
        count=found.get("count"),
        resolution=found.get("resolution"),
        missing=found.get("missing"),
        params=found.get("params"),
        handling=found.get("handling"),
        max_affected=max_affected,
        tx=found.get("tx"),
        invalid=tuple(invalid),
    )


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """``Range: 0-9`` (items) -> ``(offset, limit)``; ``None`` when absent or not items.

    Example:
        >>> parse_range("5-9")
        (5, 5)
    """
    if not header:
        return None
    text = header.strip()
    if text.startswith("items="):
        text = text[len("items=") :]
    match = re.match(r"^(\d+)-(\d*)$", text)
    if not match:
        return None
    first = int(match.group(1))
    if match.group(2) == "":
        return first, None
    last = int(match.group(2))
    if last < first:
        raise ApiError.of(
            "invalid_range", details=f"{header!r}: the last item comes before the first"
        )
    return first, last - first + 1


def non_negative_int(name: str, params: Mapping[str, str]) -> int | None:
    """``limit``/``offset`` as a non-negative integer, or a PGRST100 error."""
    raw = params.get(name)
    if raw is None:
        return None
    if not re.match(r"^\d+$", raw.strip()):
        raise ApiError.parse(f'"failed to parse {name} parameter ({raw})"', "expected a number")
    return int(raw.strip())
