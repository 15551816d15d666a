"""Import a foreign export into landing files of the contract, as a mapping says.

:func:`import_sources` reads each source file with pyarrow (CSV, Parquet, JSON Lines; no path is
ever handed to a glob-expanding reader), fills every mapped contract column in the column's
contract type, and writes Parquet under ``landing/``:

- ``transactions/<YYYY-MM-DD>.<name>.parquet``: one file per UTC day of ``occurred_at``;
- ``<entity>/<name>.parquet`` for every other mapped entity (distinct entities: one row per key);
- ``prices/<name>.parquet``: the fixed-rate table, one row per asset per day.

``<name>`` is the mapping's ``name``, so imported files never share a name with the generator's or
another mapping's files.

Invariants:

- Nothing is dropped silently. For every entity filled row by row,
  ``rows_read == rows_written + rows_rejected``. A row is *rejected* only when the importer cannot
  give it a value: a present value that does not parse as the column's type or format, a value
  missing from a value map that says ``unmapped: reject``, or a transaction without a time (it
  has no day file to go to). Rejects are listed in ``landing/_rejects/<name>.csv`` (source file,
  row, entity, column, reason; never the value, which may be personal) and counted in the report.
  Every other row is written as mapped, even one the contract will refuse (an empty user_id, a
  negative amount): ingest then quarantines it with the rule it broke and vaults the raw record.
- Distinct entities keep one row per non-empty key; rows with an empty key are counted
  (``rows_without_key``), not written.
- Output is deterministic: the same mapping and sources give the same bytes. A file that exists
  with the same bytes is left alone (running twice writes nothing); a file that exists with other
  bytes is never overwritten, and then nothing at all is written.
- A file appears whole: it is written under a hidden temporary name (ingest skips dot files) and
  hard-linked into place, which fails rather than replace a file created meanwhile.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ledger.mapping import (
    ColumnPlan,
    EntityPlan,
    Mapping,
    MappingError,
    PriceTable,
    Problem,
    TimeFormat,
    load_mapping,
)

REJECTS_FOLDER = "_rejects"
SOURCE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}
SOURCE_FORMATS |= {".ndjson": "jsonl"}
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
    "INTEGER": pa.int32(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
}
"""Arrow type of each contract type in an imported file (timestamps are naive UTC)."""

_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_INTEGER = r"^[+-]?\d+$"
_ID_HEX = 20  # 80 bits of SHA-256: no collision expected below ~10^12 rows


class ImporterError(RuntimeError):
    """A source or landing problem (unreadable file, a landing file in the way); names the file."""


class _UnsupportedType(Exception):
    """A source column of a type no contract column can take (lists, structs, bytes)."""

    def __init__(self, column: str, kind: str) -> None:
        super().__init__(column, kind)
        self.column, self.kind = column, kind


@dataclass(frozen=True)
class Reject:
    """One value the importer could not map: where it is and why, without the value itself."""

    source: str
    row: int  # 1-based data row of the source (the first record after a CSV header is 1)
    entity: str
    column: str
    reason: str


@dataclass
class EntityImport:
    entity: str
    rows_written: int = 0
    rows_rejected: int = 0
    rows_without_key: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import read, wrote and rejected; paths are relative to the landing folder."""

    mapping: Path
    sources: list[Path]
    rows_read: int = 0
    entities: dict[str, EntityImport] = field(default_factory=dict)
    files_written: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rejects_file: Path | None = None

    @property
    def rows_rejected(self) -> int:
        """Source rows rejected for at least one entity."""
        return len({(r.source, r.row) for r in self.rejects})


Failures = list[tuple[str, pa.Array]]
_Cache = dict[tuple[object, ...], tuple[pa.Array, Failures]]


@dataclass
class _Filled:
    """One entity's columns for one source, with the rejected rows marked."""

    table: pa.Table
    rejected: np.ndarray
    rejects: list[Reject]


