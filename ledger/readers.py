"""Literal readers of landing files: the bytes of a file become rows of one canonical shape.

The canonical shape of an entity (:func:`canonical_schema`) has, per contract column, ``t_<col>``
(the value as text, as it arrived) and, for non-text columns, ``v_<col>`` (the value when the
file already carried it typed, e.g. a Parquet DOUBLE). Ingest types and validates that shape in
one SQL pass whatever the format was.

Invariants:

- A landing path is never handed to a DuckDB function that expands globs or parses quotes:
  Parquet and JSON Lines are parsed in Python (pyarrow) from the bytes that were hashed; a CSV
  is copied from those bytes into a private folder under a fixed, glob-free name first.
- Every record of a file becomes exactly one canonical row or one parser reject (a CSV/JSONL
  record the parser cannot split into columns, with its line and reason), never both, never
  none. ``rows_read`` of a file is its number of records.
- A file is rejected whole (:class:`FileRejected`) only when it cannot be read at all: not
  Parquet, a required column absent from its header or schema, a nested type in a contract
  column. Messages name the file, the column and the problem, never a value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ledger.contract import Column, Entity

CSV_DELIMITERS = (",", ";", "\t", "|")
_DELIM_SQL = {",": "','", ";": "';'", "\t": "'\\t'", "|": "'|'"}
_TYPED = {"DOUBLE": pa.float64(), "INTEGER": pa.int64(), "DATE": pa.date32()}
_TYPED_SQL = {"DOUBLE": "DOUBLE", "INTEGER": "BIGINT", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}

# DuckDB's CSV reject types -> (rule name, what an operator should check).
CSV_REJECTS: dict[str, tuple[str, str]] = {
    "MISSING COLUMNS": ("csv_too_few_columns", "the record has fewer fields than the header"),
    "TOO MANY COLUMNS": ("csv_too_many_columns", "the record has more fields than the header"),
    "UNQUOTED VALUE": ("csv_unterminated_quote", "a quoted field is not closed"),
    "LINE SIZE OVER MAXIMUM": ("csv_line_too_long", "the record exceeds the maximum line size"),
    "INVALID ENCODING": ("csv_invalid_encoding", "the record is not valid in the file's encoding"),
}
CSV_OTHER_REJECT = ("csv_malformed_row", "the record cannot be parsed")

JSONL_REJECTS: dict[str, str] = {
    "jsonl_invalid_encoding": "the line is not valid UTF-8",
    "jsonl_invalid_json": "the line is not valid JSON",
    "jsonl_not_an_object": "the line is not a JSON object",
    "jsonl_nested_value": "a contract column holds a JSON object or array",
}

ParserReject = tuple[int, str, str, str]
"""(line, rule, reason, raw line) of one record the parser could not split."""


class FileRejected(Exception):
    """The file cannot be read at all; ``str()`` is the operator-facing, value-free reason."""


def scrub(message: str) -> str:
    """A library's error message with quoted fragments (where values appear) removed."""
    lines = message.strip().splitlines()
    first = lines[0] if lines else "no detail"
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)[:300]


def canonical_schema(entity: Entity) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the canonical columns of an entity."""
    out: list[tuple[str, str]] = []
    for col in entity.columns:
        if col.dtype != "VARCHAR":
            out.append((f"v_{col.name}", _TYPED_SQL[col.dtype]))
        out.append((f"t_{col.name}", "VARCHAR"))
    return out


def match_columns(
    relpath: str, entity: Entity, names: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Map source column names to contract columns (trimmed, case-insensitive).

    Returns (contract -> source, unknown source names). Raises FileRejected when a required
    column is absent or two source columns map to the same contract column.
    """
    wanted = {c.lower(): c for c in entity.column_names}
    mapped: dict[str, str] = {}
    extra: list[str] = []
    for name in names:
        target = wanted.get(name.strip().lower())
        if target is None:
            extra.append(name)
        elif target in mapped:
            raise FileRejected(f"{relpath}: column {target} appears twice")
        else:
            mapped[target] = name
    missing = [c.name for c in entity.columns if c.required and c.name not in mapped]
    if missing:
        required = ", ".join(c.name for c in entity.columns if c.required)
        raise FileRejected(
            f"{relpath}: missing required column(s) {', '.join(missing)}; a {entity.name} file "
            f"needs {required} (every other column is optional)"
        )
    return mapped, extra


