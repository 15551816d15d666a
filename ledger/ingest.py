"""Validated, idempotent ingest of landing files into the ``ledger`` schema of the warehouse.

For every landed file: hash it (a file whose content was already loaded is a no-op), parse it as
text, check its columns against the landing contract (a file that cannot be parsed or lacks a
required column is rejected whole, with the reason, and the other files still load), type every
value, evaluate every rule of :mod:`ledger.rules` in one vectorised pass, then load valid
rows into ``ledger.<entity>`` and the rest into ``ledger.quarantine`` with the failed rules and the
source file and row. ``rows_read == rows_loaded + rows_quarantined`` holds per file, and the whole
batch is one transaction.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ledger.rules import rules_for, typed_expression
from ledger.contract import ENTITIES, LANDING_FORMATS, REFERENCE_ENTITIES, Entity

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_snapshot_id")
INGEST_ORDER: tuple[str, ...] = (*REFERENCE_ENTITIES, "transactions")
DEFAULT_MEMORY_LIMIT = "1GB"


class IngestError(RuntimeError):
    """A landing file that cannot be ingested at all; the message names the file and the reason."""


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
    status: str  # loaded | rejected | unchanged
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    notes: str | None = None


@dataclass
class IngestReport:
    snapshot_id: str | None
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

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


def discover(landing: Path, entities: Iterable[str] = INGEST_ORDER) -> list[LandingFile]:
    """Landing files of the given entities, in ingest order (reference data before transactions)."""
    found: list[LandingFile] = []
    for entity in entities:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.name.startswith("."):
                continue
            fmt = path.suffix.lstrip(".").lower()
            found.append(LandingFile(path, str(path.relative_to(landing)), entity, fmt))
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``ledger`` schema: one table per entity plus files, quarantine and snapshots."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    for entity in ENTITIES.values():
        cols = ", ".join(f'"{c.name}" {c.dtype}' for c in entity.columns)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS ledger.{entity.name} ({cols}, "
            "_source_file VARCHAR, _source_row BIGINT, _snapshot_id VARCHAR)"
        )
    con.execute(
        """CREATE TABLE IF NOT EXISTS ledger.files (
            file_path VARCHAR, entity VARCHAR, sha256 VARCHAR, size_bytes BIGINT, format VARCHAR,
            status VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
            error VARCHAR, notes VARCHAR, snapshot_id VARCHAR, ingested_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS ledger.quarantine (
            entity VARCHAR, source_file VARCHAR, source_row BIGINT, failed_rules VARCHAR[],
            raw_record VARCHAR, snapshot_id VARCHAR, quarantined_at TIMESTAMP)"""
    )
    con.execute(
        """CREATE TABLE IF NOT EXISTS ledger.snapshots (
            snapshot_id VARCHAR, created_at TIMESTAMP, files BIGINT, root_sha256 VARCHAR)"""
    )


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _source_columns(con: duckdb.DuckDBPyConnection, lf: LandingFile) -> list[str]:
    src = _reader(lf)
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]


def _reader(lf: LandingFile, varchar_columns: Sequence[str] | None = None) -> str:
    path = _quote(lf.path)
    if lf.fmt == "parquet":
        return f"read_parquet({path}, file_row_number = true)"
    if lf.fmt == "csv":
        return f"read_csv({path}, header = true, all_varchar = true, auto_detect = true)"
    if lf.fmt == "jsonl":
        if varchar_columns is None:
            return f"read_json({path}, format = 'newline_delimited')"
        spec = ", ".join(f"'{c}': 'VARCHAR'" for c in varchar_columns)
        return f"read_json({path}, format = 'newline_delimited', columns = {{{spec}}})"
    raise IngestError(
        f"{lf.relpath}: unsupported format '.{lf.fmt}'; landing files must be one of "
        f"{', '.join('.' + f for f in LANDING_FORMATS)}"
    )


def _snapshot_id(
    con: duckdb.DuckDBPyConnection, new: Sequence[FileOutcome]
) -> tuple[str, str, int]:
    loaded = con.execute(
        "SELECT file_path, sha256 FROM ledger.files WHERE status = 'loaded'"
    ).fetchall()
    pairs = sorted({*loaded, *((f.relpath, f.sha256) for f in new)})
    root = hashlib.sha256("\n".join(f"{p}:{h}" for p, h in pairs).encode()).hexdigest()
    return f"snap-{root[:16]}", root, len(pairs)


def _route_entity(
    con: duckdb.DuckDBPyConnection, entity: Entity, source: str, routed: str
) -> dict[str, tuple[int, int]]:
    """Type and validate every row of ``source`` into temp table ``routed``; counts per file.

    One vectorised pass: each rule is a CASE, ``failed_rules`` lists the ones a row broke, and the
    raw record (as JSON) is only built for failing rows. Duplicates are found with an aggregate
    over the keys (first occurrence in file order wins), not a window over every row.
    """
    rules = rules_for(entity.name)
    typed = ", ".join(f'{typed_expression(c)} AS "{c.name}"' for c in entity.columns)
    raw = ", ".join(f'"{c}" AS r_{c}' for c in entity.column_names)
    key = entity.key
    key_expr = f"NULLIF(TRIM(\"{key}\"), '')"
    failed = ", ".join(f"CASE WHEN ({r.fails_when}) THEN '{r.name}' END" for r in rules)
    raw_struct = ", ".join(f"'{c}': r_{c}" for c in entity.column_names)
    cols = ", ".join(f'"{c}"' for c in entity.column_names)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {routed} AS
        WITH dups AS (
            SELECT {key_expr} AS _key, min((CAST(_order AS BIGINT) << 32) | _row) AS _first
            FROM {source} WHERE {key_expr} IS NOT NULL GROUP BY 1 HAVING count(*) > 1
        ), typed AS (
            SELECT {raw}, _file, _order, _row, {typed},
                (CAST(_order AS BIGINT) << 32) | _row AS _pos
            FROM {source}
        ), keyed AS (
            SELECT t.*,
                d._first IS NOT NULL AND t._pos <> d._first AS _is_later_duplicate,
                e._key IS NOT NULL AS _already_loaded
            FROM typed t
            LEFT JOIN dups d ON d._key = t."{key}"
            LEFT JOIN (SELECT DISTINCT "{key}" AS _key FROM ledger.{entity.name}) e
                ON e._key = t."{key}"
        ), judged AS (
            SELECT *, list_filter([{failed}], lambda x: x IS NOT NULL) AS failed_rules FROM keyed
        )
        SELECT {cols}, _file, _order, _row, failed_rules,
            CASE WHEN len(failed_rules) > 0
                THEN CAST(to_json({{{raw_struct}}}) AS VARCHAR) END AS raw_record
        FROM judged
        """
    )
    return {
        f: (int(n), int(good))
        for f, n, good in con.execute(
            f"SELECT _file, count(*), count(*) FILTER (WHERE len(failed_rules) = 0) "
            f"FROM {routed} GROUP BY _file"
        ).fetchall()
    }


