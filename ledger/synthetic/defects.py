"""Planted defects: a share of each day's transaction rows corrupted on purpose, with the truth
of where (``truth/dirty_rows.parquet``) so the quarantine can be scored.

Invariants the ingest tests rely on:

- each dirty row carries exactly one defect from ``DIRTY_KINDS`` and is listed once, by its row in
  the final file; every other row is clean;
- loan disbursements and repayments are never corrupted or duplicated, so loan outcomes stay
  observable from the ledger;
- ``unparseable_amount`` appears only in CSV files (the other formats type the amount);
- a duplicate copies a clean earlier row: from the same file (placed after the original) or from a
  reservoir of clean rows of the previous file; the later occurrence is the dirty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from ledger.synthetic.arrays import Bools, Floats, Ints
from ledger.synthetic.reference import TX
from ledger.synthetic.writers import TXN_ARROW_SCHEMA

DIRTY_KINDS: tuple[str, ...] = (
    "duplicate_txn_id",
    "amount_not_positive",
    "unknown_asset",
    "malformed_timestamp",
    "future_timestamp",
    "missing_user_id",
    "unparseable_amount",
)
"""Kinds of deliberate defects in transaction rows (``truth/dirty_rows.parquet``)."""

UNKNOWN_ASSETS = ("DOGEX", "SHIBZ", "USDX")
MALFORMED_TS = ("{y}-13-45T99:00:00Z", "yesterday", "{y}-02-30T10:61:00Z", "not a timestamp")
UNPARSEABLE_AMOUNTS = ("12,5O", "1.2.3", "7..5", "twelve", "3,4l", "--5")
RESERVOIR_ROWS = 200
"""Clean rows of a day kept as the source of the next day's cross-file duplicates."""

_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Dirt:
    table: pa.Table  # final rows in file order (amount NaN where unparseable)
    rows: list[int]  # dirty rows in the final file, ascending
    kinds: list[str]
    txn_ids: list[str]
    unparseable: dict[int, str]  # final row -> amount text (CSV only)


@dataclass
class _Plan:
    eligible: Ints  # rows that may be corrupted or copied (not loan rows)
    victims: Ints  # rows corrupted in place, ascending
    kinds: list[str]  # in-place defect of each victim
    n_dup: int  # duplicates to insert
    clean: Bools  # base rows left untouched


def _not_loan(tx: Ints) -> Bools:
    out: Bools = (tx != TX["loan_disbursement"]) & (tx != TX["loan_repayment"])
    return out


def _plan(n: int, tx: Ints, fmt: str, rate: float, rng: np.random.Generator) -> _Plan:
    """How many rows get which defect, and which rows are corrupted in place."""
    kinds = [k for k in DIRTY_KINDS if k != "unparseable_amount" or fmt == "csv"]
    n_dirty = int(rng.binomial(n, rate))
    chosen = rng.integers(0, len(kinds), n_dirty)
    eligible = np.nonzero(_not_loan(tx))[0]
    n_dup = int((np.array(kinds)[chosen] == "duplicate_txn_id").sum())
    inplace = [kinds[c] for c in chosen if kinds[c] != "duplicate_txn_id"]
    n_in = min(len(inplace), len(eligible))
    victims = (
        np.sort(rng.choice(eligible, size=n_in, replace=False)) if n_in else np.empty(0, np.int64)
    )
    inplace = [inplace[i] for i in rng.permutation(n_in)] if n_in else []
    clean = np.ones(n, dtype=bool)
    clean[victims] = False
    return _Plan(eligible, victims, inplace, n_dup, clean)


@dataclass
class _Editable:
    """The columns in-place defects touch, as mutable copies."""

    amount: Floats
    asset: list[str | None]
    user: list[str | None]
    ts: list[str | None]

    @classmethod
    def of(cls, table: pa.Table) -> _Editable:
        return cls(
            table.column("amount").to_numpy().copy(),
            table.column("asset").to_pylist(),
            table.column("user_id").to_pylist(),
            table.column("occurred_at").to_pylist(),
        )

    def into(self, table: pa.Table) -> pa.Table:
        cols = {name: table.column(name) for name in table.column_names}
        cols["amount"] = pa.chunked_array([pa.array(self.amount, pa.float64())])
        cols["asset"] = pa.chunked_array([pa.array(self.asset, pa.string())])
        cols["user_id"] = pa.chunked_array([pa.array(self.user, pa.string())])
        cols["occurred_at"] = pa.chunked_array([pa.array(self.ts, pa.string())])
        return pa.table(cols, schema=TXN_ARROW_SCHEMA)


