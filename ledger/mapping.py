"""Import mappings: how the columns of a foreign export become columns of the landing contract.

A mapping is a YAML file (``docs/importer.md`` walks through one)::

    version: 1
    name: online_retail              # tags every landing file this mapping writes
    source: {format: csv, delimiter: ",", encoding: utf-8}
    timezone: Europe/London          # of naive source times (default UTC)
    entities:
      transactions:
        columns:
          occurred_at: {from: InvoiceDate, format: YYYYMMDD HH:mm}
          user_id: {from: CustomerID, prefix: C}
          amount: {product: [Quantity, UnitPrice]}
          asset: {const: USDT}
      users:
        distinct: true               # one row per distinct user_id
        columns:
          user_id: {from: CustomerID, prefix: C}
          signup_date: {from: InvoiceDate, format: YYYYMMDD HH:mm, aggregate: min}
    prices:
      fixed_rates: {USDT: 1.0}       # one row per asset per day of the imported transactions

Each column spec is exactly one of ``from`` (a source column; a bare string is short for it),
``const``, ``product`` (two source columns multiplied) or ``hash`` (an id from source columns and
the row number). There is no expression language: nothing in a mapping is ever evaluated.

Invariants of a :class:`Mapping` returned by :func:`load_mapping`: every entity is a contract
entity; every column is a contract column with exactly one spec; every column the contract
requires *when the mapping is loaded* (``Column.required``) has a spec; constants and value-map
values have the column's type and, where the rules declare a value set, lie in it; time formats
compile. Problems are reported together in one :class:`MappingError`, each with the mapping
file's line and column, what is wrong and what to do: first every structural problem (YAML, keys,
types, formats); once the structure is sound, every problem against the contract.
"""

from __future__ import annotations

import codecs
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.contract import (
    ASSETS,
    CHAINS,
    DIRECTIONS,
    ENTITIES,
    KYC_LEVELS,
    MERCHANT_SIZE_TIERS,
    TX_DIRECTION,
    TX_TYPES,
    Column,
    Entity,
)

MAPPING_VERSION = 1
NUMERIC_TYPES = ("DOUBLE", "INTEGER")
TIME_TYPES = ("DATE", "TIMESTAMP")
Kind = Literal["from", "const", "product", "hash"]
KINDS: tuple[Kind, ...] = ("from", "const", "product", "hash")

# The contract's value sets, checked here for constants and value-map values so that a typo fails
# on its mapping line instead of quarantining every row; ingest's rules enforce the same sets.
VALUE_SETS: dict[tuple[str, str], tuple[object, ...]] = {
    ("transactions", "tx_type"): TX_TYPES,
    ("transactions", "direction"): DIRECTIONS,
    ("transactions", "asset"): ASSETS,
    ("transactions", "to_asset"): ASSETS,
    ("prices", "asset"): ASSETS,
    ("loans", "asset"): ASSETS,
    ("wallets", "chain"): CHAINS,
    ("merchants", "size_tier"): MERCHANT_SIZE_TIERS,
    ("users", "kyc_level"): KYC_LEVELS,
}

