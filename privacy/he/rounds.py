"""Encrypted rounds: the directory steps of the CLI and one in-process round over process pools.

Directory steps (each side runs only its own):
- holder ``encrypt_applicants`` -> out dir with ``context.bin`` (public), ``manifest.json`` and
  ``batch_XXXXX.llhe``; the holder's round record goes to ``<holder_dir>/rounds/<round_id>.json``;
- scorer ``score_round`` -> out dir with ``manifest.json`` and ``result_XXXXX.llhe``; it refuses a
  private context and an in/out directory that holds a holder key file, verifies every batch
  file, then charges the holder's query budget (``privacy.he.budget``) before scoring any;
- holder ``decrypt_round`` -> one Parquet/CSV file of ``row`` (position in the applicants file),
  the id column if one was named, and ``score``; written only if every batch passed release.

``run_round`` does the same in memory for a frame (the Dagster asset, ``he bench``): batches flow
encrypt -> score -> decrypt through two pools of ``workers`` processes (SEAL calls hold the GIL,
so threads would not help). The platform plays both roles there, on its own population, so no
query budget applies; scorer workers are still built from the public context only.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import rfc8785

from credit.scorecard import PointsTable
from privacy.he.budget import QueryBudget, charge
from privacy.he.encoding import (
    PublicEncoding,
    SecretWeights,
    column_indices,
    load_points_table,
    split_model,
)
from privacy.he.errors import HEError
from privacy.he.holder import Holder
from privacy.he.keys import HolderKey, generate_key, load_key
from privacy.he.packing import Packing, packing_for
from privacy.he.params import DEFAULT_SCHEME, Scheme, scheme_named
from privacy.he.scorer import Scorer
from privacy.he.wire import (
    CONTEXT,
    decode_message,
    encode_message,
    read_checked,
    read_manifest,
    sha256,
    write_manifest,
)

T = TypeVar("T")


# ---- worker processes: each holds one Holder or one Scorer, built once per pool


_ROLE: Any = None  # this worker process's Holder or Scorer (a pool's processes share one role)


def _holder(secret: bytes, scheme: str, key_id: str, encoding: dict[str, Any]) -> Holder:
    import tenseal as ts

    # n_threads=1 here and in the scorer: one worker process per core already; TenSEAL's own
    # thread pool would only oversubscribe it
    key = HolderKey(scheme_named(scheme), ts.context_from(secret, n_threads=1), key_id)
    return Holder(key, PublicEncoding.from_dict(encoding))


def _scorer(
    context: bytes,
    scheme: str,
    weights: tuple[tuple[int, ...], int, str],
    packing: tuple[int, int, int, int],
) -> Scorer:
    return Scorer(context, scheme_named(scheme), SecretWeights(*weights), Packing(*packing))


def _install(build: Callable[..., Any], args: tuple[Any, ...]) -> None:
    global _ROLE
    _ROLE = build(*args)


def _in_worker(fn: Callable[[Any, Any], T], item: Any) -> T:
    return fn(_ROLE, item)


def _encrypt(holder: Holder, job: tuple[pd.DataFrame, slice]) -> tuple[list[bytes], float]:
    """Bin, pack and encrypt one batch of applicants, or a range of its columns (the frame slice
    travels, not indicators)."""
    chunk, part = job
    started = time.perf_counter()
    cols = column_indices(holder.encoding, chunk, "scoring frame")
    return holder.encrypt_batch(cols, part), time.perf_counter() - started


def column_parts(columns: int, batches: int, workers: int) -> list[slice]:
    """How each batch's columns are split among holder workers: whole batches when there are
    enough to keep every worker busy; otherwise each batch in up to ``workers // batches``
    column ranges, so a one-batch round still encrypts on every core (each range bins the
    batch again: cheap beside its encryptions)."""
    k = min(columns, workers // batches) if 0 < batches < workers else 1
    if k == 1:
        return [slice(None)]
    return [slice(columns * j // k, columns * (j + 1) // k) for j in range(k)]


def _score(scorer: Scorer, blobs: list[bytes]) -> tuple[bytes, float, float]:
    started = time.perf_counter()
    blob, compute = scorer.score_batch(blobs, "batch")
    return blob, compute, time.perf_counter() - started


@dataclass
class _Pool:
    """``submit`` to a process pool, or run inline when one worker is asked for. Inline, the
    role object belongs to this pool, never to the module: two rounds run at once in threads of
    one process keep their own keys."""

    workers: int
    build: Callable[..., Any]
    args: tuple[Any, ...]
    _ex: ProcessPoolExecutor | None = None
    _role: Any = None

    def __post_init__(self) -> None:
        if self.workers > 1:
            # forkserver: workers fork from a clean server, never from a process holding SEAL
            # state (forking that deadlocks on SEAL's memory-pool locks) or the holder's key
            ctx = get_context("forkserver")
            ctx.set_forkserver_preload(["privacy.he.rounds"])
            self._ex = ProcessPoolExecutor(
                self.workers, ctx, initializer=_install, initargs=(self.build, self.args)
            )
        else:
            self._role = self.build(*self.args)

    def submit(self, fn: Callable[[Any, Any], T], item: Any) -> Future[T]:
        if self._ex is not None:
            return self._ex.submit(_in_worker, fn, item)
        done: Future[T] = Future()
        try:
            done.set_result(fn(self._role, item))
        except Exception as e:  # re-raised by .result(), as a pool would
            done.set_exception(e)
        return done

    def pids(self) -> list[int]:
        procs = {} if self._ex is None else self._ex._processes
        return [p.pid for p in procs.values() if p.pid is not None]

    def close(self) -> None:
        if self._ex is not None:
            self._ex.shutdown(cancel_futures=True)


@dataclass
class RoundResult:
    """Released scores (clipped integers, frame order) and the round's evidence."""

    scores: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


