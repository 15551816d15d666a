"""The entry point: draw the world, write the reference tables, then the transaction days one at
a time, then the ground truth.

Random streams: the reference stages each get one child of ``SeedSequence(seed)`` (users, wallets,
merchants, prices, loans, external addresses, in that spawn order); day ``d`` gets its own
``default_rng([seed, 1000 + d])``, shared by its transactions, its defects and its duplicate
reservoir, in that order. Changing the order of any draw changes the files, which the digest test
(``tests/fixtures/generator_digests.json``) catches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ledger import contract
from ledger.synthetic.config import GenerationSummary, GeneratorConfig, transactions_file_format
from ledger.synthetic.defects import Dirt, inject_dirt, next_reservoir
from ledger.synthetic.loans import make_loans
from ledger.synthetic.merchants import make_merchants
from ledger.synthetic.prices import make_prices
from ledger.synthetic.transactions import DayGenerator, World
from ledger.synthetic.users import Users, make_users
from ledger.synthetic.wallets import make_external_addresses, make_wallets
from ledger.synthetic.writers import clear_previous_run, write_parquet, write_transactions

DAY_STREAM_OFFSET = 1_000
"""Day ``d`` draws from ``default_rng([seed, DAY_STREAM_OFFSET + d])``."""


@dataclass
class _DirtyLog:
    """Rows of ``truth/dirty_rows.parquet``, accumulated file by file."""

    file: list[str] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    txn_id: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)

    def add(self, rel: str, dirt: Dirt) -> None:
        self.file.extend([rel] * len(dirt.rows))
        self.row.extend(dirt.rows)
        self.txn_id.extend(dirt.txn_ids)
        self.kind.extend(dirt.kinds)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "file": pa.array(self.file, pa.string()),
                "row": pa.array(self.row, pa.int64()),
                "txn_id": pa.array(self.txn_id, pa.string()),
                "kind": pa.array(self.kind, pa.string()),
            }
        )


def _draw_world(cfg: GeneratorConfig) -> World:
    ss = np.random.SeedSequence(cfg.seed)
    r_users, r_wallets, r_merch, r_prices, r_loans, r_ext = (
        np.random.default_rng(s) for s in ss.spawn(6)
    )
    users = make_users(cfg, r_users)
    wallets = make_wallets(cfg, users, r_wallets)
    external = make_external_addresses(r_ext)
    merchants = make_merchants(cfg, r_merch)
    prices = make_prices(cfg, r_prices)
    loans = make_loans(cfg, users, prices, r_loans)
    return World(cfg, users, wallets, external, merchants, prices, loans)


def _write_reference(world: World, out_dir: Path, rows: dict[str, int]) -> list[Path]:
    files = []
    for name, tbl in (
        ("users", world.users.table),
        ("wallets", world.wallets.table),
        ("merchants", world.merchants.table),
        ("prices", world.prices.table),
        ("loans", world.loans.table),
    ):
        if tuple(tbl.column_names) != contract.ENTITIES[name].column_names:
            raise AssertionError(f"generated {name} columns differ from ledger.contract")
        files.append(write_parquet(tbl, out_dir / name / f"{name}.parquet"))
        rows[name] = tbl.num_rows
    return files


def _write_days(world: World, out_dir: Path, log: _DirtyLog) -> tuple[list[Path], int]:
    """Write every transaction day; return the files and the number of rows written."""
    cfg = world.cfg
    gen = DayGenerator(world)
    (out_dir / "transactions").mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    reservoir: pa.Table | None = None
    n_tx = 0
    for d in range(cfg.days):
        rng = np.random.default_rng([cfg.seed, DAY_STREAM_OFFSET + d])
        clean_table, tx = gen.day(d, rng)
        fmt = transactions_file_format(d)
        day = cfg.day(d)
        rel = f"transactions/{day.isoformat()}.{fmt}"
        dirt, clean = inject_dirt(clean_table, tx, fmt, cfg.dirty_rate, reservoir, rng, day.year)
        write_transactions(dirt.table, out_dir / rel, fmt, dirt.unparseable)
        files.append(out_dir / rel)
        n_tx += dirt.table.num_rows
        log.add(rel, dirt)
        if cfg.dirty_rate > 0:
            reservoir = next_reservoir(clean_table, tx, clean, reservoir, rng)
    return files, n_tx


def _users_truth(users: Users) -> pa.Table:
    """Latent ``z`` per user and its quintile band (1 = worst, 5 = best)."""
    band = np.empty(users.n, dtype=np.int32)
    band[np.argsort(users.z, kind="stable")] = 1 + (np.arange(users.n) * 5) // users.n
    return pa.table(
        {
            "user_id": users.ids,
            "latent_z": pa.array(users.z, pa.float64()),
            "latent_band": pa.array(band),
        }
    )


def generate(
    out_dir: Path, config: GeneratorConfig, truth_dir: Path | None = None
) -> GenerationSummary:
    """Write a synthetic landing folder under ``out_dir`` and ground truth under ``truth_dir``
    (default ``out_dir.parent / "truth"``). Deterministic for a given config."""
    t0 = time.perf_counter()
    cfg = config
    cfg.check()
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / "truth"
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    clear_previous_run(out_dir, truth_dir)

    world = _draw_world(cfg)
    rows: dict[str, int] = {}
    files = _write_reference(world, out_dir, rows)
    log = _DirtyLog()
    day_files, rows["transactions"] = _write_days(world, out_dir, log)
    truth_files = [
        write_parquet(_users_truth(world.users), truth_dir / "users.parquet"),
        write_parquet(world.loans.truth, truth_dir / "loans.parquet"),
        write_parquet(log.table(), truth_dir / "dirty_rows.parquet"),
    ]
    return GenerationSummary(
        files=files + day_files,
        rows=rows,
        dirty_rows=len(log.kind),
        seconds=time.perf_counter() - t0,
        truth_files=truth_files,
    )
