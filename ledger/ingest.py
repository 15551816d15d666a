"""Validated, idempotent ingest of landing files into the ``ledger`` schema of the warehouse.

One call ingests a batch of files in three phases:

1. **Stage** (outside any transaction, so one bad file cannot abort the others): read each new
   file literally (:mod:`ledger.readers`), type every value and evaluate the row rules of
   :mod:`ledger.rules` into temp tables; parser rejects (a CSV/JSONL record that does not split
   into columns) are staged with their line and reason. A file that cannot be read at all is
   rejected alone.
2. **Route** (one transaction): evaluate the batch rules (unknown references, duplicates: the
   first row that passes every other rule wins), write valid rows to ``ledger.<entity>`` and the
   rest to ``ledger.quarantine`` with every rule it failed, its source file and row or line, the
   subject it names (``subject_id``, the row's ``user_id`` when it has one) and its raw record in
   ``raw_record``. Then the caller's ``protect`` step runs in the same transaction: the pipeline
   passes one that moves personal values into the encrypted vault, leaves tokens in their place
   and seals ``raw_record`` into ``raw_sealed`` (:mod:`privacy.at_rest`; the ledger layer does
   not know how).
3. **Check, then commit**: the blocking checks run on what was written in that transaction
   (rows written = rows read per file, no key twice, every quarantine row names its source, the
   blocking Great Expectations expectations); if any fails the transaction is rolled back, the
   ledger is exactly as it was, and :class:`BlockingCheckFailed` names the checks, files and rows.

Invariants: a file's state is its content *and* its outcome: only a ``loaded`` hash makes later
copies a no-op; a rejected file is retried when its content, name or the contract changes; a
landed file that disappears is reported ``missing`` (its rows stay) and never stops a run.
Messages never carry a value of a row: they show file, row or line, column and rule.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol, TypeAlias, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.contract import ENTITIES, LANDING_FORMATS, REFERENCE_ENTITIES, Column, Entity
from ledger.expectations import DEFAULT_SUITE, SuiteConfig, SuiteOutcome, run_suite
from ledger.readers import (
    JSONL_REJECTS,
    FileRejected,
    ParquetPart,
    ParserReject,
    TextFacts,
    canonical_schema,
    jsonl_canonical_sql,
    jsonl_lines,
    jsonl_parse_sql,
    read_csv,
    read_parquet,
    scrub,
    text_facts,
)
from ledger.rules import DEFAULT_LIMITS, Limits, Rule, closed_sets, rules_for

INGEST_ORDER: tuple[str, ...] = (*REFERENCE_ENTITIES, "transactions")
DEFAULT_MEMORY_LIMIT = "1GB"
FORMAT_ALIASES = {"ndjson": "jsonl"}
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./-]+")
# Errors in SQL we generate are bugs to surface, never a reason to reject somebody's file.
_OUR_BUGS = (
    duckdb.BinderException,
    duckdb.ParserException,
    duckdb.CatalogException,
    duckdb.InternalException,
)


class Protect(Protocol):
    """At-rest protection, called inside the ingest transaction entity by entity (the pipeline
    passes :class:`privacy.at_rest.LedgerProtector`). Raising rolls the whole batch back."""

    def excluded(self, con: duckdb.DuckDBPyConnection, entity: str, ids_sql: str) -> str | None:
        """A temp table ``(v VARCHAR)`` of the values of ``ids_sql`` (the batch's user ids and
        counterparties) whose rows must not be kept (erased subjects), or None."""

    def prepare(self, con: duckdb.DuckDBPyConnection, entity: str, rows_sql: str) -> None:
        """Before the rows of ``rows_sql`` (every contract column) are written to the ledger."""

    def column_sql(self, entity: str, column: str, expr: str) -> str:
        """What the ledger stores for ``expr`` (a contract column of ``entity``)."""

    def raw_sql(self, raw: str, entity: str, file: str, row: str, line: str) -> tuple[str, str]:
        """(``raw_record``, ``raw_sealed``) SQL for a quarantined raw record."""

    def finish(self, con: duckdb.DuckDBPyConnection, snapshot: str) -> Mapping[str, int]:
        """After every entity is written; counts for the report."""


class _Plain:
    """No protection: values rest as loaded (tests, and the ledger used on its own)."""

    def excluded(self, con: duckdb.DuckDBPyConnection, entity: str, ids_sql: str) -> str | None:
        return None

    def prepare(self, con: duckdb.DuckDBPyConnection, entity: str, rows_sql: str) -> None:
        return None

    def column_sql(self, entity: str, column: str, expr: str) -> str:
        return expr

    def raw_sql(self, raw: str, entity: str, file: str, row: str, line: str) -> tuple[str, str]:
        return raw, "NULL"

    def finish(self, con: duckdb.DuckDBPyConnection, snapshot: str) -> Mapping[str, int]:
        return {}


class IngestError(RuntimeError):
    """Ingest could not run; the message names what was wrong and never a row's value."""


@dataclass(frozen=True)
class CheckFailure:
    """One failed blocking check: which check, on which entity, what (counts, files, rows)."""

    check: str
    entity: str
    detail: str


class BlockingCheckFailed(IngestError):
    """A blocking check failed on the staged batch; nothing of the batch was committed."""

    def __init__(self, failures: Sequence[CheckFailure]) -> None:
        self.failures = list(failures)
        lines = "; ".join(f"{f.check} on {f.entity}: {f.detail}" for f in failures)
        super().__init__(
            f"ingest rolled back, the ledger is unchanged: {lines}. Fix or remove the named "
            "files and run again."
        )


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relpath: str
    entity: str
    fmt: str


@dataclass
class FileOutcome:
    relpath: str
    entity: str
    sha256: str
    status: str  # loaded | rejected | unchanged | missing
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    notes: str | None = None
    size_bytes: int = 0
    fmt: str = ""
    recorded: bool = False  # this outcome is already in ledger.files (nothing to write)