def _load_routed(
    con: duckdb.DuckDBPyConnection, entity: Entity, routed: str, snapshot_id: str
) -> None:
    cols = ", ".join(f'"{c}"' for c in entity.column_names)
    con.execute(
        f"INSERT INTO ledger.{entity.name} SELECT {cols}, _file, _row, ? "
        f"FROM {routed} WHERE len(failed_rules) = 0",
        [snapshot_id],
    )
    con.execute(
        "INSERT INTO ledger.quarantine SELECT ?, _file, _row, failed_rules, raw_record, ?, "
        f"timezone('UTC', now()) FROM {routed} WHERE len(failed_rules) > 0 ORDER BY _order, _row",
        [entity.name, snapshot_id],
    )


def ingest(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    only: Iterable[LandingFile] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> IngestReport:
    """Ingest every new landing file (or only the given ones) and return per-file outcomes.

    ``memory_limit`` caps DuckDB's buffer for the run; beyond it DuckDB spills to disk, so the
    peak memory stays flat however many rows land at once.
    """
    started = time.perf_counter()
    con.execute("SET TimeZone = 'UTC'")
    previous_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    ensure_tables(con)
    files = list(only) if only is not None else discover(landing)
    known = {sha for (sha,) in con.execute("SELECT sha256 FROM ledger.files").fetchall()}
    report = IngestReport(snapshot_id=None)
    batches: dict[str, list[tuple[LandingFile, FileOutcome]]] = {}
    for lf in files:
        sha = sha256_file(lf.path)
        if sha in known:
            report.files.append(FileOutcome(lf.relpath, lf.entity, sha, "unchanged"))
            continue
        known.add(sha)
        batches.setdefault(lf.entity, []).append(
            (lf, FileOutcome(lf.relpath, lf.entity, sha, "pending"))
        )
    temp_tables: list[str] = []
    in_transaction = False
    try:
        # Parse and route outside the transaction (a failed statement aborts a DuckDB
        # transaction), so one bad file is rejected alone; then load everything atomically.
        routed: list[tuple[Entity, str]] = []
        for name in INGEST_ORDER:
            batch = batches.get(name)
            if not batch:
                continue
            entity = ENTITIES[name]
            source = _stage_batch(con, entity, batch, temp_tables)
            if source is None:
                continue
            table = f"routed_{name}"
            temp_tables.append(table)
            counts = _route_entity(con, entity, source, table)
            for lf, outcome in batch:
                if outcome.status == "pending":
                    n, good = counts.get(lf.relpath, (0, 0))
                    outcome.status, outcome.rows_read = "loaded", n
                    outcome.rows_loaded, outcome.rows_quarantined = good, n - good
            routed.append((entity, table))
        staged = [pair for batch in batches.values() for pair in batch]
        loaded = [o for _, o in staged if o.status == "loaded"]
        snapshot_id, root, n_files = _snapshot_id(con, loaded)
        con.execute("BEGIN TRANSACTION")
        in_transaction = True
        for entity, table in routed:
            _load_routed(con, entity, table, snapshot_id)
        for lf, outcome in staged:
            _record_file(con, lf, outcome, snapshot_id if outcome.status == "loaded" else None)
        if loaded:
            con.execute(
                "INSERT INTO ledger.snapshots VALUES (?, timezone('UTC', now()), ?, ?)",
                [snapshot_id, n_files, root],
            )
            report.snapshot_id = snapshot_id
        con.execute("COMMIT")
        in_transaction = False
    except BaseException:
        if in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        for table in reversed(temp_tables):  # views (raw_*) before the tables they read
            kind = "VIEW" if table.startswith("raw_") else "TABLE"
            con.execute(f"DROP {kind} IF EXISTS {table}")
        if previous_limit:
            con.execute(f"SET memory_limit = '{previous_limit[0]}'")
    report.files.extend(o for batch in batches.values() for _, o in batch)
    report.seconds = time.perf_counter() - started
    return report


def _record_file(
    con: duckdb.DuckDBPyConnection, lf: LandingFile, outcome: FileOutcome, snapshot: str | None
) -> None:
    con.execute(
        "INSERT INTO ledger.files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "timezone('UTC', now()))",
        [
            outcome.relpath,
            outcome.entity,
            outcome.sha256,
            lf.path.stat().st_size,
            lf.fmt,
            outcome.status,
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_quarantined,
            outcome.error,
            outcome.notes,
            snapshot,
        ],
    )