@dataclass(frozen=True)
class TextFacts:
    """What holds for every value of some text columns (``t_<col>``) of a canonical table, so
    ingest can skip work that cannot change them (:func:`text_facts`, on the reader threads).

    ``trimmed``: every value is ASCII and none starts or ends with a space, so DuckDB's ``TRIM``
    (which strips the space and the Unicode space separators, U+00A0, U+2000-U+200A, U+3000...)
    leaves it as it is. ``printable``: every value is printable ASCII (U+0020-U+007E), so it
    holds no control, zero-width or other invisible character. A column neither set names is
    treated as before."""

    trimmed: frozenset[str] = frozenset()
    printable: frozenset[str] = frozenset()

    @staticmethod
    def common(facts: Sequence[TextFacts]) -> TextFacts:
        """What holds for the rows of all of them (a chunk of several files)."""
        if not facts:
            return TextFacts()
        return TextFacts(
            frozenset.intersection(*(f.trimmed for f in facts)),
            frozenset.intersection(*(f.printable for f in facts)),
        )


def text_facts(table: pa.Table) -> TextFacts:
    """The :class:`TextFacts` of a canonical table's text columns."""
    trimmed, printable = [], []
    for name in table.column_names:
        column = table.column(name)
        if not name.startswith("t_") or not pa.types.is_string(column.type):
            continue
        if column.null_count == len(column):
            trimmed.append(name)
            printable.append(name)
            continue
        if not pc.all(pc.string_is_ascii(column)).as_py():
            continue
        if not pc.any(pc.or_(pc.starts_with(column, " "), pc.ends_with(column, " "))).as_py():
            trimmed.append(name)
        if pc.all(pc.ascii_is_printable(column)).as_py():
            printable.append(name)
    return TextFacts(frozenset(trimmed), frozenset(printable))


# -- Parquet ----------------------------------------------------------------------------------


@dataclass
class ParquetPart:
    """One Parquet file in canonical shape (``table``), with its record count from the footer
    and what holds for its text columns (:func:`text_facts`)."""

    table: pa.Table
    rows_read: int
    extra: list[str] = field(default_factory=list)
    text: TextFacts = field(default_factory=TextFacts)