def import_sources(mapping_path: Path, sources: list[Path], landing: Path) -> ImportReport:
    """Map ``sources`` into ``landing`` as the mapping at ``mapping_path`` says.

    Raises :class:`~ledger.mapping.MappingError` (a bad mapping, or a source column the mapping
    names that a source lacks: each with the mapping's line) or :class:`ImporterError`
    (unreadable source, a landing file that exists with other content); in both cases nothing
    has been written.
    """
    mapping = load_mapping(mapping_path)
    if not sources and mapping.entities:
        raise ImporterError("no source files given; name one or more CSV, Parquet or JSONL files")
    seen: set[Path] = set()
    for src in sources:
        if src.resolve() in seen:
            raise ImporterError(f"{src}: given twice; each source is imported once")
        seen.add(src.resolve())
    tables = [(src, read_source(src, mapping)) for src in sources]
    _check_source_columns(mapping, tables)
    report = ImportReport(mapping=mapping_path, sources=list(sources))
    report.rows_read = sum(t.num_rows for _, t in tables)
    outputs: dict[str, pa.Table] = {}
    days: list[date] = []
    caches: list[_Cache] = [{} for _ in tables]
    for plan in mapping.entities:
        outcome = EntityImport(plan.entity.name)
        filled = [_fill(plan, src, table, caches[i]) for i, (src, table) in enumerate(tables)]
        for f in filled:
            report.rejects.extend(f.rejects)
            outcome.rows_rejected += int(f.rejected.sum())
        kept = pa.concat_tables(
            [f.table.filter(pa.array(~f.rejected)) for f in filled]
        ).combine_chunks()
        if plan.distinct:
            kept, outcome.rows_without_key = _distinct(plan, kept)
        if plan.entity.name == "transactions":
            for day, part in _split_days(kept):
                outputs[f"transactions/{day.isoformat()}.{mapping.name}.parquet"] = part
                days.append(day)
        elif kept.num_rows:
            outputs[f"{plan.entity.name}/{mapping.name}.parquet"] = kept
        outcome.rows_written = kept.num_rows
        report.entities[plan.entity.name] = outcome
    if mapping.prices is not None:
        prices = price_table(mapping.prices, days)
        if prices.num_rows:
            outputs[f"prices/{mapping.name}.parquet"] = prices
        report.entities["prices"] = EntityImport("prices", rows_written=prices.num_rows)
    for relpath in outputs:
        report.entities[relpath.split("/", 1)[0]].files.append(relpath)
    _write_all(landing, outputs, report)
    report.rejects_file = _write_rejects(landing, mapping.name, report.rejects)
    return report


# ---------------------------------------------------------------------------------------------
# Reading sources
# ---------------------------------------------------------------------------------------------


def read_source(path: Path, mapping: Mapping) -> pa.Table:
    """One source file as an Arrow table (CSV columns as text, so nothing is guessed).

    The suffix decides the format; the mapping's ``source.format`` covers other suffixes.
    """
    if not path.is_file():
        raise ImporterError(f"{path}: no such file")
    fmt = SOURCE_FORMATS.get(path.suffix.lower()) or mapping.source_format
    if fmt is None:
        raise ImporterError(
            f"{path}: cannot tell the format from the suffix '{path.suffix}'; use .csv, "
            ".parquet or .jsonl, or set source: {format: csv} in the mapping"
        )
    try:
        if fmt == "csv":
            return _read_csv(path, mapping)
        if fmt == "parquet":
            return pq.read_table(path)
        return pajson.read_json(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeError) as exc:
        raise ImporterError(f"{path}: cannot be read as {fmt}: {_arrow_reason(exc)}") from None