@dataclass
class IngestReport:
    snapshot_id: str | None
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0
    suite: list[SuiteOutcome] = field(default_factory=list)
    unchecked_references: list[str] = field(default_factory=list)
    protected: dict[str, int] = field(default_factory=dict)

    def _sum(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def rows_read(self) -> int:
        return self._sum("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    def by_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]


def landing_format(path: Path) -> str:
    """The landing format of a file from its extension, case-insensitive (``x.CSV`` is csv)."""
    suffix = path.suffix.lstrip(".").lower()
    return FORMAT_ALIASES.get(suffix, suffix)


def landing_file(landing: Path, path: Path, entity: str) -> LandingFile:
    return LandingFile(path, path.relative_to(landing).as_posix(), entity, landing_format(path))


def discover(landing: Path, entities: Iterable[str] = INGEST_ORDER) -> list[LandingFile]:
    """Landing files of the given entities, in ingest order (reference data before transactions).

    Any file name is legal (``?``, ``*``, ``[``, quotes); hidden files (``.name``) are uploads
    in progress and skipped.
    """
    found: list[LandingFile] = []
    for entity in entities:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if not path.name.startswith("."):
                found.append(landing_file(landing, path, entity))
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def contract_version(limits: Limits = DEFAULT_LIMITS) -> str:
    """Digest of the contract and its rules: a rejected file is retried when it changes."""
    text = repr((sorted(ENTITIES.items()), [rules_for(e, limits) for e in ENTITIES]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_FILES_COLUMNS = (
    "file_path VARCHAR, entity VARCHAR, sha256 VARCHAR, size_bytes BIGINT, format VARCHAR, "
    "status VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, "
    "error VARCHAR, notes VARCHAR, snapshot_id VARCHAR, ingested_at TIMESTAMP"
)
_QUARANTINE_COLUMNS = (
    "entity VARCHAR, source_file VARCHAR, source_row BIGINT, failed_rules VARCHAR[], "
    "raw_record VARCHAR, snapshot_id VARCHAR, quarantined_at TIMESTAMP"
)


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or extend) the ``ledger`` schema: one table per entity with every contract column,
    plus files, quarantine and snapshots."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    for entity in ENTITIES.values():
        cols = ", ".join(f'"{c.name}" {c.dtype}' for c in entity.columns)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS ledger.{entity.name} ({cols}, "
            "_source_file VARCHAR, _source_row BIGINT, _snapshot_id VARCHAR)"
        )
    con.execute(f"CREATE TABLE IF NOT EXISTS ledger.files ({_FILES_COLUMNS})")
    con.execute("ALTER TABLE ledger.files ADD COLUMN IF NOT EXISTS contract_version VARCHAR")
    # archived_at / archive_path: a loaded file moved out of landing into the encrypted archive
    # (written by the caller's archive step); it is not missing, and never loaded again.
    con.execute("ALTER TABLE ledger.files ADD COLUMN IF NOT EXISTS archived_at TIMESTAMP")
    con.execute("ALTER TABLE ledger.files ADD COLUMN IF NOT EXISTS archive_path VARCHAR")
    con.execute(f"CREATE TABLE IF NOT EXISTS ledger.quarantine ({_QUARANTINE_COLUMNS})")
    # source_line: 1-based line of a CSV/JSONL record; reason: the parser's, for parser rejects.
    con.execute("ALTER TABLE ledger.quarantine ADD COLUMN IF NOT EXISTS source_line BIGINT")
    con.execute("ALTER TABLE ledger.quarantine ADD COLUMN IF NOT EXISTS reason VARCHAR")
    # subject_id: the row's user_id (erasure finds a subject's rejects without reading the raw
    # record); raw_sealed: the raw record once a protect step has encrypted it.
    con.execute("ALTER TABLE ledger.quarantine ADD COLUMN IF NOT EXISTS subject_id VARCHAR")
    con.execute("ALTER TABLE ledger.quarantine ADD COLUMN IF NOT EXISTS raw_sealed BLOB")
    con.execute(
        """CREATE TABLE IF NOT EXISTS ledger.snapshots (
            snapshot_id VARCHAR, created_at TIMESTAMP, files BIGINT, root_sha256 VARCHAR)"""
    )


# -- typing and row rules -------------------------------------------------------------------


def _typed(col: Column, trimmed: bool = False) -> tuple[str, str]:
    """(typed value, present flag) SQL of one contract column from its canonical columns;
    ``trimmed``: its text column is known to need no TRIM (:func:`trimmed_columns`)."""
    text = f"NULLIF(t_{col.name}, '')" if trimmed else f"NULLIF(TRIM(t_{col.name}), '')"
    if col.dtype == "VARCHAR":
        return text, f"{text} IS NOT NULL"
    if col.dtype == "TIMESTAMP":
        # Offsets are honoured and everything is stored as naive UTC.
        parsed = f"timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ))"
    else:
        parsed = f"TRY_CAST({text} AS {col.dtype})"
    typed = f"coalesce(TRY_CAST(v_{col.name} AS {col.dtype}), {parsed})"
    return typed, f"(v_{col.name} IS NOT NULL OR {text} IS NOT NULL)"


def _failed_list(rules: Sequence[Rule]) -> str:
    """SQL of the names of the ``rules`` a row fails, as a list. The list is built only for a
    row that fails one: the conditions are ORed first, which nearly every row passes (measured:
    a quarter less CPU for the row rules' statement than building and filtering a list per row)."""
    cases = ", ".join(f"CASE WHEN ({r.fails_when}) THEN '{r.name}' END" for r in rules)
    if not rules:
        return "CAST([] AS VARCHAR[])"
    fails = " OR ".join(f"({r.fails_when})" for r in rules)
    return (
        f"CASE WHEN {fails} THEN list_filter([{cases}], lambda x: x IS NOT NULL) "
        "ELSE CAST([] AS VARCHAR[]) END"
    )


def _text_struct(pairs: Iterable[tuple[str, str]]) -> str:
    return "to_json({" + ", ".join(f"'{n}': CAST({e} AS VARCHAR)" for n, e in pairs) + "})"


_NOTHING_KNOWN = TextFacts()


def _judge_rows(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    relation: str,
    limits: Limits,
    text: TextFacts = _NOTHING_KNOWN,
) -> None:
    """Type the canonical rows of ``relation`` and insert them, with the row rules each one
    fails and (for failing rows) its raw record, into ``stage_<entity>``. ``text``: what holds
    for the text columns of ``relation``: TRIM is skipped where it changes nothing, and a rule
    that only printable ASCII cannot fail is skipped where every value is printable ASCII."""
    inner = []
    for col in entity.columns:
        typed, present = _typed(col, f"t_{col.name}" in text.trimmed)
        inner.append(f'{typed} AS "{col.name}", {present} AS _p_{col.name}')
    raw = _text_struct(
        (
            c.name,
            f"t_{c.name}" if c.dtype == "VARCHAR" else f"coalesce(v_{c.name}::VARCHAR, t_{c.name})",
        )
        for c in entity.columns
    )
    row_rules = [
        r
        for r in rules_for(entity.name, limits)
        if r.scope == "row" and not (r.ascii_safe and f"t_{r.ascii_safe}" in text.printable)
    ]
    enums = _stage_enums(entity, limits)
    names = ", ".join(
        f'TRY_CAST("{c}" AS {enums[c]})' if c in enums else f'"{c}"' for c in entity.column_names
    )
    con.execute(
        f"""INSERT INTO stage_{entity.name}
        SELECT {names}, _local, CASE WHEN len(_local) > 0 THEN coalesce(_rawline, {raw}) END,
            _order, _row, _line
        FROM (
            SELECT *, {_failed_list(row_rules)} AS _local FROM (
                SELECT {", ".join(inner)}, src.* FROM {relation} src
            )
        )"""
    )


# -- phase 1: stage -------------------------------------------------------------------------

CHUNK_ROWS = 500_000
"""Parquet rows judged per statement: bounds memory, amortises statement cost over files."""


@dataclass
class _Batch:
    con: duckdb.DuckDBPyConnection
    folder: Path
    limits: Limits
    temp: list[tuple[str, str]] = field(default_factory=list)  # (TABLE | VIEW, name)
    staged: dict[str, list[FileOutcome]] = field(default_factory=dict)

    def drop(self) -> None:
        for kind, name in reversed(self.temp):
            self.con.execute(f"DROP {kind} IF EXISTS {name}")

    def table(self, name: str, columns: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")
        self.temp.append(("TABLE", name))


_FILES = "_ll_batch_files"
"""The batch's files: ``_order`` (index in the batch) and ``_file`` (landing-relative path)."""
_LINEAGE = "_order INTEGER, _row BIGINT, _line BIGINT, _rawline VARCHAR"
"""The lineage columns of parsed rows: the file is ``_order`` (its path is joined from
:data:`_FILES` when rows are written, not repeated on every row)."""


def _stage_enums(entity: Entity, limits: Limits) -> dict[str, str]:
    """ENUM types for the stage's closed-set text columns (:func:`ledger.rules.closed_sets`):
    one byte a row instead of a string, so a 5M-row stage stays within the memory limit. Lossless
    for every row whose typed values are read again: a row with another value fails a row rule,
    and its raw record is kept at staging."""
    return {
        c: "ENUM(" + ", ".join(_sql_text(str(v)) for v in dict.fromkeys(values)) + ")"
        for c, values in closed_sets(entity.name, limits).items()
        if entity.column(c).dtype == "VARCHAR" and values
    }


def _create_stage(batch: _Batch, entity: Entity) -> None:
    enums = _stage_enums(entity, batch.limits)
    typed = ", ".join(f'"{c.name}" {enums.get(c.name, c.dtype)}' for c in entity.columns)
    batch.table(
        f"stage_{entity.name}",
        f"{typed}, _local VARCHAR[], _raw VARCHAR, _order INTEGER, _row BIGINT, _line BIGINT",
    )


def _reject(outcome: FileOutcome, lf: LandingFile, exc: Exception) -> None:
    outcome.status = "rejected"
    if isinstance(exc, FileRejected):
        outcome.error = str(exc)
    else:
        outcome.error = f"{lf.relpath}: cannot be read as {lf.fmt} ({scrub(str(exc))})"


def _read_verified(lf: LandingFile, outcome: FileOutcome) -> bytes:
    """The file's bytes, which must still hash to what triage recorded."""
    try:
        data = lf.path.read_bytes()
    except OSError as exc:
        raise FileRejected(f"{lf.relpath}: cannot be opened ({type(exc).__name__})") from exc
    if hashlib.sha256(data).hexdigest() != outcome.sha256:
        raise FileRejected(f"{lf.relpath}: changed while being ingested; run again")
    return data


READ_AHEAD = 8
"""Files read and parsed ahead of the one being staged (bounds the memory held in flight)."""

_Parsed: TypeAlias = "ParquetPart | _TextPart"


class _Parsers:
    """Private in-memory DuckDB connections for the reader threads (one thread, 512 MB each),
    reused file after file: opening one costs more than parsing a typical CSV. A connection a
    file failed in is closed, not reused."""

    def __init__(self) -> None:
        self.idle: list[duckdb.DuckDBPyConnection] = []
        self.lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.lock:
            con = self.idle.pop() if self.idle else None
        if con is None:
            con = duckdb.connect(config={"threads": 1, "memory_limit": "512MB"})
        try:
            yield con
        except BaseException:
            con.close()
            raise
        with self.lock:
            self.idle.append(con)

    def close(self) -> None:
        with self.lock:
            for con in self.idle:
                con.close()
            self.idle.clear()


def _parse(
    order: int,
    lf: LandingFile,
    outcome: FileOutcome,
    entity: Entity,
    folder: Path,
    parsers: _Parsers,
) -> _Parsed:
    """A file's bytes, verified, as what its stager consumes: the canonical Parquet part, or the
    parsed CSV or JSON Lines rows with their parser rejects. Runs on a reader thread."""
    data = _read_verified(lf, outcome)
    if lf.fmt == "parquet":
        return read_parquet(lf.relpath, data, entity)
    if lf.fmt == "jsonl":
        with parsers.connection() as con:
            return _parse_jsonl(con, order, lf.relpath, data, entity)
    if lf.fmt == "csv":
        with parsers.connection() as con:
            return _parse_csv(con, order, lf, data, entity, folder)
    raise FileRejected(
        f"{lf.relpath}: unsupported format '.{lf.fmt}'; landing files must be one of "
        f"{', '.join('.' + f for f in LANDING_FORMATS)} (any letter case)"
    )


def _read_ahead(
    files: list[tuple[int, LandingFile, FileOutcome]], entity: Entity, folder: Path
) -> Iterator[tuple[int, LandingFile, FileOutcome, Future[_Parsed]]]:
    """The files in order, each with its parse running up to :data:`READ_AHEAD` files ahead on
    two threads: reading, hashing and pyarrow decoding overlap the SQL of earlier files (both
    release the GIL). An error surfaces from the future, for that file alone."""
    parsers = _Parsers()
    queue: deque[tuple[int, LandingFile, FileOutcome, Future[_Parsed]]] = deque()
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ledgerlens-read") as pool:
            try:
                for order, lf, outcome in files:
                    job = pool.submit(_parse, order, lf, outcome, entity, folder, parsers)
                    queue.append((order, lf, outcome, job))
                    if len(queue) > READ_AHEAD:
                        yield queue.popleft()
                while queue:
                    yield queue.popleft()
            finally:
                for *_, future in queue:
                    future.cancel()
    finally:
        parsers.close()


def _stage_entity(
    batch: _Batch, entity: Entity, files: list[tuple[int, LandingFile, FileOutcome]]
) -> None:
    """Stage every file of one entity; a file that fails is rejected alone."""
    chunk: list[tuple[int, LandingFile, FileOutcome, ParquetPart]] = []
    texts: list[tuple[int, LandingFile, FileOutcome, _TextPart]] = []
    for order, lf, outcome, parsed in _read_ahead(files, entity, batch.folder):
        try:
            got = parsed.result()
            if isinstance(got, ParquetPart):
                outcome.rows_read = got.rows_read
                _note_extra(outcome, got.extra)
                chunk.append((order, lf, outcome, got))
                if sum(p.table.num_rows for *_, p in chunk) >= CHUNK_ROWS:
                    _flush_parquet(batch, entity, chunk)
                    chunk = []
            else:
                texts.append((order, lf, outcome, got))
                if sum(p.table.num_rows for *_, p in texts) >= CHUNK_ROWS:
                    _flush_text(batch, entity, texts)
                    texts = []
        except _OUR_BUGS:
            raise
        except (FileRejected, duckdb.Error) as exc:
            _reject(outcome, lf, exc)
    _flush_parquet(batch, entity, chunk)
    _flush_text(batch, entity, texts)
    batch.staged[entity.name] = [o for _, _, o in files if o.status != "rejected"]


def _note_extra(outcome: FileOutcome, extra: list[str]) -> None:
    if extra:
        outcome.notes = f"ignored {len(extra)} column(s) outside the contract"


def _row_numbers(n: int) -> pa.Array:
    """0..n-1 (from numpy: ``pa.array(range(n))`` iterates Python ints, ~1 s per 5M rows)."""
    return pa.array(np.arange(n, dtype=np.int64))


def _with_lineage(order: int, table: pa.Table) -> pa.Table:
    n = table.num_rows
    table = table.append_column("_order", pa.repeat(pa.scalar(order, pa.int32()), n))
    table = table.append_column("_row", _row_numbers(n))
    table = table.append_column("_line", pa.nulls(n, pa.int64()))
    return table.append_column("_rawline", pa.nulls(n, pa.string()))


def _flush_parquet(
    batch: _Batch, entity: Entity, chunk: list[tuple[int, LandingFile, FileOutcome, ParquetPart]]
) -> None:
    """Judge a chunk of Parquet files in one statement (:func:`_stage_or_each`)."""

    def stage(files: list[tuple[int, LandingFile, FileOutcome, ParquetPart]]) -> None:
        tables = [_with_lineage(order, part.table) for order, _, _, part in files]
        text = TextFacts.common([part.text for *_, part in files])
        _judge_arrow(batch, entity, pa.concat_tables(tables), text)

    _stage_or_each(chunk, stage)


def _judge_arrow(batch: _Batch, entity: Entity, table: pa.Table, text: TextFacts) -> None:
    batch.con.register("_parquet_chunk", table)
    try:
        _judge_rows(batch.con, entity, "_parquet_chunk", batch.limits, text)
    finally:
        batch.con.unregister("_parquet_chunk")


@dataclass
class _TextPart:
    """One CSV or JSON Lines file parsed on a reader thread: canonical rows (``canon`` shape
    with lineage), records read, unknown columns, parser rejects (:data:`_REJECT_SCHEMA`) and
    what holds for its text columns."""

    table: pa.Table
    rows_read: int
    extra: list[str]
    rejects: pa.Table
    text: TextFacts = field(default_factory=TextFacts)


def _parse_csv(
    con: duckdb.DuckDBPyConnection,
    order: int,
    lf: LandingFile,
    data: bytes,
    entity: Entity,
    folder: Path,
) -> _TextPart:
    """Parse one CSV on the calling (reader) thread, in a private in-memory DuckDB (``con``, of
    :class:`_Parsers`): two files parse at once beside the batch's own SQL, and nothing of a
    file that fails reaches the batch."""
    columns = ", ".join(f"{n} {t}" for n, t in canonical_schema(entity))
    con.execute(f"CREATE OR REPLACE TEMP TABLE canon ({columns}, {_LINEAGE})")
    lineage = f"{order}, _ll_row, NULL, NULL"
    copy = folder / f"{order}.csv"
    try:
        read, extra, rejects, lines = read_csv(
            con, lf.relpath, data, entity, "canon", copy, lineage
        )
        table = con.sql("SELECT * FROM canon").to_arrow_table()
        if lines is not None:
            by_row = pc.take(pa.array(lines, pa.int64()), table.column("_row"))
            table = table.set_column(table.schema.get_field_index("_line"), "_line", by_row)
    finally:
        copy.unlink(missing_ok=True)
        con.execute("DROP TABLE IF EXISTS canon")
    return _TextPart(table, read, extra, _csv_rejects(rejects), text_facts(table))


_REJECT_SCHEMA = pa.schema(
    [("_row", pa.int64()), ("_line", pa.int64()), ("rule", pa.string()),
     ("reason", pa.string()), ("raw", pa.string())]
)  # fmt: skip
"""A parser reject: the record's row (JSON Lines) or NULL (CSV), its line, rule, reason and raw
text."""


def _csv_rejects(rejects: list[ParserReject]) -> pa.Table:
    return pa.table(
        [
            pa.nulls(len(rejects), pa.int64()),
            pa.array([r[0] for r in rejects], pa.int64()),
            pa.array([r[1] for r in rejects], pa.string()),
            pa.array([r[2] for r in rejects], pa.string()),
            pa.array([r[3] for r in rejects], pa.string()),
        ],
        schema=_REJECT_SCHEMA,
    )


def _parse_jsonl(
    con: duckdb.DuckDBPyConnection, order: int, relpath: str, data: bytes, entity: Entity
) -> _TextPart:
    """Parse one JSON Lines file on the calling (reader) thread, in a private in-memory DuckDB
    (``con``, of :class:`_Parsers`), into canonical rows and parser rejects."""
    lines = _jsonl_table(order, relpath, data)
    whys = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in JSONL_REJECTS.items())
    con.register("_lines", lines)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE parsed AS {jsonl_parse_sql(entity, '_lines')}")
        table = con.sql(
            f"SELECT {jsonl_canonical_sql(entity)}, _order, _row, _line, "
            "_raw_text AS _rawline FROM parsed WHERE _parse_rule IS NULL"
        ).to_arrow_table()
        rejects = con.sql(
            f"""SELECT _row, _line, _parse_rule AS rule,
                'line ' || _line || ': ' || CASE _parse_rule {whys} END AS reason,
                _raw_text AS raw
            FROM parsed WHERE _parse_rule IS NOT NULL"""
        ).to_arrow_table()
    finally:
        con.unregister("_lines")
        con.execute("DROP TABLE IF EXISTS parsed")
    return _TextPart(table, lines.num_rows, [], rejects.cast(_REJECT_SCHEMA), text_facts(table))


_Part = TypeVar("_Part")


def _stage_or_each(
    chunk: list[tuple[int, LandingFile, FileOutcome, _Part]],
    stage: Callable[[list[tuple[int, LandingFile, FileOutcome, _Part]]], None],
) -> list[tuple[int, LandingFile, FileOutcome, _Part]]:
    """Stage a chunk of parsed files at once; if that fails, each file alone, and a file that
    fails alone is rejected. Returns the files that were staged."""
    if not chunk:
        return []
    try:
        stage(chunk)
    except _OUR_BUGS:
        raise
    except duckdb.Error as exc:
        if len(chunk) == 1:
            _reject(chunk[0][2], chunk[0][1], exc)
            return []
        return [done for one in chunk for done in _stage_or_each([one], stage)]
    return chunk


def _flush_text(
    batch: _Batch, entity: Entity, chunk: list[tuple[int, LandingFile, FileOutcome, _TextPart]]
) -> None:
    """Parsed CSV and JSON Lines files judged into the stage with their parser rejects, in one
    transaction (:func:`_stage_or_each`)."""
    for _, _, outcome, part in _stage_or_each(chunk, partial(_stage_text, batch, entity)):
        outcome.rows_read = part.rows_read
        _note_extra(outcome, part.extra)


def _stage_text(
    batch: _Batch, entity: Entity, chunk: list[tuple[int, LandingFile, FileOutcome, _TextPart]]
) -> None:
    """Both or neither: the files' judged rows and their parser rejects."""
    con = batch.con
    text = TextFacts.common([part.text for *_, part in chunk])
    con.register("_text_part", pa.concat_tables([part.table for *_, part in chunk]))
    con.execute("BEGIN TRANSACTION")
    try:
        _judge_rows(con, entity, "_text_part", batch.limits, text)
        for order, lf, _, part in chunk:
            _stage_rejects(con, lf, order, part.rejects)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_text_part")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _jsonl_table(order: int, relpath: str, data: bytes) -> pa.Table:
    """The non-blank lines of one JSON Lines file with their lineage (parsed in SQL next)."""
    texts, raws, lines = jsonl_lines(data, relpath)
    n = len(lines)
    return pa.table(
        {
            "_text": pa.array(texts, pa.string()),
            "_raw_text": pa.array(raws, pa.string()),
            "_line": pa.array(lines, pa.int64()),
            "_row": _row_numbers(n),
            "_order": pa.repeat(pa.scalar(order, pa.int32()), n),
        }
    )


def _stage_rejects(
    con: duckdb.DuckDBPyConnection, lf: LandingFile, order: int, rejects: pa.Table
) -> None:
    if not rejects.num_rows:
        return
    con.register("_parser_rejects", rejects)
    try:
        con.execute(
            f"INSERT INTO stage_rejects SELECT ?, ?, {order}, _row, _line, rule, reason, raw "
            "FROM _parser_rejects",
            [lf.entity, lf.relpath],
        )
    finally:
        con.unregister("_parser_rejects")


# -- phase 2: route -------------------------------------------------------------------------


def _key(name: str) -> str:
    return f'"{name}"'


def _route(
    batch: _Batch, entity: Entity, snapshot: str, report: IngestReport, protect: Protect
) -> None:
    """Evaluate the batch rules on ``stage_<e>`` and write ledger and quarantine rows.

    Runs inside the ingest transaction, entity by entity in :data:`INGEST_ORDER`, so references
    see the reference rows this batch already wrote.
    """
    con, name, key = batch.con, entity.name, _key(entity.key)
    batch.temp += [("TABLE", f"already_{name}"), ("TABLE", f"dups_{name}")]
    batch.temp += [("TABLE", f"twice_{name}"), ("TABLE", f"suspects_{name}")]
    batch.temp += [("TABLE", f"judged_{name}"), ("VIEW", f"base_{name}")]
    joins, flags = [], []
    for col in entity.key_columns:
        if not col.references:
            continue
        known = f"known_{name}_{col.name}"
        count = con.execute(f"SELECT count(*) FROM ledger.{col.references}").fetchall()[0]
        if not count or count[0] == 0:
            # An entity a ledger does not send (no wallets, no loans) cannot be referenced
            # wrongly: the reference is left unchecked and reported.
            flags.append(f"false AS _unknown_{col.name}")
            report.unchecked_references.append(f"{name}.{col.name} -> {col.references}")
            continue
        ref_key = _key(ENTITIES[col.references].key)
        batch.temp.append(("TABLE", known))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {known} AS "
            f"SELECT DISTINCT {ref_key} AS _k FROM ledger.{col.references}"
        )
        joins.append(f'LEFT JOIN {known} ON {known}._k = s."{col.name}"')
        flags.append(f'(s."{col.name}" IS NOT NULL AND {known}._k IS NULL) AS _unknown_{col.name}')
    unknown = [f"_unknown_{c.name}" for c in entity.key_columns if c.references]
    if "user_id" in entity.column_names:
        ids = "SELECT user_id FROM stage_" + name
        if "counterparty" in entity.column_names:
            ids += f" UNION SELECT counterparty FROM stage_{name}"
        erased = protect.excluded(con, name, ids)
        flags.append(
            f"(s.user_id IN (SELECT v FROM {erased})) IS TRUE AS _erased_subject"
            if erased
            else "false AS _erased_subject"
        )
        unknown.append("_erased_subject")
    clean = " AND ".join(["len(_local) = 0", *(f"NOT {u}" for u in unknown)])
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW base_{name} AS
        SELECT s.*, f._file,
            {", ".join(["(CAST(s._order AS BIGINT) << 32) | s._row AS _pos", *flags])}
        FROM stage_{name} s JOIN {_FILES} f ON f._order = s._order {" ".join(joins)}"""
    )
    # Keys seen twice in the batch, from the key column alone (cheap: no reference joins), and
    # keys already in the ledger. Only rows that can fail a rule are read past the reference
    # joins, once, into suspects_<e>: rows failing a row rule or a reference, and the rows of
    # those keys. Every other row passes every rule.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE twice_{name} AS
        SELECT {key} AS _k FROM stage_{name} WHERE {key} IS NOT NULL
        GROUP BY 1 HAVING count(*) > 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE already_{name} AS
        SELECT DISTINCT {key} AS _k FROM stage_{name}
        WHERE {key} IN (SELECT {key} FROM ledger.{name})"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE suspects_{name} AS
        SELECT *, {clean} AS _clean FROM base_{name}
        WHERE NOT ({clean}) OR {key} IN (SELECT _k FROM twice_{name})
            OR {key} IN (SELECT _k FROM already_{name})"""
    )
    # The first row of a key that passes every other rule wins.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE dups_{name} AS
        SELECT {key} AS _k, min(_pos) AS _first FROM suspects_{name}
        WHERE _clean AND {key} IN (SELECT _k FROM twice_{name}) GROUP BY 1"""
    )
    batch_rules = [r for r in rules_for(name) if r.scope == "batch"]
    # Only the failing rows are materialised (with their rules), once: the quarantine insert
    # reads them, and the rows to load are the stage minus them (an anti-join on the row's
    # position), so the ~99% that pass are written once, straight into the ledger.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE judged_{name} AS SELECT * EXCLUDE (_clean) FROM (
            SELECT *, list_concat(_local, {_failed_list(batch_rules)}) AS failed_rules FROM (
                SELECT b.*, _clean AND (a._k IS NOT NULL OR b._pos <> d._first)
                    AS _is_duplicate
                FROM suspects_{name} b
                LEFT JOIN already_{name} a ON a._k = b.{key}
                LEFT JOIN dups_{name} d ON d._k = b.{key}
            )
        ) WHERE len(failed_rules) > 0"""
    )
    cols = ", ".join(_key(c) for c in entity.column_names)
    passing = (
        f"SELECT s.*, f._file FROM stage_{name} s JOIN {_FILES} f ON f._order = s._order "
        f"ANTI JOIN judged_{name} j ON j._pos = (CAST(s._order AS BIGINT) << 32) | s._row"
    )
    loaded = f"SELECT {cols} FROM ({passing})"
    protect.prepare(con, name, loaded)
    stored = ", ".join(protect.column_sql(name, c, _key(c)) for c in entity.column_names)
    con.execute(
        f"INSERT INTO ledger.{name} ({cols}, _source_file, _source_row, _snapshot_id) "
        f"SELECT {stored}, _file, _row, ? FROM ({passing})",
        [snapshot],
    )
    typed_raw = _text_struct((c, _key(c)) for c in entity.column_names)
    raw, sealed = protect.raw_sql(f"coalesce(_raw, {typed_raw})", "$e", "_file", "_row", "_line")
    subject = "CAST(user_id AS VARCHAR)" if "user_id" in entity.column_names else "NULL"
    # A row of an erased subject keeps only where it came from: no record, no subject id.
    gone = "list_contains(failed_rules, 'erased_subject')"
    con.execute(
        f"""INSERT INTO ledger.quarantine (entity, source_file, source_row, source_line,
            failed_rules, reason, raw_record, snapshot_id, quarantined_at, subject_id, raw_sealed)
        SELECT $e, _file, _row, _line, failed_rules, NULL,
            CASE WHEN {gone} THEN NULL ELSE {raw} END, $s,
            timezone('UTC', now()), CASE WHEN {gone} THEN NULL ELSE {subject} END,
            CASE WHEN {gone} THEN NULL ELSE {sealed} END
        FROM judged_{name} ORDER BY _order, _row""",
        {"e": name, "s": snapshot},
    )
    raw, sealed = protect.raw_sql("raw", "entity", "_file", "_row", "_line")
    con.execute(
        f"""INSERT INTO ledger.quarantine (entity, source_file, source_row, source_line,
            failed_rules, reason, raw_record, snapshot_id, quarantined_at, raw_sealed)
        SELECT entity, _file, _row, _line, [rule], reason, {raw}, ?, timezone('UTC', now()),
            {sealed}
        FROM stage_rejects WHERE entity = ? ORDER BY _order, _line""",
        [snapshot, name],
    )