def _typed_array(col: Column, array: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as its canonical typed array when that is lossless, else None (use text)."""
    kind = array.type
    try:
        if col.dtype == "INTEGER" and pa.types.is_integer(kind):
            return pc.cast(array, pa.int64())
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        if col.dtype == "DOUBLE" and (numeric or pa.types.is_decimal(kind)):
            return pc.cast(array, pa.float64())
        if col.dtype == "DATE" and pa.types.is_date(kind):
            return pc.cast(array, pa.date32())
        if col.dtype == "TIMESTAMP" and pa.types.is_timestamp(kind):
            # A zoned timestamp keeps its instant: the naive value is UTC.
            return pc.cast(array, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _text_array(relpath: str, name: str, array: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FileRejected(
            f"{relpath}: column {name} of type {array.type} cannot be read as text "
            f"({scrub(str(exc))})"
        ) from exc


def read_parquet(relpath: str, data: bytes, entity: Entity) -> ParquetPart:
    """Parse Parquet bytes with pyarrow into the canonical shape."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected(f"{relpath}: not a readable Parquet file ({scrub(str(exc))})") from exc
    mapped, extra = match_columns(relpath, entity, schema.names)
    for target, source in mapped.items():
        kind = schema.field(source).type
        if pa.types.is_nested(kind):
            raise FileRejected(
                f"{relpath}: column {target} has the nested type {kind}; the contract expects "
                f"{entity.column(target).dtype}"
            )
    try:
        table = parquet.read(columns=list(mapped.values()))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected(
            f"{relpath}: Parquet data cannot be decoded ({scrub(str(exc))})"
        ) from exc
    n = table.num_rows
    arrays: dict[str, pa.ChunkedArray | pa.Array] = {}
    for col in entity.columns:
        name = mapped.get(col.name)
        src = table.column(name) if name is not None else None
        typed = _typed_array(col, src) if src is not None else None
        if col.dtype != "VARCHAR":
            arrays[f"v_{col.name}"] = typed if typed is not None else pa.nulls(n, _arrow(col))
        if src is None or typed is not None:
            arrays[f"t_{col.name}"] = pa.nulls(n, pa.string())
        else:
            arrays[f"t_{col.name}"] = _text_array(relpath, col.name, src)
    canon = pa.table(arrays)
    return ParquetPart(canon, rows, extra, text_facts(canon))


def _arrow(col: Column) -> pa.DataType:
    return _TYPED.get(col.dtype, pa.timestamp("us"))


# -- CSV --------------------------------------------------------------------------------------


def _csv_encoding(data: bytes) -> tuple[str, str]:
    """(DuckDB encoding, Python codec) from the byte-order mark; UTF-8 without one."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "utf-16"
    return "utf-8", "utf-8-sig"


def _csv_header(relpath: str, data: bytes, codec: str) -> tuple[list[str], str]:
    head = data[: 1 << 16].decode(codec, errors="replace")
    lines = head.splitlines()
    if not lines or not lines[0].strip():
        raise FileRejected(f"{relpath}: empty CSV file (no header line)")
    best: tuple[int, str, list[str]] = (-1, ",", [])
    for delim in CSV_DELIMITERS:
        names = next(csv.reader(io.StringIO(lines[0]), delimiter=delim))
        score = len(names) if len(names) > 1 else 0
        if score > best[0]:
            best = (score, delim, names)
    return best[2], best[1]


def read_csv(
    con: duckdb.DuckDBPyConnection,
    relpath: str,
    data: bytes,
    entity: Entity,
    table: str,
    copy: Path,
    lineage: str,
) -> tuple[int, list[str], list[ParserReject], list[int] | None]:
    """Parse CSV bytes with DuckDB (rejects table on) from a private copy at ``copy`` straight
    into ``table`` (canonical text columns, then the ``lineage`` expressions, which may use
    ``_ll_row``).

    Returns (records read, unknown columns, parser rejects, line of each parsed record by
    ``_ll_row`` or None: :func:`record_lines`).
    """
    encoding, codec = _csv_encoding(data)
    header, delim = _csv_header(relpath, data, codec)
    mapped, extra = match_columns(relpath, entity, header)
    copy.write_bytes(data)
    position = {h: i for i, h in enumerate(header)}
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    select = []
    for name, kind in canonical_schema(entity):
        source = mapped.get(name[2:]) if name.startswith("t_") else None
        value = f"c{position[source]}" if source is not None else "NULL"
        select.append(f"CAST({value} AS {kind}) AS {name}")
    rejects, scan = f"{table}_rejects", f"{table}_rejects_scan"
    before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    con.execute(
        f"""INSERT INTO {table}
        SELECT {", ".join(select)}, {lineage} FROM (
        SELECT *, CAST(row_number() OVER () - 1 AS BIGINT) AS _ll_row
        FROM read_csv('{copy}', header = true, auto_detect = false, columns = {{{columns}}},
            delim = {_DELIM_SQL[delim]}, quote = '"', escape = '"', encoding = '{encoding}',
            strict_mode = true, store_rejects = true, rejects_table = '{rejects}',
            rejects_scan = '{scan}'))"""
    )
    try:
        found = con.execute(
            f"SELECT line, min(CAST(error_type AS VARCHAR)), any_value(csv_line) FROM {rejects} "
            "GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {rejects}")
        con.execute(f"DROP TABLE IF EXISTS {scan}")
    parsed = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] - before
    out: list[ParserReject] = []
    for line, kind, raw in found:
        rule, why = CSV_REJECTS.get(kind, CSV_OTHER_REJECT)
        out.append((int(line), rule, f"line {line}: {why}", raw))
    lines = record_lines(data, codec, delim, {r[0] for r in out}, int(parsed))
    return int(parsed) + len(out), extra, out, lines


def _record_lines(
    data: bytes, codec: str, delim: str, records: int | None = None
) -> list[int] | None:
    """1-based first line of every data record (a quoted field may span lines), or None when
    Python's CSV reader cannot read the file the way DuckDB did. ``records``: how many records
    DuckDB found (parsed and rejected), when known."""
    if not any(c in data for c in (b"\r", b"\0")) and codec != "utf-16":
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            return None
        lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        # Every physical line is one record (a blank one included, as the CSV reader counts it)
        # when nothing is quoted, or when the parser found one record per line of a file
        # without blank lines: a quoted field spanning lines would leave a line over. Then the
        # lines need no parsing, only counting.
        if b'"' not in data or (records == lines - 1 and b"\n\n" not in data):
            return list(range(2, lines + 1))
    try:
        reader = csv.reader(io.StringIO(data.decode(codec), newline=""), delimiter=delim)
        next(reader, None)  # the header
        starts, end = [], reader.line_num
        for _ in reader:
            starts.append(end + 1)
            end = reader.line_num
    except (UnicodeDecodeError, csv.Error):
        return None
    return starts


def record_lines(
    data: bytes, codec: str, delim: str, rejected: set[int], parsed: int
) -> list[int] | None:
    """The line in the file of each parsed record (``_row`` order), so a row that fails a value
    rule is named by line like a parser reject; None (the row index still names it) when the
    two readers disagree on how many records the file holds."""
    starts = _record_lines(data, codec, delim, parsed + len(rejected))
    if starts is None:
        return None
    accepted = [n for n in starts if n not in rejected]
    if len(accepted) != parsed or not parsed:
        return None
    return accepted


# -- JSON Lines -------------------------------------------------------------------------------


def jsonl_lines(
    data: bytes, relpath: str = "the file"
) -> tuple[list[str | None], list[str], list[int]]:
    """The non-blank lines of JSONL bytes: text (None where not UTF-8), raw text (undecodable
    bytes as backslash escapes, for quarantine) and 1-based line numbers. A file with a UTF-16
    byte-order mark that is not valid UTF-16 is rejected whole (its lines cannot be found)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"{relpath}: starts with a UTF-16 byte-order mark but is not valid UTF-16 (byte "
                f"{exc.start}); save it as UTF-8 or valid UTF-16 and land it again"
            ) from exc
    elif data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    texts: list[str | None] = []
    raws: list[str] = []
    lines: list[int] = []
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        whole = None
    if whole is not None:
        # The common case: one decode, lines split as text (a newline byte never occurs inside
        # a UTF-8 sequence); blank means ASCII whitespace only, as for the bytes below.
        for number, line in enumerate(whole.split("\n"), start=1):
            if line.strip(_ASCII_WHITESPACE):
                raw = line.rstrip("\r")
                texts.append(raw)
                raws.append(raw)
                lines.append(number)
        return texts, raws, lines
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        raw_bytes = chunk.rstrip(b"\r")
        try:
            texts.append(raw_bytes.decode("utf-8"))
            raws.append(texts[-1] or "")
        except UnicodeDecodeError:
            texts.append(None)
            raws.append(raw_bytes.decode("utf-8", errors="backslashreplace"))
        lines.append(number)
    return texts, raws, lines


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
"""What ``bytes.strip()`` removes."""