def _read_csv(path: Path, mapping: Mapping) -> pa.Table:
    encoding = (
        "utf-8-sig"
        if mapping.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        else mapping.encoding
    )
    with path.open(encoding=encoding, newline="") as fh:
        header = next(csv.reader(fh, delimiter=mapping.delimiter), None)
    if not header:
        raise ImporterError(f"{path}: empty file; a CSV source starts with a header line")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImporterError(
            f"{path}: the header names {', '.join(duplicated)} more than once; rename them"
        )
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=mapping.encoding),
        parse_options=pacsv.ParseOptions(delimiter=mapping.delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


def _arrow_reason(exc: BaseException) -> str:
    """The parser's complaint without the offending text, which may hold personal values."""
    message = str(exc)
    row = re.search(r"[Rr]ow #?(\d+)", message)
    fields = re.search(r"Expected (\d+) columns?, got (\d+)", message)
    where = f" at record {row.group(1)}" if row else ""
    if fields:
        return (
            f"a record has {fields.group(2)} fields where the header has {fields.group(1)}"
            f"{where}; check the delimiter and quoting"
        )
    if isinstance(exc, UnicodeError):
        return "the bytes are not text in the mapping's encoding; set source: {encoding: ...}"
    return f"{type(exc).__name__}{where}; check the file is a complete, valid file"


def _check_source_columns(mapping: Mapping, tables: Sequence[tuple[Path, pa.Table]]) -> None:
    problems: list[Problem] = []
    for src, table in tables:
        names = table.column_names
        for ref in mapping.source_refs:
            if ref.name in names:
                continue
            close = difflib.get_close_matches(ref.name, names, n=1)
            maybe = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                Problem(
                    ref.line,
                    ref.column,
                    ref.where,
                    f"source column '{ref.name}' is not in {src.name}{maybe}; "
                    f"its columns are {_listed(names)}",
                )
            )
    if problems:
        raise MappingError(mapping.path, problems)


def _listed(names: Sequence[str], most: int = 30) -> str:
    shown = [n if len(n) <= 40 else n[:37] + "..." for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most} more" if len(names) > most else "")


# ---------------------------------------------------------------------------------------------
# Filling contract columns
# ---------------------------------------------------------------------------------------------


def _fill(plan: EntityPlan, source: Path, table: pa.Table, cache: _Cache) -> _Filled:
    n = table.num_rows
    rejected = np.zeros(n, dtype=bool)
    rejects: list[Reject] = []
    arrays: list[pa.Array] = []
    for cplan in plan.columns:
        try:
            values, shared = fill_column(cplan, table, cache)
        except _UnsupportedType as exc:
            raise ImporterError(
                f"{source}: the column {exc.column} feeding {plan.entity.name}.{cplan.name} has "
                f"the type {exc.kind}; map columns that hold text, numbers or times"
            ) from None
        failures = list(shared)
        if plan.entity.name == "transactions" and cplan.name == "occurred_at":
            empty = _mask(pc.and_(pc.is_null(values), pc.invert(_any_mask(failures, n))))
            if empty.any():
                failures.append(
                    (
                        f"{'/'.join(cplan.sources) or 'the time'} is empty: a transaction needs a "
                        "time to be filed under its day",
                        pa.array(empty),
                    )
                )
        for reason, mask in failures:
            bad = _mask(mask)
            rejected |= bad
            rejects.extend(
                Reject(str(source), int(i) + 1, plan.entity.name, cplan.name, reason)
                for i in np.flatnonzero(bad)
            )
        arrays.append(values)
    schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.column.dtype]) for c in plan.columns])
    return _Filled(pa.Table.from_arrays(arrays, schema=schema), rejected, rejects)


def _mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _any_mask(failures: Sequence[tuple[str, pa.Array]], n: int) -> pa.Array:
    out = pa.array(np.zeros(n, dtype=bool))
    for _, mask in failures:
        out = pc.or_(out, pc.fill_null(mask, False))
    return out