class RoundRunner:
    """Pools started once, then any number of in-memory rounds for one model and key.

    A round is a pipeline over batches, not three phases: a batch goes to a scorer worker as soon
    as a holder worker has encrypted it, and its result is decrypted here as soon as it is scored,
    so both cores stay busy until the last batch. Only the model's columns of each frame slice
    are pickled to the holder workers; the binning runs there too.
    """

    def __init__(self, points: PointsTable, key: HolderKey, workers: int = 2) -> None:
        self.points = points
        self.key = key
        self.encoding, self.weights = split_model(points)
        self.holder = Holder(key, self.encoding)
        p = self.holder.packing
        # the scorer refuses here, before any work, if the model overflows the parameters
        Scorer(key.public_context, key.scheme, self.weights, p)
        self.workers = max(1, workers)
        w = self.weights
        self._hold = _Pool(
            self.workers,
            _holder,
            (key.secret_bytes(), key.scheme.name, key.key_id, self.encoding.to_dict()),
        )
        self._scor = _Pool(
            self.workers,
            _scorer,
            (
                key.public_context,
                key.scheme.name,
                (w.weights, w.offset, w.model_hash),
                (p.digits, p.bits, p.raw_min, p.raw_max),
            ),
        )

    def worker_pids(self) -> list[int]:
        """Process ids of the pool workers (empty when run inline), for peak-memory reports."""
        return self._hold.pids() + self._scor.pids()

    def close(self) -> None:
        self._hold.close()
        self._scor.close()

    def run(self, frame: pd.DataFrame, where: str = "scoring frame") -> RoundResult:
        s = self.key.scheme
        t0 = time.perf_counter()
        column_indices(self.encoding, frame.head(0), where)  # names missing columns up front
        model_frame = frame[self.encoding.features]
        size = self.holder.batch_size
        chunks = [model_frame.iloc[a : a + size] for a in range(0, len(frame), size)]
        parts = column_parts(self.encoding.columns, len(chunks), self.workers)
        encrypting: dict[Future[Any], tuple[int, int]] = {
            self._hold.submit(_encrypt, (c, p)): (i, j)
            for i, c in enumerate(chunks)
            for j, p in enumerate(parts)
        }
        encrypted: dict[int, list[list[bytes]]] = {}
        scoring: dict[Future[Any], int] = {}
        values: list[np.ndarray] = [np.empty(0)] * len(chunks)
        upload = len(self.key.public_context)
        download = 0
        holder_seconds = score_seconds = compute = decrypt_seconds = 0.0
        while encrypting or scoring:
            ready, _ = wait([*encrypting, *scoring], return_when=FIRST_COMPLETED)
            for fut in ready:
                if fut in encrypting:
                    i, j = encrypting.pop(fut)
                    blobs, sec = fut.result()
                    holder_seconds += sec
                    upload += sum(len(b) for b in blobs)
                    got = encrypted.setdefault(i, [[] for _ in parts])
                    got[j] = blobs
                    if all(got):
                        del encrypted[i]
                        scoring[self._scor.submit(_score, [b for g in got for b in g])] = i
                else:
                    i = scoring.pop(fut)
                    blob, comp, sec = fut.result()
                    compute += comp
                    score_seconds += sec
                    download += len(blob)
                    started = time.perf_counter()
                    values[i] = self.holder.decrypt_batch(blob, len(chunks[i]), f"result {i}")
                    decrypt_seconds += time.perf_counter() - started
        started = time.perf_counter()
        released = [self.holder.release(v, f"result batch {i}") for i, v in enumerate(values)]
        scores = np.concatenate(released) if released else np.empty(0, np.int64)
        t1 = time.perf_counter()
        decrypt_seconds += t1 - started
        n = len(frame)
        # the plaintext scorecard, binned once (PointsTable.score is clip(raw_points))
        plain_raw = self.points.raw_points(frame)
        plain = self.points.clip(plain_raw)
        raw = np.concatenate(values) if values else np.empty(0)
        busy = min(self.workers, len(chunks)) or 1
        holder_busy = min(self.workers, len(chunks) * len(parts)) or 1
        meta = {
            "scheme": s.name,
            "params_hash": s.params_hash,
            "key_id": self.key.key_id,
            "model_hash": self.encoding.model_hash,
            "applicants": n,
            "columns": self.encoding.columns,
            "batches": len(chunks),
            "slots": s.slots,
            "applicants_per_slot": self.holder.packing.digits,
            "batch_size": size,
            "workers": self.workers,
            "column_parts": len(parts),
            "upload_bytes": upload,
            "upload_bytes_per_applicant": upload / n if n else 0.0,
            "download_bytes": download,
            # busy seconds per stage over its workers (stages overlap in time)
            "seconds_encrypt": holder_seconds / holder_busy,
            "seconds_score": score_seconds / busy,
            "seconds_score_compute": compute / busy,
            "seconds_decrypt_release": decrypt_seconds,
            "seconds": t1 - t0,
            "exact": int((scores == plain).sum()),
            "equal_to_plaintext": bool(np.array_equal(scores, plain)),
            "max_abs_error": float(np.abs(raw - plain_raw).max()) if n else 0.0,
        }
        return RoundResult(scores, meta)


