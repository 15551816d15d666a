"""Literal readers of landing files: each one turns the bytes of one file into rows in DuckDB.

Invariants:

- A landing path is never handed to a DuckDB function that expands globs or parses quotes:
  Parquet and JSON Lines are parsed in Python (pyarrow) from the bytes that were hashed; a CSV
  is copied from those bytes into a private folder under a fixed, glob-free name first.
- The rows of a file are exactly its records: each record becomes one staged row or one parser
  reject (a CSV/JSONL record the parser could not split into columns), never both, never none.
  ``rows_read`` of a file is the number of its records.
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
import pyarrow.parquet as pq

from ledger.contract import Entity

ROW = "_ll_row"
LINE = "_ll_line"
CSV_DELIMITERS = (",", ";", "\t", "|")
_DELIM_SQL = {",": "','", ";": "';'", "\t": "'\\t'", "|": "'|'"}

# DuckDB's CSV reject types -> (rule name, what an operator should check).
CSV_REJECTS: dict[str, tuple[str, str]] = {
    "MISSING COLUMNS": ("csv_too_few_columns", "the record has fewer fields than the header"),
    "TOO MANY COLUMNS": ("csv_too_many_columns", "the record has more fields than the header"),
    "UNQUOTED VALUE": ("csv_unterminated_quote", "a quoted field is not closed"),
    "LINE SIZE OVER MAXIMUM": ("csv_line_too_long", "the record exceeds the maximum line size"),
    "INVALID ENCODING": (
        "csv_invalid_encoding",
        "the record is not valid text in the file's encoding",
    ),
}
CSV_OTHER_REJECT = ("csv_malformed_row", "the record cannot be parsed")

JSONL_REJECTS: dict[str, str] = {
    "jsonl_invalid_encoding": "the line is not valid UTF-8",
    "jsonl_invalid_json": "the line is not valid JSON",
    "jsonl_not_an_object": "the line is not a JSON object",
    "jsonl_nested_value": "a contract column holds a JSON object or array",
}


class FileRejected(Exception):
    """The file cannot be read at all; ``str()`` is the operator-facing, value-free reason."""


@dataclass
class Source:
    """A readable file as a DuckDB relation: ``relation`` has one row per parsed record with the
    file's contract columns (``columns`` maps contract name -> source column), ``ROW`` (0-based
    record index) and, for text formats, ``LINE`` (1-based line of the record's start)."""

    relation: str
    columns: dict[str, str]
    native: dict[str, str]  # contract column -> DuckDB type it already has in the source
    rows_read: int = 0
    extra: list[str] = field(default_factory=list)
    raw_line: str | None = None  # SQL of the record's raw text, when the format keeps it
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)
    """Parser rejects found while reading: (line, rule, reason, raw line)."""


def scrub(message: str) -> str:
    """A library's error message with quoted fragments (where values appear) removed."""
    first = message.strip().splitlines()[0] if message.strip() else type(message).__name__
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", first)[:300]


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
            raise FileRejected(f"{relpath}: column {target} appears twice in the header")
        else:
            mapped[target] = name
    missing = [c.name for c in entity.columns if c.required and c.name not in mapped]
    if missing:
        raise FileRejected(
            f"{relpath}: missing required column(s) {', '.join(missing)}; a {entity.name} file "
            f"needs {', '.join(c.name for c in entity.columns if c.required)} (the others are "
            "optional)"
        )
    return mapped, extra


# -- Parquet ----------------------------------------------------------------------------------


def source_kind(dtype: str, arrow_type: pa.DataType) -> str | None:
    """How a typed Parquet column becomes the contract type without a text round trip:
    ``cast`` (TRY_CAST), ``utc`` (a zoned timestamp, converted to naive UTC), or None (parse its
    text, as for CSV). Only lossless pairs are cast: a float never becomes an INTEGER."""
    integer = pa.types.is_integer(arrow_type)
    if dtype == "INTEGER" and integer:
        return "cast"
    if dtype == "DOUBLE" and (integer or pa.types.is_floating(arrow_type)):
        return "cast"
    if dtype == "DOUBLE" and pa.types.is_decimal(arrow_type):
        return "cast"
    if dtype == "DATE" and pa.types.is_date(arrow_type):
        return "cast"
    if dtype == "TIMESTAMP" and pa.types.is_timestamp(arrow_type):
        return "utc" if arrow_type.tz else "cast"
    return None


def read_parquet(
    con: duckdb.DuckDBPyConnection, relpath: str, data: bytes, entity: Entity, name: str
) -> Source:
    """Parse Parquet bytes with pyarrow and register the table as ``name``."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet.schema_arrow
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
    targets = list(mapped)
    try:
        table = parquet.read(columns=[mapped[t] for t in targets])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected(
            f"{relpath}: Parquet data cannot be decoded ({scrub(str(exc))})"
        ) from exc
    # Positional names: a source column name never reaches SQL text.
    table = table.rename_columns([f"s{i}" for i in range(len(targets))])
    table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    con.register(name, table)
    native: dict[str, str] = {}
    for target in targets:
        kind = source_kind(entity.column(target).dtype, schema.field(mapped[target]).type)
        if kind is not None:
            native[target] = kind
    columns = {t: f"s{i}" for i, t in enumerate(targets)}
    return Source(name, columns, native, table.num_rows, extra)


# -- CSV --------------------------------------------------------------------------------------


def _csv_encoding(data: bytes) -> tuple[str, str]:
    """(DuckDB encoding, Python codec) from the byte-order mark; UTF-8 without one."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", "utf-16"
    return "utf-8", "utf-8-sig"


