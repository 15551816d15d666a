"""Validated, idempotent ingest of landing files into the ``ledger`` schema of the warehouse.

For every landed file: hash it (a file whose content was already loaded is a no-op), parse it as
text, check its columns against the landing contract (a file that cannot be parsed or lacks a
required column is rejected whole, with the reason, and the other files still load), type every
value, evaluate every rule of :mod:`pipelines.ledger.rules` in one vectorised pass, then load valid
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

from pipelines.ledger.rules import rules_for, typed_expression
from pipelines.ledger.schema import ENTITIES, LANDING_FORMATS, REFERENCE_ENTITIES, Entity

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_snapshot_id")
INGEST_ORDER: tuple[str, ...] = (*REFERENCE_ENTITIES, "transactions")


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


def _stage_file(
    con: duckdb.DuckDBPyConnection, lf: LandingFile, entity: Entity, order: int
) -> tuple[int, str | None]:
    """Append the file's rows, as text, to ``raw_batch``. Raises IngestError if it can't."""
    try:
        present = _source_columns(con, lf)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise IngestError(f"{lf.relpath}: cannot be parsed as {lf.fmt}: {reason}") from exc
    missing = [c.name for c in entity.columns if c.required and c.name not in present]
    if missing:
        raise IngestError(
            f"{lf.relpath}: missing required column(s) {', '.join(missing)}; "
            f"expected the {entity.name} columns {', '.join(entity.column_names)}"
        )
    extra = [c for c in present if c not in entity.column_names and c != "file_row_number"]
    notes = f"ignored unknown column(s): {', '.join(extra)}" if extra else None
    selected = [
        f'CAST("{c}" AS VARCHAR)' if c in present else "CAST(NULL AS VARCHAR)"
        for c in entity.column_names
    ]
    row = "file_row_number" if lf.fmt == "parquet" else "row_number() OVER () - 1"
    varchar_cols = [c for c in entity.column_names if c in present]
    src = _reader(lf, varchar_cols)
    try:
        inserted = con.execute(
            f"INSERT INTO raw_batch SELECT {', '.join(selected)}, ?, {order}, {row} FROM {src}",
            [lf.relpath],
        ).fetchone()
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise IngestError(f"{lf.relpath}: cannot be read as {lf.fmt}: {reason}") from exc
    return (int(inserted[0]) if inserted else 0), notes


def _snapshot_id(
    con: duckdb.DuckDBPyConnection, new: Sequence[FileOutcome]
) -> tuple[str, str, int]:
    loaded = con.execute(
        "SELECT file_path, sha256 FROM ledger.files WHERE status = 'loaded'"
    ).fetchall()
    pairs = sorted({*loaded, *((f.relpath, f.sha256) for f in new)})
    root = hashlib.sha256("\n".join(f"{p}:{h}" for p, h in pairs).encode()).hexdigest()
    return f"snap-{root[:16]}", root, len(pairs)


def _route_entity(con: duckdb.DuckDBPyConnection, entity: Entity, snapshot_id: str) -> None:
    """Type, validate and split ``raw_batch`` into the entity table and the quarantine."""
    rules = rules_for(entity.name)
    typed = ", ".join(f'{typed_expression(c)} AS "{c.name}"' for c in entity.columns)
    raw = ", ".join(f'"{c}" AS r_{c}' for c in entity.column_names)
    key = entity.key
    failed = ", ".join(f"CASE WHEN ({r.fails_when}) THEN '{r.name}' END" for r in rules)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE routed AS
        WITH staged AS (
            SELECT {raw}, _file, _order, _row FROM raw_batch
        ), typed AS (
            SELECT *, {typed} FROM staged
        ), keyed AS (
            SELECT t.*,
                row_number() OVER (PARTITION BY t."{key}" ORDER BY t._order, t._row) AS _dup_rank,
                e."{key}" IS NOT NULL AS _already_loaded
            FROM typed t
            LEFT JOIN (SELECT DISTINCT "{key}" FROM ledger.{entity.name}) e USING ("{key}")
        )
        SELECT *, list_filter([{failed}], lambda x: x IS NOT NULL) AS failed_rules FROM keyed
        """
    )
    cols = ", ".join(f'"{c}"' for c in entity.column_names)
    con.execute(
        f"INSERT INTO ledger.{entity.name} SELECT {cols}, _file, _row, ? "
        "FROM routed WHERE len(failed_rules) = 0 ORDER BY _order, _row",
        [snapshot_id],
    )
    raw_struct = ", ".join(f"'{c}': r_{c}" for c in entity.column_names)
    con.execute(
        "INSERT INTO ledger.quarantine SELECT ?, _file, _row, failed_rules, "
        f"CAST(to_json({{{raw_struct}}}) AS VARCHAR), ?, timezone('UTC', now()) "
        "FROM routed WHERE len(failed_rules) > 0 ORDER BY _order, _row",
        [entity.name, snapshot_id],
    )