def fill_column(
    plan: ColumnPlan, table: pa.Table, cache: _Cache | None = None
) -> tuple[pa.Array, Failures]:
    """The values of one contract column for every source row, and the rows that failed why.

    ``cache`` (one per source table) lets entities that read the same source column the same
    way share the work, e.g. a date that fills occurred_at and, as a date, signup_date.
    """
    if cache is None:
        cache = {}
    key: tuple[object, ...] = (plan.kind, plan.sources, plan.formats, plan.timezone)
    key += (plan.column.dtype, plan.prefix, plan.const, plan.scale, plan.unmapped)
    key += (tuple((plan.value_map or {}).items()),)
    if key not in cache:
        cache[key] = _fill_column(plan, table)
    return cache[key]


def _fill_column(plan: ColumnPlan, table: pa.Table) -> tuple[pa.Array, Failures]:
    n = table.num_rows
    target = ARROW_TYPES[plan.column.dtype]
    if plan.kind == "const":
        return _constant(plan.const, target, n), []
    if plan.kind == "hash":
        return _hash_ids(table, plan.sources, plan.prefix), []
    if plan.kind == "product":
        a, b = plan.sources
        left, bad_left = _numbers(_column(table, a), integer=False)
        right, bad_right = _numbers(_column(table, b), integer=False)
        values = pc.multiply(left, right)
        if plan.scale is not None:
            values = pc.multiply(values, plan.scale)
        failures = [(f"{a} is not a number", bad_left), (f"{b} is not a number", bad_right)]
        if target != pa.float64():
            values, bad_whole = _to_integer(values)
            failures.append((f"{a} * {b} is not a whole number", bad_whole))
        return values, failures
    return _from(plan, _column(table, plan.sources[0]), target)


def _column(table: pa.Table, name: str) -> pa.Array:
    values = table.column(name).combine_chunks()
    if pa.types.is_nested(values.type) or pa.types.is_binary(values.type):
        raise _UnsupportedType(name, str(values.type))
    return values


def _constant(value: object, target: pa.DataType, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, target), n)


def _from(plan: ColumnPlan, raw: pa.Array, target: pa.DataType) -> tuple[pa.Array, Failures]:
    source = plan.sources[0]
    dtype = plan.column.dtype
    if plan.value_map is None:
        if dtype in ("DATE", "TIMESTAMP"):
            values, bad = parse_times(raw, plan.formats, plan.timezone, dtype)
            shown = " or ".join(f.text for f in plan.formats)
            return values, [(f"{source} does not match the format {shown}", bad)]
        if dtype == "VARCHAR":
            return _prefixed(text(raw), plan.prefix), []
        values, bad = _numbers(raw, integer=dtype == "INTEGER")
        if plan.scale is not None:
            values = pc.cast(pc.multiply(values, plan.scale), target)
        return values, [(f"{source} is not {_kind_of(dtype)}", bad)]
    words = text(raw)
    keys = pa.array(list(plan.value_map), pa.string())
    hit = pc.index_in(words, value_set=keys)
    mapped = pc.take(pa.array(list(plan.value_map.values()), target), hit)
    missed = pc.and_(pc.is_valid(words), pc.is_null(hit))
    failures: Failures = []
    if plan.unmapped == "reject":
        failures.append((f"{source} has a value the map does not list", missed))
    elif plan.unmapped == "keep":
        mapped = pc.if_else(missed, words, mapped)
    return _prefixed(mapped, plan.prefix) if dtype == "VARCHAR" else mapped, failures


def _kind_of(dtype: str) -> str:
    return "a whole number" if dtype == "INTEGER" else "a number"


def _prefixed(values: pa.Array, prefix: str) -> pa.Array:
    if not prefix:
        return values
    return pc.binary_join_element_wise(pa.scalar(prefix), values, "")