# -- phase 3: check, then commit -------------------------------------------------------------


def _written(
    con: duckdb.DuckDBPyConnection, name: str, snapshot: str
) -> dict[str, tuple[int, int]]:
    loaded = dict(
        con.execute(
            f"SELECT _source_file, count(*) FROM ledger.{name} WHERE _snapshot_id = ? GROUP BY 1",
            [snapshot],
        ).fetchall()
    )
    quarantined = dict(
        con.execute(
            "SELECT source_file, count(*) FROM ledger.quarantine "
            "WHERE snapshot_id = ? AND entity = ? GROUP BY 1",
            [snapshot, name],
        ).fetchall()
    )
    return {f: (int(loaded.get(f, 0)), int(quarantined.get(f, 0))) for f in {*loaded, *quarantined}}


def _blocking_checks(
    con: duckdb.DuckDBPyConnection, staged: dict[str, list[FileOutcome]], snapshot: str
) -> list[CheckFailure]:
    """The checks that decide the commit, computed from what the transaction wrote."""
    failures: list[CheckFailure] = []
    for name, outcomes in staged.items():
        written = _written(con, name, snapshot)
        expected = {o.relpath for o in outcomes}
        for o in outcomes:
            o.rows_loaded, o.rows_quarantined = written.get(o.relpath, (0, 0))
        unbalanced = [
            f"{o.relpath} read {o.rows_read}, wrote {o.rows_loaded + o.rows_quarantined}"
            for o in outcomes
            if o.rows_read != o.rows_loaded + o.rows_quarantined
        ]
        stray = sorted(f"{f}" for f in written if f not in expected)
        if unbalanced or stray:
            detail = "; ".join(unbalanced + [f"rows written for unstaged file {f}" for f in stray])
            failures.append(CheckFailure("rows_reconcile", name, detail))
        if _keys_twice(con, name, snapshot):
            rows = ", ".join(f"{f} row {r}" for f, r in _rows_with_twice_keys(con, name, snapshot))
            failures.append(CheckFailure("unique_keys", name, f"key loaded twice at {rows}"))
        orphans = con.execute(
            "SELECT count(*) FROM ledger.quarantine WHERE snapshot_id = ? AND entity = ? "
            "AND (source_file IS NULL OR (source_row IS NULL AND source_line IS NULL))",
            [snapshot, name],
        ).fetchall()[0]
        if orphans and orphans[0]:
            failures.append(
                CheckFailure(
                    "quarantine_names_source", name, f"{orphans[0]} rows without file and row"
                )
            )
    return failures