@contextmanager
def round_runner(points: PointsTable, key: HolderKey, workers: int = 2) -> Iterator[RoundRunner]:
    runner = RoundRunner(points, key, workers)
    try:
        yield runner
    finally:
        runner.close()


def run_round(
    points: PointsTable,
    frame: pd.DataFrame,
    scheme: str = DEFAULT_SCHEME,
    key: HolderKey | None = None,
    workers: int = 2,
) -> RoundResult:
    """One encrypted round for ``frame`` (ephemeral key unless one is given); see RoundResult."""
    k = key or generate_key(scheme)
    with round_runner(points, k, workers) as r:
        return r.run(frame)


# ---- directory steps (the CLI)


def _read_applicants(path: Path) -> pd.DataFrame:
    where = str(path)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
    except FileNotFoundError:
        raise HEError(where, "not found", "pass the applicants file to encrypt") from None
    except Exception as e:  # pandas/pyarrow raise many types on a damaged file
        raise HEError(where, f"cannot be read ({type(e).__name__})", "re-export it") from e
    raise HEError(where, "has an unknown suffix", "use a .parquet or .csv file")


def _write_table(path: Path, df: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _refuse_key_files(directory: Path) -> None:
    """The scorer's directories must never hold a holder key."""
    for p in directory.glob("*.secret-context"):
        raise HEError(
            str(p),
            "a holder secret key sits in a scorer directory",
            "delete it from here now; keys live only in the holder's directory",
        )


_BINDING = ("scheme", "params_hash", "model_hash", "key_id", "round_id", "packing")


def _binding(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in _BINDING}


def encrypt_applicants(
    applicants: Path,
    model: Path,
    out: Path,
    holder_dir: Path,
    scheme: str = DEFAULT_SCHEME,
    id_column: str | None = None,
) -> Path:
    """Holder: encrypt ``applicants`` for ``model`` into ``out`` (to send); returns its manifest."""
    applicants, model, out, holder_dir = map(Path, (applicants, model, out, holder_dir))
    if out.resolve().is_relative_to(holder_dir.resolve()):
        raise HEError(str(out), "is inside the holder's key directory", "write it elsewhere")
    key = load_key(holder_dir, scheme)
    points, version = load_points_table(model)
    encoding, _ = split_model(points, version, str(model))
    holder = Holder(key, encoding)
    frame = _read_applicants(applicants)
    if id_column is not None and id_column not in frame.columns:
        raise HEError(str(applicants), f"has no id column {id_column!r}", "check --id-column")
    cols = column_indices(encoding, frame, str(applicants))
    s = key.scheme
    round_id = secrets.token_hex(16)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise HEError(str(out), "is not empty", "encrypt into a new directory per round")
    binding = {
        "scheme": s.name,
        "params_hash": s.params_hash,
        "model_hash": encoding.model_hash,
        "key_id": key.key_id,
        "round_id": round_id,
        "packing": holder.packing.describe(),
    }
    ctx = key.public_context
    (out / CONTEXT).write_bytes(ctx)
    listed = []
    for b, a in enumerate(range(0, len(cols), holder.batch_size)):
        chunk = cols[a : a + holder.batch_size]
        msg = encode_message(
            dict(binding, kind="holder-batch", batch=b, applicants=len(chunk)),
            holder.encrypt_batch(chunk),
        )
        name = f"batch_{b:05d}.llhe"
        (out / name).write_bytes(msg)
        listed.append({"file": name, "applicants": len(chunk), "sha256": sha256(msg)})
    manifest = dict(
        binding,
        kind="holder-batch",
        model_version=version,
        applicants=len(frame),
        columns=encoding.columns,
        context={"file": CONTEXT, "sha256": sha256(ctx)},
        batches=listed,
        batch_size=holder.batch_size,
    )
    rounds = holder_dir / "rounds"
    rounds.mkdir(exist_ok=True, mode=0o700)
    record = dict(manifest, encoding=encoding.to_dict(), id_column=id_column)
    write_manifest_file(rounds / f"{round_id}.json", record)
    if id_column is not None:
        _write_table(rounds / f"{round_id}.ids.parquet", frame[[id_column]].reset_index(drop=True))
    return write_manifest(out, manifest)


def write_manifest_file(path: Path, record: dict[str, Any]) -> None:
    """A holder-private JSON record (0600, never overwritten)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)


def input_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 naming exactly the ciphertexts of a holder manifest (context and every batch)."""
    listed = {"context": manifest["context"]["sha256"], "batches": manifest["batches"]}
    return sha256(rfc8785.dumps(dict(_binding(manifest), **listed)))


def score_round(points: Path, in_dir: Path, out: Path, *, budget: QueryBudget) -> Path:
    """Scorer: score every batch in ``in_dir`` with ``points`` into ``out``; returns its manifest.

    Every input is checked first (manifest, model, context, each batch file against its hash);
    then ``budget`` is charged the round's capacity (batches x slots x applicants per slot);
    only then is anything scored. ``BudgetExceededError`` leaves ``out`` untouched.
    """
    points, in_dir, out = Path(points), Path(in_dir), Path(out)
    _refuse_key_files(in_dir)
    m = read_manifest(in_dir, "holder-batch")
    where = str(in_dir / "manifest.json")
    pt, _ = load_points_table(points)
    encoding, weights = split_model(pt, where=str(points))
    if weights.model_hash != m["model_hash"]:
        raise HEError(
            where,
            f"batches were encrypted for model {m['model_hash']}, {points} is model "
            f"{weights.model_hash}",
            "score with the points the batches were encrypted for, or ask the holder to "
            "re-encrypt for this model",
        )
    scheme = scheme_named(m["scheme"])
    if m["params_hash"] != scheme.params_hash:
        raise HEError(where, "unknown parameters", "upgrade ledgerlens")
    packing = packing_for(scheme, encoding.raw_min, encoding.raw_max, str(points))
    if m.get("packing") != packing.describe():
        raise HEError(
            where,
            f"packing is {m.get('packing')!r}, this model and scheme pack {packing.describe()!r}",
            "ask the holder to re-encrypt with this ledgerlens version",
        )
    capacity = scheme.slots * packing.digits
    counts = [int(e["applicants"]) for e in m["batches"]]
    if any(not 0 < c <= capacity for c in counts) or sum(counts) != m["applicants"]:
        raise HEError(where, "batch applicant counts do not add up", "ask the holder to resend")
    ctx_path = in_dir / m["context"]["file"]
    scorer = Scorer(
        read_checked(ctx_path, m["context"]["sha256"]), scheme, weights, packing, str(ctx_path)
    )
    binding = _binding(m)
    for b, entry in enumerate(m["batches"]):
        path = in_dir / entry["file"]
        decode_message(
            read_checked(path, entry["sha256"]),
            str(path),
            dict(binding, kind="holder-batch", batch=b, applicants=entry["applicants"]),
        )
    if out.exists():
        _refuse_key_files(out)
    charged = charge(budget, capacity * len(counts), binding, input_digest(m))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for b, entry in enumerate(m["batches"]):
        path = in_dir / entry["file"]
        data = read_checked(path, entry["sha256"])
        header, blobs = decode_message(data, str(path), dict(binding, kind="holder-batch", batch=b))
        blob, _ = scorer.score_batch(blobs, str(path))
        msg = encode_message(
            dict(binding, kind="scorer-result", batch=b, applicants=header["applicants"]), [blob]
        )
        name = f"result_{b:05d}.llhe"
        (out / name).write_bytes(msg)
        results.append(
            {
                "file": name,
                "applicants": header["applicants"],
                "sha256": sha256(msg),
                "input_sha256": entry["sha256"],
            }
        )
    e = charged.entry
    receipt = {k: e[k] for k in ("holder", "period", "limit", "charged", "spent_after", "hash")}
    return write_manifest(
        out,
        dict(
            binding,
            kind="scorer-result",
            applicants=m["applicants"],
            results=results,
            budget=dict(receipt, repeat=charged.repeat),
        ),
    )


def decrypt_round(in_dir: Path, out: Path, holder_dir: Path) -> pd.DataFrame:
    """Holder: decrypt the scorer's results, check, clip, and write ``out``; returns the scores."""
    in_dir, out, holder_dir = Path(in_dir), Path(out), Path(holder_dir)
    m = read_manifest(in_dir, "scorer-result")
    where = str(in_dir / "manifest.json")
    record_path = holder_dir / "rounds" / f"{m.get('round_id')}.json"
    if not record_path.exists():
        raise HEError(
            where,
            "names a round this holder never encrypted",
            "decrypt with the holder directory that ran `he encrypt` for it",
        )
    record = json.loads(record_path.read_text())
    for k, v in _binding(record).items():
        if m.get(k) != v:
            raise HEError(where, f"{k} is {m.get(k)!r}, this round has {v!r}", "re-run the scorer")
    sent = [b["sha256"] for b in record["batches"]]
    if [r["input_sha256"] for r in m["results"]] != sent:
        raise HEError(
            where,
            "results do not answer the batches of this round one for one",
            "re-run the scorer on the round's whole directory",
        )
    key = load_key(holder_dir, record["scheme"])
    holder = Holder(key, PublicEncoding.from_dict(record["encoding"]))
    released = []
    for b, (entry, sent_entry) in enumerate(zip(m["results"], record["batches"], strict=True)):
        path = in_dir / entry["file"]
        data = read_checked(path, entry["sha256"])
        expect = dict(
            _binding(record), kind="scorer-result", batch=b, applicants=sent_entry["applicants"]
        )
        _, blobs = decode_message(data, str(path), expect)
        if len(blobs) != 1:
            raise HEError(str(path), "must hold exactly one ciphertext", "re-run the scorer")
        values = holder.decrypt_batch(blobs[0], sent_entry["applicants"], str(path))
        released.append(holder.release(values, str(path)))
    scores = np.concatenate(released)
    frame = pd.DataFrame({"row": np.arange(len(scores), dtype=np.int64)})
    ids = holder_dir / "rounds" / f"{record['round_id']}.ids.parquet"
    if record.get("id_column") and ids.exists():
        frame[record["id_column"]] = pd.read_parquet(ids)[record["id_column"]].to_numpy()
    frame["score"] = scores
    _write_table(out, frame)
    return frame


def bench(
    applicants: int,
    scheme: str = DEFAULT_SCHEME,
    columns: int = 60,
    workers: int = 2,
    repeats: int = 3,
) -> dict[str, Any]:
    """``he bench``: warm rounds on a synthetic scorecard, the fastest of ``repeats`` reported
    (the machine is shared: the slower repeats measure other people's load); the JSON the CLI
    prints, with the load average before and after."""
    from privacy.he.synthetic import synthetic_applicants, synthetic_points_table

    points = synthetic_points_table(columns)
    frame = synthetic_applicants(points, applicants)
    s: Scheme = scheme_named(scheme)
    load_before = os.getloadavg()[0]
    with round_runner(points, generate_key(s), workers) as r:
        r.run(frame.head(min(applicants, 256)))  # warm the workers
        metas = [r.run(frame).metadata for _ in range(max(1, repeats))]
    meta = min(metas, key=lambda m: float(m["seconds"]))
    return {
        "scheme": s.name,
        "applicants": applicants,
        "columns": meta["columns"],
        "end_to_end_per_s": applicants / meta["seconds"],
        "end_to_end_per_s_each": [round(applicants / m["seconds"]) for m in metas],
        "scorer_per_s": applicants / meta["seconds_score_compute"],
        "scorer_with_io_per_s": applicants / meta["seconds_score"],
        "upload_bytes_per_applicant": meta["upload_bytes_per_applicant"],
        "max_abs_error": max(float(m["max_abs_error"]) for m in metas),
        "exact": min(int(m["exact"]) for m in metas),
        "workers": meta["workers"],
        "applicants_per_slot": meta["applicants_per_slot"],
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