def jsonl_parse_sql(entity: Entity, source: str) -> str:
    """SELECT over ``source`` (``_text`` lines) adding ``_parse_rule`` (NULL for a good line)
    and ``_vals`` (the contract columns as text, a struct). A valid object is parsed once into
    every contract column; only a line where some column's text could be an object or array
    (it holds a brace or bracket) is parsed again to tell a nested value from a string. The
    CASEs keep invalid lines away from the extractors."""
    names = entity.column_names
    struct = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in names) + "}"
    paths = "[" + ", ".join(f"'$.{c}'" for c in names) + "]"
    bracket = " OR ".join(
        f"coalesce(contains(_vals.\"{c}\", '{{') OR contains(_vals.\"{c}\", '['), false)"
        for c in names
    )
    return f"""SELECT * EXCLUDE (_shape_rule),
        CASE WHEN _shape_rule IS NOT NULL THEN _shape_rule
             WHEN ({bracket})
                AND list_has_any(json_type(_text, {paths}), ['OBJECT', 'ARRAY'])
                THEN 'jsonl_nested_value' END AS _parse_rule
    FROM (
        SELECT *, CASE WHEN _shape_rule IS NULL THEN json_transform(_text, '{struct}') END
            AS _vals
        FROM (
            SELECT *,
                CASE WHEN _text IS NULL THEN 'jsonl_invalid_encoding'
                     WHEN NOT json_valid(_text) THEN 'jsonl_invalid_json'
                     WHEN json_type(_text) <> 'OBJECT' THEN 'jsonl_not_an_object' END
                    AS _shape_rule
            FROM {source}
        )
    )"""


def jsonl_canonical_sql(entity: Entity) -> str:
    """Canonical column expressions from ``_vals`` of :func:`jsonl_parse_sql`."""
    out = []
    for name, kind in canonical_schema(entity):
        value = f'_vals."{name[2:]}"' if name.startswith("t_") else "NULL"
        out.append(f"CAST({value} AS {kind}) AS {name}")
    return ", ".join(out)