def _keys_twice(con: duckdb.DuckDBPyConnection, name: str, snapshot: str) -> bool:
    """Whether a key of the batch is now in the table twice. The table had unique keys at the
    last commit, so only the batch's keys need looking at: unique among themselves and absent
    from the rows before it (looked up only when there are rows before it)."""
    key = _key(ENTITIES[name].key)
    found = con.execute(
        f"SELECT count(*) <> count(DISTINCT {key}) FROM ledger.{name} WHERE _snapshot_id = ?",
        [snapshot],
    ).fetchall()
    if found[0][0]:
        return True
    older = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM ledger.{name} WHERE _snapshot_id IS DISTINCT FROM ?)",
        [snapshot],
    ).fetchall()
    if not older[0][0]:
        return False
    found = con.execute(
        f"""SELECT EXISTS (
            SELECT 1 FROM ledger.{name} o
            WHERE o._snapshot_id IS DISTINCT FROM $s
              AND o.{key} IN (SELECT {key} FROM ledger.{name} WHERE _snapshot_id = $s))""",
        {"s": snapshot},
    ).fetchall()
    return bool(found[0][0])


def _rows_with_twice_keys(
    con: duckdb.DuckDBPyConnection, name: str, snapshot: str
) -> list[tuple[str, int]]:
    key = _key(ENTITIES[name].key)
    return [
        (str(f), int(r))
        for f, r in con.execute(
            f"""SELECT _source_file, _source_row FROM ledger.{name}
            WHERE {key} IN (SELECT {key} FROM ledger.{name} WHERE _snapshot_id = $s)
            QUALIFY count(*) OVER (PARTITION BY {key}) > 1
            ORDER BY _source_file, _source_row LIMIT 6""",
            {"s": snapshot},
        ).fetchall()
    ]


