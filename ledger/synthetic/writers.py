"""Files on disk: the landing files in their formats and the ground truth beside them.

Byte-stable for equal tables: Parquet with zstd, CSV through pyarrow with amounts written as the
shortest text that round-trips (``np.format_float_positional``), JSON Lines with keys in contract
order and non-ASCII kept. A regeneration first removes the files a previous run left (only
landing-format files in entity folders and the three truth files; anything else stays).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ledger import contract
from ledger.synthetic.arrays import Floats

TRUTH_FILES: tuple[str, ...] = ("users.parquet", "loans.parquet", "dirty_rows.parquet")

TXN_ARROW_SCHEMA = pa.schema(
    [
        pa.field(c.name, pa.float64() if c.name in ("amount", "fee") else pa.string())
        for c in contract.TRANSACTIONS.columns
    ]
)
"""Transactions as written to Parquet and JSON Lines: amount and fee double, everything else
(``occurred_at`` included, an ISO-8601 string) text."""
_TXN_CSV_SCHEMA = pa.schema([pa.field(c.name, pa.string()) for c in contract.TRANSACTIONS.columns])


def _fmt_amounts(values: Floats) -> list[str]:
    return [np.format_float_positional(v, trim="-") for v in values.tolist()]


def _write_csv(table: pa.Table, path: Path, unparseable: dict[int, str]) -> None:
    amount = _fmt_amounts(table.column("amount").to_numpy())
    for r, s in unparseable.items():
        amount[r] = s
    fee = _fmt_amounts(table.column("fee").to_numpy())
    cols = {name: table.column(name) for name in table.column_names}
    cols["amount"] = pa.chunked_array([pa.array(amount, pa.string())])
    cols["fee"] = pa.chunked_array([pa.array(fee, pa.string())])
    pacsv.write_csv(pa.table(cols, schema=_TXN_CSV_SCHEMA), path)


def _write_jsonl(table: pa.Table, path: Path) -> None:
    names = table.column_names
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in zip(*(table.column(c).to_pylist() for c in names), strict=True):
            fh.write(
                json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, allow_nan=False)
            )
            fh.write("\n")


def write_transactions(table: pa.Table, path: Path, fmt: str, unparseable: dict[int, str]) -> None:
    """Write one day file in ``fmt``. ``unparseable`` maps rows to the amount text a CSV carries
    instead of the number (those rows hold NaN in ``table``; only CSV can carry them)."""
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    elif fmt == "csv":
        _write_csv(table, path, unparseable)
    else:
        _write_jsonl(table, path)


def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def clear_previous_run(out_dir: Path, truth_dir: Path) -> None:
    """Remove files this generator owns from a previous run (other files are left alone)."""
    for ent in contract.ENTITIES:
        folder = out_dir / ent
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_file() and f.suffix.lstrip(".") in contract.LANDING_FORMATS:
                    f.unlink()
    for name in TRUTH_FILES:
        (truth_dir / name).unlink(missing_ok=True)