def text(raw: pa.Array) -> pa.Array:
    """Source values as trimmed text; empty text is null. Whole floats lose their ``.0``."""
    kind = raw.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        words = raw.cast(pa.string())
    elif pa.types.is_floating(kind):
        nan = pc.fill_null(pc.is_nan(raw), False)
        clean = pc.if_else(nan, pa.scalar(None, kind), raw)
        whole = pc.fill_null(pc.equal(pc.floor(clean), clean), False)
        as_int = pc.cast(pc.if_else(whole, clean, 0), pa.int64(), safe=False).cast(pa.string())
        words = pc.if_else(whole, as_int, clean.cast(pa.string()))
    elif pa.types.is_null(kind):
        words = pa.nulls(len(raw), pa.string())
    else:
        words = raw.cast(pa.string())
    stripped = pc.utf8_trim_whitespace(words)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def _numbers(raw: pa.Array, integer: bool) -> tuple[pa.Array, pa.Array]:
    """Numbers (float64, or int32 when ``integer``) and the mask of present non-numbers."""
    kind = raw.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        values = raw.cast(pa.float64())
        bad = pa.array(np.zeros(len(raw), dtype=bool))
    else:
        words = text(raw)
        ok = pc.fill_null(pc.match_substring_regex(words, _NUMBER), False)
        values = pc.if_else(ok, words, pa.scalar(None, pa.string())).cast(pa.float64())
        bad = pc.and_(pc.is_valid(words), pc.invert(ok))
    if not integer:
        return values, bad
    whole, bad_int = _to_integer(values)
    return whole, pc.or_(bad, bad_int)