def _snapshot_id(
    con: duckdb.DuckDBPyConnection, new: Sequence[FileOutcome]
) -> tuple[str, str, int]:
    loaded = con.execute(
        "SELECT file_path, sha256 FROM ledger.files WHERE status = 'loaded'"
    ).fetchall()
    pairs = sorted({*loaded, *((f.relpath, f.sha256) for f in new)})
    root = hashlib.sha256("\n".join(f"{p}:{h}" for p, h in pairs).encode()).hexdigest()
    return f"snap-{root[:16]}", root, len(pairs)


def _record(
    con: duckdb.DuckDBPyConnection,
    outcomes: Sequence[FileOutcome],
    snapshot: str | None,
    version: str,
) -> None:
    """Write the outcomes to ``ledger.files`` in one statement pair.

    A path keeps one current non-loaded state: a new outcome replaces an old rejection or an old
    "missing" mark; the loaded history stays; "unchanged" only clears such marks.
    """
    todo = [o for o in outcomes if not o.recorded]
    if not todo:
        return
    table = pa.table(
        {
            "file_path": [o.relpath for o in todo],
            "entity": [o.entity for o in todo],
            "sha256": [o.sha256 for o in todo],
            "size_bytes": pa.array([o.size_bytes for o in todo], pa.int64()),
            "format": [o.fmt for o in todo],
            "status": [o.status for o in todo],
            "rows_read": pa.array([o.rows_read for o in todo], pa.int64()),
            "rows_loaded": pa.array([o.rows_loaded for o in todo], pa.int64()),
            "rows_quarantined": pa.array([o.rows_quarantined for o in todo], pa.int64()),
            "error": pa.array([o.error for o in todo], pa.string()),
            "notes": pa.array([o.notes for o in todo], pa.string()),
        }
    )
    con.register("_outcomes", table)
    try:
        con.execute(
            "DELETE FROM ledger.files WHERE status IN ('rejected', 'missing') "
            "AND file_path IN (SELECT file_path FROM _outcomes)"
        )
        con.execute(
            """INSERT INTO ledger.files (file_path, entity, sha256, size_bytes, format, status,
                rows_read, rows_loaded, rows_quarantined, error, notes, snapshot_id, ingested_at,
                contract_version)
            SELECT file_path, entity, sha256, size_bytes, format, status, rows_read, rows_loaded,
                rows_quarantined, error, notes, CASE WHEN status = 'loaded' THEN ? END,
                timezone('UTC', now()), ?
            FROM _outcomes WHERE status <> 'unchanged'""",
            [snapshot, version],
        )
    finally:
        con.unregister("_outcomes")