def _csv_header(relpath: str, data: bytes, codec: str) -> tuple[list[str], str]:
    head = data[: 1 << 16].decode(codec, errors="replace")
    first = head.splitlines()[0] if head.strip() else ""
    if not first.strip():
        raise FileRejected(f"{relpath}: empty CSV file (no header line)")
    best: tuple[int, str, list[str]] = (-1, ",", [])
    for delim in CSV_DELIMITERS:
        names = next(csv.reader(io.StringIO(first), delimiter=delim))
        score = len(names) if len(names) > 1 else 0
        if score > best[0]:
            best = (score, delim, names)
    return best[2], best[1]


def read_csv(
    con: duckdb.DuckDBPyConnection,
    relpath: str,
    data: bytes,
    entity: Entity,
    name: str,
    folder: Path,
) -> Source:
    """Parse CSV bytes with DuckDB (rejects table on) from a private copy into temp table
    ``name``; the parser rejects come back in ``Source.rejects``."""
    encoding, codec = _csv_encoding(data)
    header, delim = _csv_header(relpath, data, codec)
    mapped, extra = match_columns(relpath, entity, header)
    copy = folder / f"{name}.csv"
    copy.write_bytes(data)
    positional = {h: f"c{i}" for i, h in enumerate(header)}
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header)))
    rejects, scan = f"{name}_rejects", f"{name}_rejects_scan"
    con.execute(
        f"""CREATE TEMP TABLE {name} AS
        SELECT *, CAST(row_number() OVER () - 1 AS BIGINT) AS {ROW}
        FROM read_csv('{copy}', header = true, auto_detect = false, columns = {{{columns}}},
            delim = {_DELIM_SQL[delim]}, quote = '"', escape = '"', encoding = '{encoding}',
            strict_mode = true, store_rejects = true, rejects_table = '{rejects}',
            rejects_scan = '{scan}')"""
    )
    found = con.execute(
        f"SELECT line, min(CAST(error_type AS VARCHAR)), any_value(csv_line) FROM {rejects} "
        "GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    parsed = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    out: list[tuple[int, str, str, str]] = []
    for line, kind, raw in found:
        rule, why = CSV_REJECTS.get(kind, CSV_OTHER_REJECT)
        out.append((int(line), rule, f"line {line}: {why}", raw))
    cols = {target: positional[source] for target, source in mapped.items()}
    rows = (parsed[0] if parsed else 0) + len(out)
    return Source(name, cols, {}, rows, extra, rejects=out)


# -- JSON Lines -------------------------------------------------------------------------------


def read_jsonl(
    con: duckdb.DuckDBPyConnection, relpath: str, data: bytes, entity: Entity, name: str
) -> Source:
    """Split JSONL bytes into lines in Python; temp table ``name`` holds each line's text, line
    number, ``_parse_rule`` (the parser rule it breaks, NULL for a good line) and ``_vals`` (the
    contract columns as text). Blank lines are not records."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
    elif data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    texts: list[str | None] = []
    lines: list[int] = []
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        try:
            texts.append(chunk.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError:
            texts.append(None)
        lines.append(number)
    table = pa.table(
        {
            "_text": pa.array(texts, pa.string()),
            LINE: pa.array(lines, pa.int64()),
            ROW: pa.array(range(len(lines)), pa.int64()),
        }
    )
    view = f"{name}_lines"
    con.register(view, table)
    paths = "[" + ", ".join(f"'$.{c}'" for c in entity.column_names) + "]"
    # Each line is parsed once per list call; the CASE keeps invalid lines away from the parsers.
    con.execute(
        f"""CREATE TEMP TABLE {name} AS
        SELECT _text, {LINE}, {ROW},
            CASE WHEN _text IS NULL THEN 'jsonl_invalid_encoding'
                 WHEN NOT json_valid(_text) THEN 'jsonl_invalid_json'
                 WHEN json_type(_text) <> 'OBJECT' THEN 'jsonl_not_an_object'
                 WHEN list_has_any(json_type(_text, {paths}), ['OBJECT', 'ARRAY'])
                    THEN 'jsonl_nested_value' END AS _parse_rule,
            CASE WHEN _parse_rule IS NULL THEN json_extract_string(_text, {paths}) END AS _vals
        FROM {view}"""
    )
    con.unregister(view)
    columns = {c: f"_vals[{i + 1}]" for i, c in enumerate(entity.column_names)}
    return Source(name, columns, {}, len(lines), [], raw_line="_text")