def _to_integer(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    limit = 2**31 - 1
    ok = pc.fill_null(
        pc.and_(
            pc.equal(pc.floor(values), values),
            pc.less_equal(pc.abs(values), limit),
        ),
        False,
    )
    whole = pc.cast(pc.if_else(ok, values, pa.scalar(None, pa.float64())), pa.int32())
    return whole, pc.and_(pc.is_valid(values), pc.invert(ok))


def parse_times(
    raw: pa.Array, formats: Sequence[TimeFormat], timezone: str, dtype: str
) -> tuple[pa.Array, pa.Array]:
    """Times as naive UTC ``timestamp[us]`` (or ``date32`` for DATE), and the unparsed mask.

    Naive source times are in ``timezone`` (a time in a DST gap or overlap takes the earlier
    instant); values with an offset are converted. A date-only value is that date for a DATE
    column and local midnight for a TIMESTAMP. Formats are tried in order, the first that parses
    a value wins. Token formats must match the whole value.
    """
    target = ARROW_TYPES[dtype]
    kind = raw.type
    if pa.types.is_timestamp(kind):
        instants = raw.cast(pa.timestamp("us", kind.tz))
        if kind.tz is None:
            instants = _localise(instants, timezone)
        utc = instants.cast(pa.timestamp("us", "UTC")).cast(pa.timestamp("us"))
        return utc.cast(target), pa.array(np.zeros(len(raw), dtype=bool))
    if pa.types.is_date(kind):
        days = raw.cast(pa.date32())
        if dtype == "DATE":
            return days, pa.array(np.zeros(len(raw), dtype=bool))
        midnight = _localise(days.cast(pa.timestamp("us")), timezone)
        return midnight.cast(pa.timestamp("us")), pa.array(np.zeros(len(raw), dtype=bool))
    words = text(raw)
    result = pa.nulls(len(words), target)
    for fmt in formats:
        todo = pc.and_(pc.is_valid(words), pc.is_null(result))
        candidates = pc.if_else(todo, words, pa.scalar(None, pa.string()))
        candidates = pc.if_else(_in_range(candidates, fmt.regex), candidates, None)
        parsed = pc.strptime(candidates, format=fmt.strptime, unit="us", error_is_null=True)
        if fmt.has_offset:
            parsed = parsed.cast(pa.timestamp("us"))
        elif fmt.has_time or dtype == "TIMESTAMP":
            parsed = _localise(parsed, timezone).cast(pa.timestamp("us"))
        result = pc.coalesce(result, parsed.cast(target))
    return result, pc.and_(pc.is_valid(words), pc.is_null(result))


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _in_range(candidates: pa.Array, regex: str) -> pa.Array:
    """Where ``candidates`` match the whole format and name a real time: year 1 or later, a day
    within its month, hours 0-23, minutes and seconds 0-59."""
    groups = pc.extract_regex(candidates, pattern=regex)
    matched = _mask(pc.is_valid(groups))

    def number(name: str) -> np.ndarray:
        digits = pc.fill_null(pc.struct_field(groups, name), "0")
        return np.asarray(digits.cast(pa.int64()).to_numpy(zero_copy_only=False))

    names = {groups.type.field(i).name for i in range(groups.type.num_fields)}
    if "year" in names:
        year = number("year")
    else:  # strptime's %y pivot: 69-99 are 1969-1999, 00-68 are 2000-2068
        yy = number("yy")
        year = np.where(yy < 69, 2000 + yy, 1900 + yy)
    month, day = number("month"), number("day")
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    in_year = (month >= 1) & (month <= 12)
    last = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    clock = np.ones(len(matched), dtype=bool)
    for name, top in (("hour", 23), ("minute", 59), ("second", 59)):
        if name in names:
            clock &= number(name) <= top
    return pa.array(matched & in_year & (day >= 1) & (day <= last) & (year >= 1) & clock)


def _localise(naive: pa.Array, timezone: str) -> pa.Array:
    """Naive local times in ``timezone`` as UTC-aware instants."""
    if timezone == "UTC":
        return naive.cast(pa.timestamp("us", "UTC"))
    return pc.assume_timezone(naive, timezone, ambiguous="earliest", nonexistent="earliest")


def _hash_ids(table: pa.Table, columns: Sequence[str], prefix: str) -> pa.Array:
    """``prefix`` + 80 bits of SHA-256 over the row number and the columns' trimmed text.

    The hashed text is injective in its cells: each is written as ``<length>:<text>`` (``~``
    when empty) after the 1-based row number, separated by ``|``. The row number keeps identical
    lines apart; the same export imported again (under any mapping name) gives the same ids, so
    ingest sees a re-import as duplicates.
    """
    n = table.num_rows
    parts = [pa.array(np.arange(1, n + 1)).cast(pa.string())]
    for name in columns:
        cells = text(_column(table, name))
        sized = pc.binary_join_element_wise(pc.utf8_length(cells).cast(pa.string()), cells, ":")
        parts.append(pc.fill_null(sized, "~"))
    payloads = pc.binary_join_element_wise(*parts, "|").to_pylist()
    return pa.array(
        [prefix + hashlib.sha256(p.encode()).hexdigest()[:_ID_HEX] for p in payloads],
        pa.string(),
    )


# ---------------------------------------------------------------------------------------------
# Shaping entities: distinct rows, day files, prices
# ---------------------------------------------------------------------------------------------


def _distinct(plan: EntityPlan, table: pa.Table) -> tuple[pa.Table, int]:
    key = plan.entity.key
    has_key = pc.is_valid(table.column(key))
    without = table.num_rows - int(pc.sum(has_key).as_py() or 0)
    keyed = table.filter(has_key)
    others = [c for c in plan.columns if c.name != key]
    grouped = pa.TableGroupBy(keyed, key, use_threads=False).aggregate(
        [(c.name, c.aggregate) for c in others]
    )
    grouped = grouped.rename_columns(
        [key if n == key else n.rsplit("_", 1)[0] for n in grouped.column_names]
    )
    ordered = grouped.sort_by(key).select([c.name for c in plan.columns])
    return ordered.cast(table.schema), without


def _split_days(table: pa.Table) -> list[tuple[date, pa.Table]]:
    """Rows grouped by UTC day of ``occurred_at``, source order kept within a day."""
    if table.num_rows == 0:
        return []
    day = pc.cast(table.column("occurred_at"), pa.date32()).combine_chunks()
    order = pc.sort_indices(day)  # Arrow's sort is stable
    ordered = table.take(order)
    ordinals = day.take(order).cast(pa.int32()).to_numpy()
    starts = np.flatnonzero(np.diff(ordinals, prepend=ordinals[0] - 1))
    ends = [*starts[1:], len(ordinals)]
    epoch = date(1970, 1, 1)
    return [
        (epoch + timedelta(days=int(ordinals[s])), ordered.slice(s, e - s))
        for s, e in zip(starts, ends, strict=True)
    ]


def price_table(table: PriceTable, days: Sequence[date]) -> pa.Table:
    """One row per asset per day, from the mapping's ``days`` or the span of ``days``."""
    if table.days is not None:
        first, last = table.days
    elif days:
        first, last = min(days), max(days)
    else:
        return pa.table(
            {c: pa.array([], ARROW_TYPES[t]) for c, t in _PRICE_COLUMNS},
        )
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    rows = [(asset, rate, day) for asset, rate in table.rates for day in span]
    return pa.table(
        {
            "price_id": pa.array([f"{a}|{d.isoformat()}" for a, _, d in rows], pa.string()),
            "price_date": pa.array([d for _, _, d in rows], pa.date32()),
            "asset": pa.array([a for a, _, _ in rows], pa.string()),
            "price_base": pa.array([r for _, r, _ in rows], pa.float64()),
        }
    )


_PRICE_COLUMNS = (
    ("price_id", "VARCHAR"),
    ("price_date", "DATE"),
    ("asset", "VARCHAR"),
    ("price_base", "DOUBLE"),
)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table) -> bytes:
    """The Parquet encoding of ``table``: the same table always gives the same bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(None), sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def _write_all(landing: Path, outputs: dict[str, pa.Table], report: ImportReport) -> None:
    encoded = {relpath: parquet_bytes(table) for relpath, table in sorted(outputs.items())}
    conflicts = [
        relpath
        for relpath, data in encoded.items()
        if (landing / relpath).exists() and (landing / relpath).read_bytes() != data
    ]
    if conflicts:
        raise ImporterError(_conflict_message(landing, conflicts))
    for relpath, data in encoded.items():
        target = landing / relpath
        if target.exists():
            report.files_unchanged.append(relpath)
            continue
        if not _link_new(target, data):
            raise ImporterError(_conflict_message(landing, [relpath]))
        report.files_written.append(relpath)


def _link_new(target: Path, data: bytes) -> bool:
    """Create ``target`` with ``data`` unless it exists; False if it appeared with other bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, target)
        except FileExistsError:
            return target.read_bytes() == data
        return True
    finally:
        temp.unlink(missing_ok=True)


def _conflict_message(landing: Path, relpaths: Sequence[str]) -> str:
    listed = ", ".join(relpaths[:5]) + (
        f" and {len(relpaths) - 5} more" if len(relpaths) > 5 else ""
    )
    return (
        f"{landing}: {listed} already exist(s) with other content, from an earlier import under "
        "this mapping's name; landing files are immutable, so nothing was written. If the old "
        "files were never ingested, delete them and import again; otherwise give the mapping a "
        "new name (rows already loaded are then quarantined by ingest as duplicates)"
    )


def _write_rejects(landing: Path, name: str, rejects: Sequence[Reject]) -> Path | None:
    """``landing/_rejects/<name>.csv`` listing every reject, or no file when there are none."""
    path = landing / REJECTS_FOLDER / f"{name}.csv"
    if not rejects:
        path.unlink(missing_ok=True)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source_file", "row", "entity", "column", "reason"])
    for r in rejects:
        writer.writerow([r.source, r.row, r.entity, r.column, r.reason])
    data = buffer.getvalue().encode()
    if path.exists() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
    return path