# -- the entry point ------------------------------------------------------------------------


@dataclass
class _State:
    """What ``ledger.files`` already says about content and paths."""

    loaded: dict[str, str]  # sha -> first path loaded with it
    loaded_paths: dict[str, tuple[str, str]]  # path -> (sha, entity) of its latest load
    rejected: dict[tuple[str, str], tuple[str, str | None, str]]  # -> (version, error, entity)
    missing: set[str]
    archived: set[str] = field(default_factory=set)  # paths whose latest load is archived

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> _State:
        rows = con.execute(
            "SELECT file_path, entity, sha256, status, contract_version, error, archived_at "
            "FROM ledger.files ORDER BY ingested_at"
        ).fetchall()
        state = cls({}, {}, {}, set())
        for path, entity, sha, status, version, error, archived in rows:
            if status == "loaded":
                state.loaded.setdefault(sha, path)
                state.loaded_paths[path] = (sha, entity)
                if archived is not None:
                    state.archived.add(path)
                else:
                    state.archived.discard(path)
            elif status == "rejected":
                state.rejected[(path, sha)] = (version, error, entity)
            elif status == "missing":
                state.missing.add(path)
        return state


def _triage(
    files: Sequence[LandingFile], state: _State, version: str
) -> tuple[list[FileOutcome], list[tuple[LandingFile, FileOutcome]]]:
    """Outcomes decided without parsing (unchanged, missing, unreadable), and files to stage."""
    decided: list[FileOutcome] = []
    todo: list[tuple[LandingFile, FileOutcome]] = []
    batch_sha: dict[str, str] = {}
    # Files are hashed on two threads (hashlib releases the GIL), in order of the listing.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ledgerlens-hash") as pool:
        prints = [pool.submit(_fingerprint, lf.path) for lf in files]
    for lf, fingerprint in zip(files, prints, strict=True):
        outcome = FileOutcome(lf.relpath, lf.entity, "", "pending", fmt=lf.fmt)
        try:
            outcome.sha256, outcome.size_bytes = fingerprint.result()
        except FileNotFoundError:
            if lf.relpath in state.archived:
                # Moved into the archive after its load: nothing to do, nothing missing.
                outcome.status, outcome.recorded = "unchanged", True
                outcome.notes = "archived after loading"
                decided.append(outcome)
            else:
                decided.append(_missing(lf, state))
            continue
        except OSError as exc:
            outcome.status = "rejected"
            outcome.error = f"{lf.relpath}: cannot be opened ({type(exc).__name__})"
            decided.append(outcome)
            continue
        first = state.loaded.get(outcome.sha256) or batch_sha.get(outcome.sha256)
        previous = state.rejected.get((lf.relpath, outcome.sha256))
        if first is not None:
            outcome.status = "unchanged"
            if first != lf.relpath:
                outcome.notes = f"same content as {first}; not loaded again"
            outcome.recorded = lf.relpath not in state.missing
            decided.append(outcome)
        elif previous is not None and previous[0] == version:
            outcome.status, outcome.error, outcome.recorded = "rejected", previous[1], True
            decided.append(outcome)
        else:
            batch_sha[outcome.sha256] = lf.relpath
            todo.append((lf, outcome))
    return decided, todo