def _corrupt_row(
    e: _Editable, v: int, kind: str, rng: np.random.Generator, year: int
) -> str | None:
    """Plant ``kind`` in row ``v``; return the amount text for an unparseable amount."""
    if kind == "amount_not_positive":
        e.amount[v] = 0.0 if rng.random() < 0.3 else -e.amount[v]
    elif kind == "unknown_asset":
        e.asset[v] = UNKNOWN_ASSETS[int(rng.integers(0, len(UNKNOWN_ASSETS)))]
    elif kind == "malformed_timestamp":
        e.ts[v] = MALFORMED_TS[int(rng.integers(0, len(MALFORMED_TS)))].format(y=year)
    elif kind == "future_timestamp":
        dt = datetime.strptime(str(e.ts[v]), _TS_FORMAT)
        dt += timedelta(days=365 * int(rng.integers(3, 30)))
        e.ts[v] = dt.strftime(_TS_FORMAT)
    elif kind == "missing_user_id":
        e.user[v] = None
    elif kind == "unparseable_amount":
        e.amount[v] = float("nan")
        return UNPARSEABLE_AMOUNTS[int(rng.integers(0, len(UNPARSEABLE_AMOUNTS)))]
    return None


def _corrupt(
    table: pa.Table, plan: _Plan, rng: np.random.Generator, year: int
) -> tuple[pa.Table, dict[int, str]]:
    """The table with the plan's in-place defects, and base row -> unparseable amount text."""
    e = _Editable.of(table)
    unparseable: dict[int, str] = {}
    for v, kind in zip(plan.victims.tolist(), plan.kinds, strict=True):
        text = _corrupt_row(e, v, kind, rng, year)
        if text is not None:
            unparseable[v] = text
    return e.into(table), unparseable


def _insert_duplicates(
    base: pa.Table, plan: _Plan, reservoir: pa.Table | None, rng: np.random.Generator
) -> tuple[pa.Table, Ints]:
    """The final table with the duplicates inserted, and the final position of every row of
    ``base`` followed by the duplicates (``n + j`` for the j-th duplicate)."""
    n = base.num_rows
    src_pool = np.nonzero(plan.clean & np.isin(np.arange(n), plan.eligible))[0]
    dup_tables, positions = [], []
    n_res = reservoir.num_rows if reservoir is not None else 0
    from_prev = rng.random(plan.n_dup) < (0.3 if n_res else 0.0)
    same = int((~from_prev).sum()) if len(src_pool) else 0
    if same:
        src = rng.choice(src_pool, size=same)
        dup_tables.append(base.take(pa.array(src)))
        positions.extend((src + 1 + (rng.random(same) * (n - src)).astype(np.int64)).tolist())
    k_prev = int(from_prev.sum())
    if k_prev and reservoir is not None:
        dup_tables.append(reservoir.take(pa.array(rng.integers(0, n_res, k_prev))))
        positions.extend(rng.integers(0, n + 1, k_prev).tolist())
    m = len(positions)
    if m:
        combined = pa.concat_tables([base, *dup_tables])
        order = np.insert(np.arange(n), np.array(positions, dtype=np.int64), np.arange(n, n + m))
        final = combined.take(pa.array(order))
    else:
        order = np.arange(n)
        final = base
    final_pos = np.empty(n + m, dtype=np.int64)
    final_pos[order] = np.arange(n + m)
    return final, final_pos


def inject_dirt(
    table: pa.Table,
    tx: Ints,
    fmt: str,
    rate: float,
    reservoir: pa.Table | None,
    rng: np.random.Generator,
    year: int,
) -> tuple[Dirt, Bools]:
    """Corrupt ``rate`` of rows (one defect each); return the dirt and a mask of clean base rows."""
    n = table.num_rows
    if rate <= 0 or n == 0:
        return Dirt(table, [], [], [], {}), np.ones(n, dtype=bool)
    plan = _plan(n, tx, fmt, rate, rng)
    base, unparseable_base = _corrupt(table, plan, rng, year)
    final, final_pos = _insert_duplicates(base, plan, reservoir, rng)
    m = len(final_pos) - n
    rows = [int(final_pos[v]) for v in plan.victims.tolist()]
    rows += [int(final_pos[n + j]) for j in range(m)]
    kinds = plan.kinds + ["duplicate_txn_id"] * m
    srt = np.argsort(rows, kind="stable")
    rows = [rows[i] for i in srt]
    ids_col = final.column("txn_id")
    return Dirt(
        table=final,
        rows=rows,
        kinds=[kinds[i] for i in srt],
        txn_ids=[ids_col[r].as_py() for r in rows],
        unparseable={int(final_pos[v]): s for v, s in unparseable_base.items()},
    ), plan.clean


def dirt_base_rows(clean_table: pa.Table, idx: np.ndarray) -> pa.Table:
    """Rows of the uncorrupted day table kept to be duplicated into a later file."""
    return clean_table.take(pa.array(idx))


def next_reservoir(
    clean_table: pa.Table,
    tx: Ints,
    clean: Bools,
    reservoir: pa.Table | None,
    rng: np.random.Generator,
) -> pa.Table | None:
    """Up to ``RESERVOIR_ROWS`` clean non-loan rows of today for tomorrow's duplicates (the
    previous reservoir if today has none)."""
    ok = np.nonzero(clean & _not_loan(tx))[0]
    if not len(ok):
        return reservoir
    pick = np.sort(rng.choice(ok, size=min(RESERVOIR_ROWS, len(ok)), replace=False))
    return dirt_base_rows(clean_table, pick)