def ingest(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    only: Iterable[LandingFile] | None = None,
) -> IngestReport:
    """Ingest every new landing file (or only the given ones) and return per-file outcomes."""
    started = time.perf_counter()
    con.execute("SET TimeZone = 'UTC'")
    ensure_tables(con)
    files = list(only) if only is not None else discover(landing)
    known = {
        sha: status
        for sha, status in con.execute("SELECT sha256, status FROM ledger.files").fetchall()
    }
    outcomes: list[FileOutcome] = []
    staged: list[tuple[LandingFile, FileOutcome]] = []
    for lf in files:
        sha = sha256_file(lf.path)
        if sha in known:
            outcomes.append(FileOutcome(lf.relpath, lf.entity, sha, "unchanged"))
            continue
        known[sha] = "pending"
        staged.append((lf, FileOutcome(lf.relpath, lf.entity, sha, "pending")))

    report = IngestReport(snapshot_id=None, files=outcomes)
    if not staged:
        report.seconds = time.perf_counter() - started
        return report

    by_entity: dict[str, list[tuple[LandingFile, FileOutcome]]] = {}
    for lf, outcome in staged:
        by_entity.setdefault(lf.entity, []).append((lf, outcome))
    staged_ok: list[FileOutcome] = []
    entity_batches: list[tuple[Entity, list[tuple[LandingFile, FileOutcome]]]] = []
    in_transaction = False
    try:
        # Parse each file into its own temp table first, outside the transaction (a failed
        # statement aborts a DuckDB transaction), so one bad file cannot poison the batch.
        for name in INGEST_ORDER:
            batch = by_entity.get(name)
            if not batch:
                continue
            entity = ENTITIES[name]
            entity_batches.append((entity, batch))
            for lf, outcome in batch:
                try:
                    _stage_into(con, lf, entity, outcome)
                    staged_ok.append(outcome)
                except IngestError as exc:
                    outcome.status, outcome.error = "rejected", str(exc)
        con.execute("BEGIN TRANSACTION")
        in_transaction = True
        snapshot_id, root, n_files = _snapshot_id(con, staged_ok)
        for entity, batch in entity_batches:
            ok = [(lf, o) for lf, o in batch if o.status == "pending"]
            if not ok:
                continue
            _union_staged(con, entity, [lf for lf, _ in ok])
            _route_entity(con, entity, snapshot_id)
            counts = dict(
                ((f, (int(n), int(good))))
                for f, n, good in con.execute(
                    "SELECT _file, count(*), count(*) FILTER (WHERE len(failed_rules) = 0) "
                    "FROM routed GROUP BY _file"
                ).fetchall()
            )
            for lf, outcome in ok:
                n, good = counts.get(lf.relpath, (0, 0))
                outcome.status = "loaded"
                outcome.rows_read, outcome.rows_loaded = n, good
                outcome.rows_quarantined = n - good
        for lf, outcome in staged:
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
                    snapshot_id if outcome.status == "loaded" else None,
                ],
            )
        if staged_ok:
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
        for lf, _ in staged:
            con.execute(f"DROP TABLE IF EXISTS {_staged_name(lf)}")
        con.execute("DROP TABLE IF EXISTS raw_batch")
        con.execute("DROP TABLE IF EXISTS routed")
    report.files.extend(o for _, o in staged)
    report.seconds = time.perf_counter() - started
    return report


def _staged_name(lf: LandingFile) -> str:
    return "stage_" + hashlib.sha1(lf.relpath.encode()).hexdigest()[:16]


def _stage_into(
    con: duckdb.DuckDBPyConnection, lf: LandingFile, entity: Entity, outcome: FileOutcome
) -> None:
    name = _staged_name(lf)
    cols = ", ".join(f'"{c}" VARCHAR' for c in entity.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw_batch ({cols}, _file VARCHAR, _order INTEGER, _row BIGINT)"
    )
    _, outcome.notes = _stage_file(con, lf, entity, 0)
    con.execute(f"ALTER TABLE raw_batch RENAME TO {name}")


def _union_staged(
    con: duckdb.DuckDBPyConnection, entity: Entity, files: Sequence[LandingFile]
) -> None:
    parts = " UNION ALL ".join(
        f"SELECT * REPLACE ({i} AS _order) FROM {_staged_name(lf)}" for i, lf in enumerate(files)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw_batch AS {parts}")