def _fingerprint(path: Path) -> tuple[str, int]:
    return sha256_file(path), path.stat().st_size


def _missing(lf: LandingFile, state: _State) -> FileOutcome:
    sha, _ = state.loaded_paths.get(lf.relpath, ("", lf.entity))
    outcome = FileOutcome(lf.relpath, lf.entity, sha, "missing", fmt=lf.fmt)
    outcome.notes = (
        "landed file no longer exists; the rows of its earlier load are kept"
        if sha
        else "file listed for ingest does not exist and was never loaded"
    )
    outcome.recorded = lf.relpath in state.missing
    return outcome


def ingest(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    only: Iterable[LandingFile] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    *,
    entities: Iterable[str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    suite: SuiteConfig | None = DEFAULT_SUITE,
    protect: Protect | None = None,
) -> IngestReport:
    """Ingest every new landing file of ``entities`` (default: all), or only the given files.

    Without ``only``, a file that was loaded earlier and is gone from ``landing`` is reported as
    missing; with ``only``, every listed file that does not exist is. ``suite`` configures the
    Great Expectations second opinion (``None`` skips it). ``memory_limit`` caps DuckDB's buffer
    for the run (beyond it DuckDB spills to disk). Raises :class:`BlockingCheckFailed` (the
    ledger unchanged) when a blocking check fails.
    """
    started = time.perf_counter()
    con.execute("SET TimeZone = 'UTC'")
    previous_limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    con.execute(f"SET memory_limit = '{memory_limit}'")
    ensure_tables(con)
    scope = tuple(entities) if entities is not None else INGEST_ORDER
    if only is not None:
        files = list(only)
        scope = tuple(dict.fromkeys(f.entity for f in files))
    else:
        files = discover(landing, scope)
    state = _State.read(con)
    if only is None:
        present = {f.relpath for f in files}
        files += [
            LandingFile(landing / path, path, entity, landing_format(Path(path)))
            for path, (_, entity) in sorted(state.loaded_paths.items())
            if entity in scope and path not in present and path not in state.archived
        ]
    version = contract_version(limits)
    decided, todo = _triage(files, state, version)
    report = IngestReport(snapshot_id=None)
    # A rejected file that is gone leaves nothing to fix: its rejection is cleared.
    on_disk = {f.relpath for f in files if f.path.exists()}
    gone = [p for (p, _), (_, _, e) in state.rejected.items() if e in scope and p not in on_disk]
    with tempfile.TemporaryDirectory(prefix="ledgerlens-ingest-") as folder:
        if not _SAFE_PATH.fullmatch(folder):
            raise IngestError(
                f"temporary folder {folder!r} has characters DuckDB would read as a pattern; "
                "set TMPDIR to a plain path"
            )
        batch = _Batch(con, Path(folder), limits)
        try:
            gone_ = gone if only is None else []
            with _system_arrow_pool():
                _run(batch, report, decided, todo, version, suite, gone_, protect)
        finally:
            batch.drop()
            if previous_limit:
                con.execute(f"SET memory_limit = '{previous_limit[0]}'")
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _system_arrow_pool() -> Iterator[None]:
    """Arrow memory of the ingest (parsed files, chunks, results) from the C library's allocator,
    which returns freed buffers to the system at once. pyarrow's default (mimalloc) keeps freed
    pages: measured at 5M rows with at-rest protection and GX, peak RSS 2,055-2,060 MB with it,
    1,766 MB with this, at the same speed. Buffers remember their pool, so switching is safe."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _run(
    batch: _Batch,
    report: IngestReport,
    decided: list[FileOutcome],
    todo: list[tuple[LandingFile, FileOutcome]],
    version: str,
    suite: SuiteConfig | None,
    gone: list[str],
    protect: Protect | None,
) -> None:
    con = batch.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stage_rejects (entity VARCHAR, _file VARCHAR, "
        "_order INTEGER, _row BIGINT, _line BIGINT, rule VARCHAR, reason VARCHAR, raw VARCHAR)"
    )
    batch.temp.append(("TABLE", "stage_rejects"))
    # The staged rows name their file by its order in the batch; its path is joined back when
    # they are written (a path on each of millions of rows made the stage a fifth larger).
    con.register(
        "_ll_files_arrow",
        pa.table(
            {
                "_order": pa.array(range(len(todo)), pa.int32()),
                "_file": pa.array([lf.relpath for lf, _ in todo], pa.string()),
            }
        ),
    )
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_FILES} AS SELECT * FROM _ll_files_arrow")
    finally:
        con.unregister("_ll_files_arrow")
    batch.temp.append(("TABLE", _FILES))
    for name in INGEST_ORDER:
        files = [(i, lf, o) for i, (lf, o) in enumerate(todo) if lf.entity == name]
        if files:
            _create_stage(batch, ENTITIES[name])
            _stage_entity(batch, ENTITIES[name], files)
    outcomes = [o for _, o in todo]
    for o in outcomes:
        if o.status == "pending":
            o.status = "loaded"
    _copy_rejections(decided, outcomes)
    loaded = [o for o in outcomes if o.status == "loaded"]
    snapshot, root, n_files = _snapshot_id(con, loaded)
    con.execute("BEGIN TRANSACTION")
    try:
        # Without a loaded file nothing is written, and the snapshot id is the previous one.
        staged = {k: v for k, v in batch.staged.items() if v} if loaded else {}
        for name in INGEST_ORDER:
            if name in staged:
                _route(batch, ENTITIES[name], snapshot, report, protect or _Plain())
        if protect is not None and staged:
            report.protected = dict(protect.finish(con, snapshot))
        failures = _blocking_checks(con, staged, snapshot)
        if suite is not None and loaded:
            report.suite = run_suite(con, sorted(staged), snapshot, suite)
            failures += [
                CheckFailure("gx_suite", s.entity, "; ".join(s.blocking_failures))
                for s in report.suite
                if s.blocking_failures
            ]
        if failures:
            raise BlockingCheckFailed(failures)
        _record(con, [*decided, *outcomes], snapshot, version)
        if gone:
            con.execute(
                "DELETE FROM ledger.files WHERE status = 'rejected' AND list_contains(?, file_path)",
                [gone],
            )
        if loaded:
            con.execute(
                "INSERT INTO ledger.snapshots VALUES (?, timezone('UTC', now()), ?, ?)",
                [snapshot, n_files, root],
            )
            report.snapshot_id = snapshot
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.files = [*decided, *outcomes]


def _copy_rejections(decided: list[FileOutcome], outcomes: list[FileOutcome]) -> None:
    """A copy of a file rejected in this batch shares its fate (it was held back as a copy)."""
    by_sha = {o.sha256: o for o in outcomes if o.status == "rejected"}
    for o in decided:
        first = by_sha.get(o.sha256) if o.status == "unchanged" else None
        if first is not None:
            o.status, o.error, o.notes, o.recorded = "rejected", first.error, None, False