def _probe(con: duckdb.DuckDBPyConnection, lf: LandingFile, entity: Entity) -> list[str]:
    """The file's columns, checked against the contract. Raises IngestError naming the file."""
    try:
        present = _source_columns(con, lf)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise IngestError(f"{lf.relpath}: cannot be parsed as {lf.fmt}: {reason}") from exc
    return _check_columns(lf, entity, present)


def _check_columns(lf: LandingFile, entity: Entity, present: list[str]) -> list[str]:
    missing = [c.name for c in entity.columns if c.required and c.name not in present]
    if missing:
        raise IngestError(
            f"{lf.relpath}: missing required column(s) {', '.join(missing)}; "
            f"expected the {entity.name} columns {', '.join(entity.column_names)}"
        )
    return present


def _as_text(entity: Entity, present: Iterable[str]) -> str:
    have = set(present)
    return ", ".join(
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in have else f'CAST(NULL AS VARCHAR) AS "{c}"'
        for c in entity.column_names
    )


def _stage_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    batch: list[tuple[LandingFile, FileOutcome]],
    temp_tables: list[str],
) -> str | None:
    """A view over every readable file of the batch, as text, with _file/_order/_row.

    Parquet files are read together in one scan (projection pushdown, no copy); CSV and JSON Lines
    files are parsed one by one into temp tables, so a file that fails is rejected alone. If the
    joint Parquet scan fails on a file whose footer looked fine, each is tried alone.
    """
    parts: list[str] = []
    parquet: list[tuple[int, LandingFile, list[str]]] = []
    for order, (lf, outcome) in enumerate(batch):
        try:
            table = f"stage_{entity.name}_{order}"
            if lf.fmt == "csv":
                # Sniff and parse a CSV once: load it as text, then check its header.
                src = f"{table}_raw"
                temp_tables.append(src)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {src} AS SELECT *, "
                    f"CAST(row_number() OVER () - 1 AS BIGINT) AS _ll_row FROM {_reader(lf)}"
                )
                columns = [r[0] for r in con.execute(f"DESCRIBE {src}").fetchall()]
                present = _check_columns(lf, entity, columns[:-1])
                row = "_ll_row"
            else:
                present = _probe(con, lf, entity)
                src = _reader(lf, [c for c in entity.column_names if c in present])
                row = "CAST(row_number() OVER () - 1 AS BIGINT)"
            extra = [c for c in present if c not in entity.column_names]
            outcome.notes = f"ignored unknown column(s): {', '.join(extra)}" if extra else None
            if lf.fmt == "parquet":
                parquet.append((order, lf, present))
                continue
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {_as_text(entity, present)}, "
                f"CAST(? AS VARCHAR) AS _file, {order} AS _order, {row} AS _row FROM {src}",
                [lf.relpath],
            )
            temp_tables.append(table)
            parts.append(f"SELECT * FROM {table}")
        except (IngestError, duckdb.Error) as exc:
            outcome.status, outcome.error = "rejected", _reason(lf, exc)
    if parquet:
        parts.append(_parquet_part(con, entity, parquet, batch, temp_tables))
    parts = [p for p in parts if p]
    if not parts:
        return None
    view = f"raw_{entity.name}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {' UNION ALL '.join(parts)}")
    temp_tables.append(view)
    return view