# Columns that hold or point at a person. A hash id over a source column feeding one of them
# would let anyone who knows the other hashed values test guesses of that person's id.
PERSONAL_TARGETS: frozenset[tuple[str, str]] = frozenset(
    {("users", c.name) for c in ENTITIES["users"].columns if c.name != "signup_date"}
    | {(e, "user_id") for e in ("wallets", "loans", "transactions")}
    | {("transactions", c) for c in ("counterparty", "device_id", "ip_address", "wallet_id")}
    | {("wallets", "address"), ("wallets", "wallet_id")}
)

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a mapping, at a 1-based line and column of the mapping file."""

    line: int
    column: int
    where: str
    message: str


class MappingError(ValueError):
    """A mapping that cannot be used; ``str()`` lists every problem as ``file:line:col: …``."""

    def __init__(self, path: Path, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line, p.column, p.message))
        super().__init__(
            "\n".join(
                f"{path}:{p.line}:{p.column}: {p.where + ': ' if p.where else ''}{p.message}"
                for p in self.problems
            )
        )


# ---------------------------------------------------------------------------------------------
# Time formats
# ---------------------------------------------------------------------------------------------

# token, strptime directive, strict regex, field. Longer tokens first so YYYY wins over YY. Every
# field is captured so that values out of range can be refused: Arrow's strptime rolls
# 2011-02-29 over to 2011-03-01 and 08:00:60 to 08:01:00.
_TOKENS: tuple[tuple[str, str, str, str], ...] = (
    ("YYYY", "%Y", r"(?P<year>\d{4})", "year"),
    ("YY", "%y", r"(?P<yy>\d{2})", "year"),
    ("MM", "%m", r"(?P<month>\d{2})", "month"),
    ("DD", "%d", r"(?P<day>\d{2})", "day"),
    ("HH", "%H", r"(?P<hour>\d{2})", "hour"),
    ("mm", "%M", r"(?P<minute>\d{2})", "minute"),
    ("ss", "%S", r"(?P<second>\d{2})", "second"),
    ("M", "%m", r"(?P<month>\d{1,2})", "month"),
    ("D", "%d", r"(?P<day>\d{1,2})", "day"),
    ("H", "%H", r"(?P<hour>\d{1,2})", "hour"),
    ("Z", "%z", r"(?:Z|[+-]\d{2}:?\d{2})", "offset"),
)
_SEPARATORS = frozenset("-/:., T")
# strptime directive -> the token whose regex and field it shares (%m takes 1-2 digits).
_DIRECTIVES = {"Y": "YYYY", "y": "YY", "m": "M", "d": "D", "H": "H", "M": "mm", "S": "ss"}
_DIRECTIVES["z"] = "Z"
_BY_TOKEN = {t[0]: t for t in _TOKENS}
TOKEN_HELP = (
    "tokens are YYYY YY MM M DD D HH H mm ss Z (MM is the month, mm the minute) separated by "
    "- / : . , T or spaces, e.g. 'YYYYMMDD' or 'YYYY-MM-DD HH:mm'; or a strptime format using "
    "only %Y %y %m %d %H %M %S %z"
)


@dataclass(frozen=True)
class TimeFormat:
    """A compiled source time format.

    ``regex`` must match the whole trimmed value before ``strptime`` is tried, so ``YYYYMMDD``
    refuses ``2010121`` that a lenient strptime would read as Dec 1; its named groups (year or
    yy, month, day, hour, minute, second) let the importer refuse values out of range.
    """

    text: str
    strptime: str
    regex: str
    has_time: bool
    has_offset: bool


def compile_format(text: str) -> TimeFormat:
    """Compile a token (``YYYYMMDD HH:mm``) or strptime (``%Y%m%d``) format; ValueError if bad."""
    if not text.strip():
        raise ValueError(f"the time format is empty; {TOKEN_HELP}")
    parts = _strptime_parts(text) if "%" in text else _token_parts(text)
    strptime: list[str] = []
    regex: list[str] = []
    fields: list[str] = []
    for token, literal, pos in parts:
        if token is None:
            strptime.append(literal.replace("%", "%%"))
            regex.append(_escape(literal))
            continue
        _, directive, pattern, name = _BY_TOKEN[token]
        if name in fields:
            hint = " (minutes are mm)" if token in ("MM", "M") and "%" not in text else ""
            raise ValueError(
                f"the time format '{text}' has the {name} twice, at '{literal}' "
                f"(position {pos + 1}){hint}; {TOKEN_HELP}"
            )
        fields.append(name)
        strptime.append(directive)
        regex.append(pattern)
    for name in ("year", "month", "day"):
        if name not in fields:
            raise ValueError(f"the time format '{text}' has no {name}; {TOKEN_HELP}")
    if "minute" in fields and "hour" not in fields:
        raise ValueError(f"the time format '{text}' has minutes but no hour; {TOKEN_HELP}")
    return TimeFormat(
        text, "".join(strptime), "^" + "".join(regex) + "$", "hour" in fields, "offset" in fields
    )


def _escape(literal: str) -> str:
    """A literal for RE2 (Arrow's regex engine), which refuses Python's escaped space."""
    return "".join("\\" + ch if ch in r".^$*+?()[]{}|\\" else ch for ch in literal)


_Part = tuple[str | None, str, int]  # token (None: a literal), the text written, position


def _token_parts(text: str) -> list[_Part]:
    parts: list[_Part] = []
    pos = 0
    while pos < len(text):
        token = next((t[0] for t in _TOKENS if text.startswith(t[0], pos)), None)
        if token is not None:
            parts.append((token, token, pos))
            pos += len(token)
            continue
        if text[pos] not in _SEPARATORS:
            raise ValueError(
                f"the time format '{text}' has an unknown token '{text[pos]}' at position "
                f"{pos + 1}; {TOKEN_HELP}"
            )
        parts.append((None, text[pos], pos))
        pos += 1
    return parts


def _strptime_parts(text: str) -> list[_Part]:
    parts: list[_Part] = []
    pos = 0
    while pos < len(text):
        if text[pos] != "%":
            parts.append((None, text[pos], pos))
            pos += 1
            continue
        directive = text[pos + 1 : pos + 2]
        if directive == "%":
            parts.append((None, "%", pos))
        elif directive in _DIRECTIVES:
            parts.append((_DIRECTIVES[directive], "%" + directive, pos))
        else:
            raise ValueError(
                f"the time format '{text}' uses the unsupported directive '%{directive}' at "
                f"position {pos + 1}; {TOKEN_HELP}"
            )
        pos += 2
    return parts


DEFAULT_FORMATS: tuple[TimeFormat, ...] = tuple(
    compile_format(f)
    for f in (
        "YYYY-MM-DDTHH:mm:ssZ",
        "YYYY-MM-DDTHH:mm:ss",
        "YYYY-MM-DD HH:mm:ssZ",
        "YYYY-MM-DD HH:mm:ss",
        "YYYY-MM-DD HH:mm",
        "YYYY-MM-DD",
    )
)
"""ISO 8601 shapes tried when a time column gives no ``format``."""


# ---------------------------------------------------------------------------------------------
# The YAML schema (structure only; the contract is checked afterwards)
# ---------------------------------------------------------------------------------------------


def _check_format(text: str) -> str:
    compile_format(text)
    return text


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone '{name}'; use an IANA name such as UTC or Europe/London"
        ) from exc
    return name


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ColumnSpec(_Spec):
    """How one contract column gets its value (exactly one of from / const / product / hash)."""

    source: str | None = Field(default=None, alias="from", min_length=1)
    const: Any = None
    product: list[str] | None = Field(default=None, min_length=2, max_length=2)
    hash: list[str] | None = Field(default=None, min_length=1)
    format: list[Annotated[str, AfterValidator(_check_format)]] | None = Field(
        default=None, min_length=1
    )
    timezone: Annotated[str, AfterValidator(_check_timezone)] | None = None
    map: dict[str, Any] | None = Field(default=None, min_length=1)
    unmapped: Literal["reject", "null", "keep"] = "reject"
    prefix: str | None = None
    scale: float | None = Field(default=None, gt=0)
    aggregate: Literal["first", "min", "max"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"from": data}
        if isinstance(data, dict) and isinstance(data.get("format"), str):
            return {**data, "format": [data["format"]]}
        return data

    @property
    def kind(self) -> Kind:
        return next(k for k in KINDS if k in self.given_keys)

    @property
    def given_keys(self) -> set[str]:
        return {"from" if f == "source" else f for f in self.model_fields_set}

    @model_validator(mode="after")
    def _one_kind(self) -> ColumnSpec:
        kinds = [k for k in KINDS if k in self.given_keys]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"give exactly one of from, const, product or hash (found: {found}); "
                "e.g. {from: SourceColumn} or {const: USDT}"
            )
        only_from = {"map", "unmapped", "format", "timezone"} & self.given_keys
        if kinds[0] != "from" and only_from:
            raise ValueError(
                f"{', '.join(sorted(only_from))} only apply to a 'from' column, not '{kinds[0]}'"
            )
        if "unmapped" in self.given_keys and self.map is None:
            raise ValueError("'unmapped' says what to do with values missing from 'map'; add map")
        return self


class EntitySpec(_Spec):
    distinct: bool = False
    columns: dict[str, ColumnSpec] = Field(min_length=1)


class DaySpan(_Spec):
    first: date = Field(alias="from", strict=False)
    last: date = Field(alias="to", strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> DaySpan:
        if self.first > self.last:
            raise ValueError("'from' is after 'to'; give the first day first")
        return self


class PricesSpec(_Spec):
    fixed_rates: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    days: DaySpan | None = None


class SourceSpec(_Spec):
    format: Literal["csv", "parquet", "jsonl"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(
                f"unknown encoding '{value}'; use e.g. utf-8 or latin-1 (cp1252)"
            ) from exc
        return value


class MappingSpec(_Spec):
    version: int
    name: str
    source: SourceSpec = Field(default_factory=lambda: SourceSpec())
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    entities: dict[str, EntitySpec] = Field(default_factory=dict)
    prices: PricesSpec | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != MAPPING_VERSION:
            raise ValueError(f"unsupported mapping version {value}; write version: 1")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
            raise ValueError(
                "name tags the landing files this mapping writes: use 1-64 lower-case letters, "
                "digits, '_' or '-', starting with a letter or digit, e.g. online_retail"
            )
        return value


# ---------------------------------------------------------------------------------------------
# The validated mapping
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRef:
    """A source column a mapping reads, with where the mapping names it."""

    name: str
    line: int
    column: int
    where: str


@dataclass(frozen=True)
class ColumnPlan:
    """A contract column and how to fill it; constants and map values are already typed."""

    column: Column
    kind: Kind
    refs: tuple[SourceRef, ...]
    const: object = None
    formats: tuple[TimeFormat, ...] = ()
    timezone: str = "UTC"
    value_map: dict[str, object] | None = None
    unmapped: Literal["reject", "null", "keep"] = "reject"
    prefix: str = ""
    scale: float | None = None
    aggregate: Literal["first", "min", "max"] = "first"

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.refs)


@dataclass(frozen=True)
class EntityPlan:
    entity: Entity
    distinct: bool
    columns: tuple[ColumnPlan, ...]

    def column(self, name: str) -> ColumnPlan | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class PriceTable:
    """Fixed rates in the base currency, one row per asset per day of ``days`` (or the data)."""

    rates: tuple[tuple[str, float], ...]
    days: tuple[date, date] | None


@dataclass(frozen=True)
class Mapping:
    path: Path
    name: str
    source_format: Literal["csv", "parquet", "jsonl"] | None
    delimiter: str
    encoding: str
    entities: tuple[EntityPlan, ...]
    prices: PriceTable | None = None

    def entity(self, name: str) -> EntityPlan | None:
        return next((e for e in self.entities if e.entity.name == name), None)

    @property
    def source_refs(self) -> tuple[SourceRef, ...]:
        return tuple(r for e in self.entities for c in e.columns for r in c.refs)


# ---------------------------------------------------------------------------------------------
# Loading: YAML nodes (for line numbers and duplicate keys), schema, contract
# ---------------------------------------------------------------------------------------------

_MAX_DEPTH = 32
_MAX_VALUES = 100_000  # far above any real mapping; stops an alias "billion laughs" expansion
_NOT_TEXT_TAGS = ("bool", "int", "float", "timestamp")
_TYPE_WORDS = {
    "VARCHAR": "text",
    "DOUBLE": "a number",
    "INTEGER": "a whole number",
    "DATE": "a date (2026-01-31)",
    "TIMESTAMP": "a time (2026-01-31 08:30:00)",
}


@dataclass
class _Doc:
    """The parsed YAML with the node of every path, so any path can be reported by line."""

    path: Path
    values: dict[YamlPath, yaml.Node] = field(default_factory=dict)
    keys: dict[YamlPath, yaml.Node] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    expanded: int = 0

    def at(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        node = self._node(path, key)
        mark = node.start_mark if node is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        self.problems.append(Problem(line, col, _dotted(path), message))

    def _node(self, path: YamlPath, key: bool) -> yaml.Node | None:
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            node = self.values.get(path[:end])
            if node is not None:
                return node
        return None

    def mark(self, path: YamlPath) -> tuple[int, int]:
        node = self._node(path, False)
        if node is None:
            return 1, 1
        return node.start_mark.line + 1, node.start_mark.column + 1

    def raw(self, path: YamlPath) -> str:
        """A scalar as written in the file."""
        node = self.values.get(path)
        return str(node.value) if isinstance(node, yaml.ScalarNode) else ""

    def tag(self, path: YamlPath) -> str:
        node = self.values.get(path)
        return node.tag.rsplit(":", 1)[-1] if isinstance(node, yaml.ScalarNode) else ""


def _dotted(path: YamlPath) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


def load_mapping(path: Path) -> Mapping:
    """Read, validate and plan a mapping file against the contract as it is now.

    Raises :class:`MappingError` listing every problem with its line and column.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(
            path, [Problem(1, 1, "", f"cannot be read as UTF-8 text ({type(exc).__name__})")]
        ) from exc
    doc = _Doc(path)
    data = _parse(text, doc)
    if doc.problems:
        raise MappingError(path, doc.problems)
    try:
        spec = MappingSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            _schema_problem(doc, error)
        raise MappingError(path, doc.problems) from None
    mapping = _plan(spec, doc)
    if doc.problems:
        raise MappingError(path, doc.problems)
    return mapping


def _parse(text: str, doc: _Doc) -> object:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        doc.problems.append(Problem(line, col, "", f"not valid YAML: {problem}"))
        return None
    if root is None:
        doc.problems.append(Problem(1, 1, "", "the mapping is empty; start with 'version: 1'"))
        return None
    if not isinstance(root, yaml.MappingNode):
        doc.problems.append(Problem(1, 1, "", "a mapping is a YAML mapping (key: value lines)"))
        return None
    doc.values[()] = root
    return _to_python(root, (), doc, yaml.SafeLoader(""))


def _to_python(node: yaml.Node, path: YamlPath, doc: _Doc, loader: yaml.SafeLoader) -> object:
    """Plain data from a node; mapping keys stay the text written (``NO:`` is 'NO', not False)."""
    doc.expanded += 1
    if doc.expanded == _MAX_VALUES:
        doc.at(
            path, f"the mapping expands to over {_MAX_VALUES:,} values; are YAML aliases nested?"
        )
    if doc.expanded >= _MAX_VALUES:
        return None
    if len(path) > _MAX_DEPTH:
        doc.at(path, "nested too deeply (a recursive YAML alias?)")
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                doc.problems.append(Problem(line, col, _dotted(path), "keys must be plain text"))
                continue
            key = str(key_node.value)
            sub = (*path, key)
            if key in out:
                first = doc.keys[sub].start_mark.line + 1
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                doc.problems.append(
                    Problem(
                        line,
                        col,
                        _dotted(sub),
                        f"'{key}' is given twice (first on line {first}); keep one",
                    )
                )
                continue
            doc.keys[sub] = key_node
            doc.values[sub] = value_node
            out[key] = _to_python(value_node, sub, doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[object] = []
        for i, item in enumerate(node.value):
            doc.values[(*path, i)] = item
            items.append(_to_python(item, (*path, i), doc, loader))
        return items
    return loader.construct_object(node, deep=True)


def _schema_problem(doc: _Doc, error: Any) -> None:
    loc: YamlPath = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        maybe = f" (did you mean '{close[0]}'?)" if close else ""
        doc.at(loc, f"unknown key '{loc[-1]}'{maybe}{hint}", key=True)
        return
    if kind == "missing":
        doc.at(loc[:-1], f"missing key '{loc[-1]}'")
        return
    message = str(error["msg"]).removeprefix("Value error, ")
    tag = doc.tag(loc)
    if tag in _NOT_TEXT_TAGS and kind.endswith("_type"):
        message += f" (YAML read this as {tag}; quote it if you meant text)"
    doc.at(loc, message)


def _allowed_keys(parent: YamlPath) -> list[str]:
    """The keys the schema allows under ``parent`` (for an unknown-key message)."""
    match parent:
        case ():
            model: type[BaseModel] = MappingSpec
        case ("source",):
            model = SourceSpec
        case ("prices",):
            model = PricesSpec
        case ("prices", "days"):
            model = DaySpan
        case ("entities", str()):
            model = EntitySpec
        case ("entities", str(), "columns", str()):
            model = ColumnSpec
        case _:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _plan(spec: MappingSpec, doc: _Doc) -> Mapping:
    entities: list[EntityPlan] = []
    for name, espec in spec.entities.items():
        plan = _plan_entity(name, espec, spec.timezone, doc)
        if plan is not None:
            entities.append(plan)
    _check_directions(entities, doc)
    _check_hashes(entities, doc)
    prices = _plan_prices(spec, entities, doc)
    if not spec.entities and spec.prices is None:
        doc.at((), "the mapping maps nothing; add 'entities:' (or a 'prices:' table)")
    return Mapping(
        path=doc.path,
        name=spec.name,
        source_format=spec.source.format,
        delimiter=spec.source.delimiter,
        encoding=spec.source.encoding,
        entities=tuple(entities),
        prices=prices,
    )


def _plan_entity(name: str, espec: EntitySpec, tz: str, doc: _Doc) -> EntityPlan | None:
    path: YamlPath = ("entities", name)
    entity = ENTITIES.get(name)
    if entity is None:
        doc.at(
            path, f"unknown entity '{name}'; landing entities are {', '.join(ENTITIES)}", key=True
        )
        return None
    if espec.distinct and name == "transactions":
        doc.at((*path, "distinct"), "transactions are one row per source row; remove distinct")
    contract = {c.name: c for c in entity.columns}
    plans: list[ColumnPlan] = []
    for cname, cspec in espec.columns.items():
        cpath = (*path, "columns", cname)
        column = contract.get(cname)
        if column is None:
            close = difflib.get_close_matches(cname, list(contract), n=1)
            maybe = f" (did you mean '{close[0]}'?)" if close else ""
            doc.at(
                cpath,
                f"'{cname}' is not a {name} column{maybe}; "
                f"the contract's columns are {', '.join(contract)}",
                key=True,
            )
            continue
        plan = _plan_column(entity, column, cspec, cpath, espec.distinct, tz, doc)
        if plan is not None:
            plans.append(plan)
    missing = [c.name for c in entity.columns if c.required and c.name not in espec.columns]
    if missing:
        example = missing[0]
        doc.at(
            (*path, "columns"),
            f"the contract requires {', '.join(missing)} for {name}; map a source column "
            f"({example}: SourceColumn) or set a constant ({example}: {{const: ...}})",
            key=True,
        )
    key_spec = espec.columns.get(entity.key)
    if espec.distinct and key_spec is not None and key_spec.aggregate is not None:
        doc.at(
            (*path, "columns", entity.key, "aggregate"),
            "the key of a distinct entity groups the rows; it takes no aggregate",
        )
    return EntityPlan(entity, espec.distinct, tuple(plans))


def _plan_column(
    entity: Entity,
    column: Column,
    cspec: ColumnSpec,
    path: YamlPath,
    distinct: bool,
    tz: str,
    doc: _Doc,
) -> ColumnPlan | None:
    dtype = column.dtype
    kind = cspec.kind
    start = len(doc.problems)
    if cspec.format is not None and dtype not in TIME_TYPES:
        doc.at((*path, "format"), f"{column.name} is {dtype}, not a date or time; remove format")
    if cspec.timezone is not None and dtype not in TIME_TYPES:
        doc.at((*path, "timezone"), f"{column.name} is {dtype}; timezone only applies to times")
    if kind == "product" and dtype not in NUMERIC_TYPES:
        doc.at((*path, "product"), f"{column.name} is {dtype}; product only fills numbers")
    if kind == "hash" and dtype != "VARCHAR":
        doc.at((*path, "hash"), f"{column.name} is {dtype}; hash only fills text ids")
    if cspec.prefix is not None and (dtype != "VARCHAR" or kind not in ("from", "hash")):
        doc.at((*path, "prefix"), "prefix applies to text columns filled by from or hash")
    if cspec.scale is not None and (dtype not in NUMERIC_TYPES or kind not in ("from", "product")):
        doc.at((*path, "scale"), "scale applies to numeric columns filled by from or product")
    if cspec.aggregate is not None and not distinct:
        fix = (
            "remove it (transactions are one row per source row)"
            if entity.name == "transactions"
            else f"add 'distinct: true' to {entity.name} or remove it"
        )
        doc.at((*path, "aggregate"), f"aggregate only applies to a distinct entity; {fix}")
    if cspec.unmapped == "keep" and cspec.map is not None and dtype != "VARCHAR":
        doc.at((*path, "unmapped"), f"{column.name} is {dtype}: use reject or null")
    allowed = _value_sets(entity.name).get(column.name)
    const: object = None
    if kind == "const":
        const = _typed(column, cspec.const, (*path, "const"), doc, allowed, tz)
        if const is None and column.required and cspec.const is None:
            doc.at((*path, "const"), f"{column.name} is required; a null constant cannot fill it")
    value_map: dict[str, object] | None = None
    if cspec.map is not None:
        value_map = {
            k: _typed(column, v, (*path, "map", k), doc, allowed, tz) for k, v in cspec.map.items()
        }
    if len(doc.problems) > start:
        return None
    formats: tuple[TimeFormat, ...] = ()
    if dtype in TIME_TYPES and kind == "from":
        formats = (
            tuple(compile_format(f) for f in cspec.format) if cspec.format else DEFAULT_FORMATS
        )
    return ColumnPlan(
        column=column,
        kind=kind,
        refs=_refs(cspec, path, doc),
        const=const,
        formats=formats,
        timezone=cspec.timezone or tz,
        value_map=value_map,
        unmapped=cspec.unmapped,
        prefix=cspec.prefix or "",
        scale=cspec.scale,
        aggregate=cspec.aggregate or "first",
    )


def _refs(cspec: ColumnSpec, path: YamlPath, doc: _Doc) -> tuple[SourceRef, ...]:
    def ref(name: str, at: YamlPath) -> SourceRef:
        line, col = doc.mark(at)
        return SourceRef(name, line, col, _dotted(path))

    if cspec.source is not None:
        at = (*path, "from") if (*path, "from") in doc.values else path
        return (ref(cspec.source, at),)
    names = cspec.product if cspec.product is not None else cspec.hash
    key = "product" if cspec.product is not None else "hash"
    return tuple(ref(n, (*path, key, i)) for i, n in enumerate(names or ()))


def _value_sets(entity: str) -> dict[str, tuple[object, ...]]:
    return {c: values for (e, c), values in VALUE_SETS.items() if e == entity}


def _typed(
    column: Column,
    value: object,
    path: YamlPath,
    doc: _Doc,
    allowed: tuple[object, ...] | None,
    tz: str,
) -> object:
    """``value`` as the column's Python type, or None after recording a problem."""
    if value is None:
        return None
    tag, raw = doc.tag(path), doc.raw(path)
    dtype = column.dtype
    typed: object = None
    if dtype == "VARCHAR":
        if isinstance(value, str):
            typed = value
        elif isinstance(value, int) and not isinstance(value, bool):
            typed = raw  # the digits as written: 0123 stays 0123, not octal 83
    elif dtype == "DOUBLE":
        if isinstance(value, int | float) and not isinstance(value, bool):
            typed = float(value)
    elif dtype == "INTEGER":
        if isinstance(value, int) and not isinstance(value, bool):
            typed = value
    elif dtype == "DATE":
        typed = _as_date(value)
    elif dtype == "TIMESTAMP":
        typed = _as_timestamp(value, tz)
    if typed is None:
        quote = (
            f"; YAML read {raw} as {tag}: quote it ('{raw}') if you meant text"
            if tag in _NOT_TEXT_TAGS
            else ""
        )
        doc.at(path, f"{column.name} takes {_TYPE_WORDS[dtype]}{quote}")
        return None
    if allowed is not None and typed not in allowed:
        shown = ", ".join(map(str, allowed))
        doc.at(path, f"{column.name} must be one of {shown}; '{typed}' is not")
        return None
    return typed


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_timestamp(value: object, tz: str) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(tz))
        return value.astimezone(UTC).replace(tzinfo=None)
    return None


def _check_directions(entities: Sequence[EntityPlan], doc: _Doc) -> None:
    """A constant tx_type and a constant direction that the rules would contradict."""
    plan = next((e for e in entities if e.entity.name == "transactions"), None)
    if plan is None:
        return
    tx_type, direction = plan.column("tx_type"), plan.column("direction")
    if tx_type is None or direction is None:
        return
    if tx_type.kind == "const" and direction.kind == "const":
        expected = TX_DIRECTION.get(str(tx_type.const))
        if expected is not None and direction.const != expected:
            doc.at(
                ("entities", "transactions", "columns", "direction", "const"),
                f"a {tx_type.const} is '{expected}' seen from the user's account; "
                f"write direction: {{const: {expected}}} (ingest quarantines the other)",
            )


def _check_hashes(entities: Sequence[EntityPlan], doc: _Doc) -> None:
    personal = {
        ref.name
        for e in entities
        for c in e.columns
        if (e.entity.name, c.name) in PERSONAL_TARGETS and c.kind != "hash"
        for ref in c.refs
    }
    for e in entities:
        for c in e.columns:
            if c.kind != "hash":
                continue
            for i, ref in enumerate(c.refs):
                if ref.name in personal:
                    doc.at(
                        ("entities", e.entity.name, "columns", c.name, "hash", i),
                        f"'{ref.name}' also fills a personal column; an id hashed from it lets "
                        "anyone who knows the other hashed values test guesses of that person's "
                        "id: hash other columns (the row number keeps ids distinct)",
                    )


def _plan_prices(spec: MappingSpec, entities: Sequence[EntityPlan], doc: _Doc) -> PriceTable | None:
    if spec.prices is None:
        return None
    if "prices" in spec.entities:
        doc.at(
            ("prices",),
            "prices come either from a source (entities: prices:) or from fixed_rates, not both",
            key=True,
        )
    for asset in spec.prices.fixed_rates:
        if asset not in ASSETS:
            doc.at(
                ("prices", "fixed_rates", asset),
                f"unknown asset '{asset}'; the contract's assets are {', '.join(ASSETS)}",
                key=True,
            )
    has_transactions = any(e.entity.name == "transactions" for e in entities)
    if spec.prices.days is None and not has_transactions:
        doc.at(
            ("prices",),
            "with no transactions to span, give the days: days: {from: 2026-01-01, to: 2026-01-31}",
            key=True,
        )
    days = (spec.prices.days.first, spec.prices.days.last) if spec.prices.days else None
    return PriceTable(tuple(sorted(spec.prices.fixed_rates.items())), days)