def _parquet_scan(entity: Entity, files: list[tuple[int, LandingFile, list[str]]]) -> str:
    paths = [str(lf.path) for _, lf, _ in files]
    orders = {str(lf.path): (order, lf.relpath) for order, lf, _ in files}
    present = {c for _, _, cols in files for c in cols}
    listed = "[" + ", ".join(_quote(Path(p)) for p in paths) + "]"
    order_map = "MAP {" + ", ".join(f"{_quote(Path(p))}: {o}" for p, (o, _) in orders.items()) + "}"
    rel_map = "MAP {" + ", ".join(f"{_quote(Path(p))}: '{r}'" for p, (_, r) in orders.items()) + "}"
    return (
        f"SELECT {_as_text(entity, present)}, {rel_map}[filename] AS _file, "
        f"{order_map}[filename] AS _order, CAST(file_row_number AS BIGINT) AS _row "
        f"FROM read_parquet({listed}, union_by_name = true, filename = true, "
        "file_row_number = true)"
    )


def _parquet_part(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: list[tuple[int, LandingFile, list[str]]],
    batch: list[tuple[LandingFile, FileOutcome]],
    temp_tables: list[str],
) -> str:
    scan = _parquet_scan(entity, files)
    try:
        con.execute(f"SELECT count(*), min(_file), min(_order) FROM ({scan})").fetchone()
        return scan
    except duckdb.Error:
        pass
    # A file is broken past its footer: read each alone, reject the ones that fail.
    outcomes = {lf.relpath: o for lf, o in batch}
    good: list[tuple[int, LandingFile, list[str]]] = []
    for item in files:
        try:
            con.execute(f"SELECT count(*) FROM ({_parquet_scan(entity, [item])})").fetchone()
            good.append(item)
        except duckdb.Error as exc:
            outcome = outcomes[item[1].relpath]
            outcome.status, outcome.error = "rejected", _reason(item[1], exc)
    return _parquet_scan(entity, good) if good else ""


def _reason(lf: LandingFile, exc: Exception) -> str:
    if isinstance(exc, IngestError):
        return str(exc)
    reason = str(exc).splitlines()[0]
    return f"{lf.relpath}: cannot be read as {lf.fmt}: {reason}"
