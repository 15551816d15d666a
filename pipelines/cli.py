"""``ledgerlens``: the one command-line entry point."""

from __future__ import annotations

import os
import secrets
import sys
import time
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.home import Home
from pipelines.cli_insights import insights_app
from pipelines.settings import Settings, owner_only_files

if TYPE_CHECKING:
    from pipelines.runner import RunOutcome

app = typer.Typer(
    help="ledgerlens: a privacy-preserving data and credit analytics pipeline for a wallet ledger.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def _process() -> None:
    owner_only_files()


DAGSTER_YAML = """\
# Written by ledgerlens. DuckDB allows one writer: every warehouse writer is in one pool of size 1.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


@app.command()
def generate(
    users: Annotated[int, typer.Option(help="Number of wallet holders.")] = 5000,
    days: Annotated[int, typer.Option(help="Number of ledger days (one file per day).")] = 180,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    dirty_rate: Annotated[
        float, typer.Option(help="Share of transaction rows with one planted defect.")
    ] = 0.005,
    start: Annotated[str, typer.Option(help="First ledger day, YYYY-MM-DD.")] = "2026-01-01",
    out: Annotated[
        Path | None, typer.Option(help="Landing folder (default: $LEDGERLENS_HOME/landing).")
    ] = None,
) -> None:
    """Generate a deterministic synthetic wallet ledger into a landing folder."""
    from ledger.synthetic import GeneratorConfig
    from ledger.synthetic import generate as run_generator

    try:
        first_day = date.fromisoformat(start)
    except ValueError as exc:
        raise _fail(f"--start '{start}' is not a date; use YYYY-MM-DD") from exc
    if users < 1 or days < 1:
        raise _fail("--users and --days must be at least 1")
    if not 0.0 <= dirty_rate < 1.0:
        raise _fail("--dirty-rate must be within [0, 1)")
    landing = out or Settings.from_env().home.landing
    landing.mkdir(parents=True, exist_ok=True)
    config = GeneratorConfig(
        users=users, days=days, seed=seed, dirty_rate=dirty_rate, start=first_day
    )
    summary = run_generator(landing, config)
    console.print(
        f"generated {len(summary.files)} files in {landing} in {summary.seconds:.1f}s: "
        + ", ".join(f"{k}={v:,}" for k, v in summary.rows.items())
        + f" (dirty rows {summary.dirty_rows:,})"
    )


def prepare_dbt_manifest() -> Path:
    """``dbt parse`` so ``@dbt_assets`` can load (the manifest is never committed)."""
    from assets.dbt_project import dbt_project

    # dbt is found on PATH (by the preparer and by DbtCliResource): use the one beside this Python.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    manifest = dbt_project.manifest_path
    sources = [
        p
        for p in Path(dbt_project.project_dir).rglob("*")
        if p.suffix in (".sql", ".yml", ".csv") and "target" not in p.parts
    ]
    if not manifest.exists() or any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources):
        dbt_project.preparer.prepare(dbt_project)
    return manifest


def prepare_dagster_home(home: Home) -> Path:
    """The Dagster instance of this data home, with the one-writer pool configured."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME", home.root / "dagster")).resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


@app.command()
def run(
    demo_if_empty: Annotated[
        bool,
        typer.Option(
            help="Generate the default demo ledger when nothing was landed or ingested yet."
        ),
    ] = False,
) -> None:
    """Materialise the whole asset graph in-process against $LEDGERLENS_HOME and summarise."""
    started = time.perf_counter()
    settings = Settings.from_env()
    home = settings.home.ensure()
    # Landed files move into the encrypted archive once loaded: an empty landing folder beside a
    # warehouse is a ledger already ingested, not a missing one.
    fresh = not home.warehouse.exists()
    if demo_if_empty and fresh and not any(home.landing.rglob("*.*")):
        console.print(f"landing is empty: generating the default demo ledger in {home.landing}")
        generate(out=home.landing)
    if fresh and not any(home.landing.rglob("*.*")):
        raise _fail(
            f"no landing files under {home.landing}: run `ledgerlens generate` or copy ledger "
            "files there (see README, 'Bring your own ledger')"
        )
    prepare_dagster_home(home)
    prepare_dbt_manifest()
    # Dagster's beta/deprecation notices are for developers, not for the operator's console.
    for module in ("dagster", "dagster_dbt"):
        warnings.filterwarnings("ignore", module=rf"{module}(\..*)?")

    import dagster as dg

    from pipelines.runner import run_pipeline

    # Dagster's events go to stderr and dbt's to stdout: both go to this run's own log file.
    # Time, process and a random part: runs in one process within a second get their own log.
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
    log_path = home.logs / f"run-{stamp}.log"
    console.print(f"materialising every asset (log: {log_path}) …")
    try:
        with log_path.open("x") as log, redirect_stdout(log), redirect_stderr(log):
            with dg.DagsterInstance.get() as instance:
                outcome = run_pipeline(settings, instance)
            for line in outcome.failures:
                print(f"FAILED {line}", file=log)
    except Exception as exc:  # the message is for the operator; the traceback is in the log
        with log_path.open("a") as log:
            traceback.print_exc(file=log)
        raise _fail(f"the run could not start: {_one_line(exc)}\nfull log: {log_path}") from exc
    _print_summary(home, outcome, time.perf_counter() - started)
    if not outcome.ok:
        for line in outcome.failures:
            console.print(f"[bold red]failed:[/] {line}", soft_wrap=True)
        raise _fail(f"the run failed ({len(outcome.failures)} failure(s)); full log: {log_path}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@app.command("import")
def import_(
    sources: Annotated[
        list[Path], typer.Argument(help="Foreign export files (.csv, .parquet, .jsonl).")
    ],
    mapping: Annotated[Path, typer.Option(help="Mapping YAML (see docs/importer.md).")],
    landing: Annotated[
        Path | None, typer.Option(help="Landing folder (default: $LEDGERLENS_HOME/landing).")
    ] = None,
) -> None:
    """Map a foreign ledger export into landing/: renames, constants, value maps, date formats,
    a fixed-rate price table and one file per day."""
    from ledger.importer import ImporterError, import_sources
    from ledger.mapping import MappingError

    for path, flag in [(mapping, "--mapping"), *((s, "SOURCE") for s in sources)]:
        if not path.is_file():
            raise _fail(f"{flag} {path}: no such file")
    target = landing or Settings.from_env().home.ensure().landing
    try:
        report = import_sources(mapping, list(sources), target)
    except (MappingError, ImporterError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"read {report.rows_read:,} rows from {len(sources)} file(s) into {target}")
    for entity in report.entities.values():
        console.print(
            f"  {entity.entity:<13} {entity.rows_written:>9,} rows written to "
            f"{len(entity.files)} file(s), {entity.rows_rejected:,} rejected"
        )
    if report.files_unchanged:
        console.print(f"  {len(report.files_unchanged)} file(s) already landed with this content")
    if report.rejects:
        console.print(
            f"[yellow]{report.rows_rejected:,} source row(s) could not be mapped[/]; each with its "
            f"file, row, column and reason in {report.rejects_file}"
        )


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="Attestation, credential or presentation (JSON).")],
    nonce: Annotated[str | None, typer.Option(help="The nonce you chose as verifier.")] = None,
    audience: Annotated[
        str | None, typer.Option(help="Who you are, as the proof names you.")
    ] = None,
    issuer_key: Annotated[
        Path | None,
        typer.Option(help="Issuer public key file (default: the one published in the home)."),
    ] = None,
    status_list: Annotated[
        Path | None, typer.Option(help="Status list file (default: the one published).")
    ] = None,
) -> None:
    """Check signature, validity window, revocation, range proof, Merkle inclusion and bindings.

    Exit 0 when valid, 1 when not (naming the first failing check). A key inside the file is
    never trusted: without --issuer-key, the key published under $LEDGERLENS_HOME/out/issuer/.
    """
    from zk.verify import verify_file

    if not file.is_file():
        raise _fail(f"{file}: no such file", code=2)
    report = verify_file(
        file,
        nonce=nonce,
        audience=audience,
        issuer_key=issuer_key,
        status_list=status_list,
        home=Settings.from_env().home.root,
    )
    console.print(report.summary(), soft_wrap=True)
    raise typer.Exit(0 if report.valid else 1)


@app.command()
def prove(
    credential: Annotated[Path, typer.Option(help="Your score credential (JSON).")],
    opening: Annotated[Path, typer.Option(help="Its opening, delivered only to you.")],
    threshold: Annotated[int, typer.Option(help='The "score >= T" the verifier asks for.')],
    nonce: Annotated[str, typer.Option(help="The verifier's nonce.")],
    audience: Annotated[str, typer.Option(help="The verifier's name.")],
    out: Annotated[Path, typer.Option(help="Presentation file to hand to the verifier.")],
) -> None:
    """Prove "score >= T" to one verifier (nonce + audience) without revealing the score."""
    from zk.presentation import prove_threshold

    for path, flag in ((credential, "--credential"), (opening, "--opening")):
        if not path.is_file():
            raise _fail(f"{flag} {path}: no such file", code=2)
    try:
        prove_threshold(credential, opening, threshold, nonce, audience, out=out)
    except ValueError as exc:
        raise _fail(f"cannot prove: {exc}") from exc
    console.print(f"presentation written to {out}")


keys_app = typer.Typer(help="Key lifecycle of the local key vault.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate(
    actor: Annotated[
        str | None, typer.Option(help="Who rotates the key (default: the OS user).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why the key is rotated.")] = "scheduled rotation",
) -> None:
    """Re-wrap every subject's data key (and the purpose keys) under a new master key; the
    rotation is audited (fingerprints and counts, never a key).

    No record is re-encrypted. When the master key came from $LEDGERLENS_MASTER_KEY, the new key is
    written to keys/master.key.new (0600) and must replace the variable's value; it is never
    printed.
    """
    import getpass

    import duckdb

    from privacy.audit import append_events
    from privacy.audit_events import key_rotation_event, latest_snapshot
    from privacy.vault import DATA_KEYS_TABLE, rotate_master_key

    home = Settings.from_env().home.ensure()
    con = duckdb.connect(str(home.warehouse))
    try:
        keyvault = _keyvault(con, home)
        before = keyvault.fingerprint
        new_key = rotate_master_key(con, keyvault)
        rewrapped = con.execute(f"SELECT count(*) FROM {DATA_KEYS_TABLE}").fetchall()[0][0]
        event = key_rotation_event(
            actor=actor or getpass.getuser(),
            reason=reason,
            before=before,
            after=keyvault.fingerprint,
            data_keys=int(rewrapped),
            snapshot_id=latest_snapshot(con),
        )
        append_events(con, [event])
    finally:
        con.close()
    if keyvault.master_source.startswith("$"):
        target = home.keys / "master.key.new"
        target.touch(mode=0o600)
        target.write_text(new_key.hex() + "\n")
        console.print(
            f"new master key written to {target} (0600): set LEDGERLENS_MASTER_KEY to its content, "
            "then delete the file"
        )
    console.print(f"master key rotated: fingerprint {before} -> {keyvault.fingerprint}")


def _keyvault(con, home: Home):  # type: ignore[no-untyped-def]
    """The home's key vault, every key checked against the warehouse's key-check values."""
    from privacy.keyvault import KeyVaultError, open_keyvault

    try:
        return open_keyvault(con, home.keys)
    except KeyVaultError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def forget(
    subject_id: Annotated[str, typer.Argument(help="The wallet holder's user_id, e.g. U0000042.")],
    reason: Annotated[
        str, typer.Option(help="Recorded with the request.")
    ] = "data subject request (PIPL Art. 47 / GDPR Art. 17)",
    force: Annotated[
        bool, typer.Option(help="Record the request even for an id the warehouse does not know.")
    ] = False,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for a running pipeline to release the lock.")
    ] = 0.0,
) -> None:
    """Erase a data subject everywhere: shred their data key, remove or null their rows in the
    ledger, quarantine, minimised tables, marts and credit tables, staged and published files;
    revoke their credentials; record a keyed hash of the request. Counts what it did per place."""
    from privacy.erasure import (
        UnknownSubjectError,
        WarehouseBusyError,
        connect_with_wait,
        forget_completely,
    )

    home = Settings.from_env().home.ensure()
    if not home.warehouse.exists():
        raise _fail(f"no warehouse at {home.warehouse}: nothing to erase yet")
    try:
        con = connect_with_wait(home.warehouse, wait)
    except WarehouseBusyError as exc:
        raise _fail(str(exc)) from exc
    try:
        keyvault = _keyvault(con, home)
        receipt = forget_completely(
            con,
            keyvault,
            subject_id,
            reason=reason,
            actor="ledgerlens forget",
            force=force,
            home=home.root,
        )
    except UnknownSubjectError as exc:
        raise _fail(str(exc)) from exc
    finally:
        con.close()
    console.print(
        f"erased: request {receipt.subject_hash[:12]}… recorded at "
        f"{receipt.requested_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    if receipt.already_erased:
        console.print("repeat request (already in the register)")
    if not receipt.counts:
        console.print("nothing of this subject was stored (request recorded)")
    for place, count in sorted(receipt.counts.items()):
        console.print(f"  {place:<45} {count:>8,}")
    for path in receipt.unresolved_files:
        console.print(
            f"[yellow]warning:[/] {path} still contains the subject; remove it "
            "(the next run replaces it)"
        )
    console.print("Run `ledgerlens run` to restage the status list and rebuild the marts.")


credit_app = typer.Typer(
    help="Train and apply the credit scoring stack on any labelled table.", no_args_is_help=True
)
app.add_typer(credit_app, name="credit")


@credit_app.command("fit")
def credit_fit(
    table: Annotated[Path, typer.Option(help="Labelled table, .csv or .parquet.")],
    target: Annotated[str, typer.Option(help="Binary target column (0/1, true/false or text).")],
    out: Annotated[Path, typer.Option(help="Folder for the model, metrics.json, model card.")],
    positive: Annotated[
        str | None,
        typer.Option(help="Target value meaning 'bad' (default: the rarer class, said aloud)."),
    ] = None,
    id: Annotated[
        str | None, typer.Option("--id", help="Identifier column, never a feature.")
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option(
            help="Protected attribute (repeatable): never a feature; fairness and proxies "
            "are reported on the holdout."
        ),
    ] = None,
    cv: Annotated[int, typer.Option(help="K-fold cross-validation (0 to skip).")] = 5,
) -> None:
    """Train the additive scorecard (plus challenger and WoE logistic); print CV first, then the
    holdout, with AUC, Gini and KS; write the model card."""
    from credit.byod import fit_table, summary_lines

    if not table.exists():
        raise _fail(f"--table {table}: no such file")
    try:
        metrics = fit_table(
            table,
            target,
            positive=positive,
            id_col=id,
            out_dir=out,
            cv=cv or None,
            protected=list(protected or []),
        )
    except ValueError as exc:
        raise _fail(f"{table}: {exc}") from exc
    for line in summary_lines(metrics):
        console.print(line, soft_wrap=True)
    console.print(f"model, metrics.json and model_card.html written to {out}")


@credit_app.command("promote")
def credit_promote(
    version: Annotated[str, typer.Argument(help="Candidate version (see the model card).")],
    reason: Annotated[str, typer.Option(help="Why this candidate should score from now on.")],
    actor: Annotated[str, typer.Option(help="Who approves the promotion.")],
) -> None:
    """Make a trained candidate the champion that scores; the promotion is audited."""
    import duckdb

    from credit.registry import ModelRegistry
    from privacy.audit import append_event

    home = Settings.from_env().home.ensure()
    registry = ModelRegistry(home.models / "credit")
    try:
        record = registry.promote(version, reason, actor)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    con = duckdb.connect(str(home.warehouse))
    try:
        append_event(con, actor, "credit_model_promoted", version, record)
    finally:
        con.close()
    console.print(
        f"champion is now {version} (was {record['previous_champion'] or 'none'}); the next "
        "`ledgerlens run` scores with it and re-renders its model card"
    )


@credit_app.command("score")
def credit_score(
    model: Annotated[Path, typer.Option(help="Folder written by `ledgerlens credit fit`.")],
    table: Annotated[Path, typer.Option(help="Table to score, .csv or .parquet.")],
    out: Annotated[Path, typer.Option(help="Output file, .csv or .parquet.")],
) -> None:
    """Score every row with points, PD and up to 4 principal reasons."""
    from credit.byod import score_table

    for path, flag in ((model, "--model"), (table, "--table")):
        if not path.exists():
            raise _fail(f"{flag} {path}: no such file or folder")
    try:
        scored = score_table(model, table, out)
    except ValueError as exc:
        raise _fail(f"{table}: {exc}") from exc
    console.print(f"scored {len(scored):,} rows into {out}")


app.add_typer(insights_app, name="insights")

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A signed checkpoint kept outside the warehouse (default: the published "
            "out/dpo/audit_checkpoint.json, if any).",
        ),
    ] = None,
) -> None:
    """Recompute the audit log's hash chain and check its signed checkpoints; exit 1 naming the
    first event or checkpoint that fails (an edit, a deletion, a cut tail, a rewritten chain)."""
    from privacy.audit import audit_key_for_verification, read_witness, verify_audit
    from privacy.erasure import WarehouseBusyError, connect_with_wait
    from privacy.keyvault import KeyVaultError

    home = Settings.from_env().home
    if not home.warehouse.exists():
        raise _fail(f"no warehouse at {home.warehouse}: no audit log yet", code=2)
    published = home.out_for("dpo") / "audit_checkpoint.json"
    paths = checkpoint or ([published] if published.is_file() else [])
    try:
        witnesses = [read_witness(p) for p in paths]
    except ValueError as exc:
        raise _fail(str(exc), code=2) from exc
    try:
        con = connect_with_wait(home.warehouse, 30.0)
    except WarehouseBusyError as exc:
        raise _fail(str(exc)) from exc
    try:
        status = verify_audit(con, audit_key_for_verification(con, home.keys), witnesses)
    except KeyVaultError as exc:
        raise _fail(f"audit checkpoints cannot be verified: {exc}") from exc
    finally:
        con.close()
    if not status.ok:
        raise _fail(
            f"audit log broken: {status.message} (first failing event: seq "
            f"{status.first_bad_seq}; first failing checkpoint: {status.first_bad_checkpoint}; "
            f"{status.chain.events:,} events)"
        )
    cp = status.last_checkpoint
    signed = (
        f"{status.checkpoints} signed checkpoints, last at seq {cp.event_seq} ({cp.created_at}, "
        f"key {cp.key_id[:16]}), {status.unsigned_events} events since"
        if cp
        else "no signed checkpoint yet"
    )
    console.print(
        f"audit log intact: {status.chain.events:,} events, head {status.chain.head[:16]}…; "
        + signed
    )


he_app = typer.Typer(
    help="Encrypted scoring: an outside scorer computes scores on the holder's ciphertexts.",
    no_args_is_help=True,
)
app.add_typer(he_app, name="he")


def _he_dir() -> Path:
    return Settings.from_env().home.ensure().keys / "he"


def _he_call(step, *args, **kwargs):  # type: ignore[no-untyped-def]
    from privacy.he.errors import HEError

    try:
        return step(*args, **kwargs)
    except HEError as exc:
        raise _fail(str(exc), getattr(exc, "exit_code", 1)) from exc


@he_app.command("keygen")
def he_keygen(scheme: Annotated[str, typer.Option(help="bfv (default) or ckks.")] = "bfv") -> None:
    """Holder: create the secret key (keys/he/, 0600); it never leaves the holder."""
    from privacy.he.keys import keygen

    key = _he_call(keygen, _he_dir(), scheme)
    console.print(f"{scheme} key {getattr(key, 'key_id', '')} written under {_he_dir()}")


@he_app.command("encrypt")
def he_encrypt(
    applicants: Annotated[Path, typer.Option(help="Applicants' features, .parquet or .csv.")],
    model: Annotated[Path, typer.Option(help="Model folder (its public bin edges are used).")],
    out: Annotated[Path, typer.Option(help="Folder for ciphertexts + public context.")],
    scheme: Annotated[str, typer.Option(help="bfv (default) or ckks.")] = "bfv",
    id_column: Annotated[str | None, typer.Option(help="Applicant id column.")] = None,
) -> None:
    """Holder: one-hot, pack and encrypt the applicants; the context sent has no secret key."""
    from privacy.he.rounds import encrypt_applicants

    manifest = _he_call(
        encrypt_applicants, applicants, model, out, _he_dir(), scheme=scheme, id_column=id_column
    )
    console.print(f"encrypted applicants written to {out} ({manifest.name})")


@he_app.command("score")
def he_score(
    points: Annotated[Path, typer.Option(help="The scorer's points table (or model folder).")],
    in_: Annotated[Path, typer.Option("--in", help="Folder written by `he encrypt`.")],
    out: Annotated[Path, typer.Option(help="Folder for the encrypted scores.")],
    holder: Annotated[
        str, typer.Option(help="Who sent the folder: the party whose query budget is charged.")
    ],
    budget: Annotated[
        int, typer.Option(help="Applicants (ciphertext capacity) per holder per period.")
    ] = 250_000,
    period: Annotated[
        str, typer.Option(help="Budget period (UTC): day, week, month, quarter or year.")
    ] = "month",
    budget_ledger: Annotated[
        Path | None,
        typer.Option(
            help="Hash-chained budget ledger (default: query_budget.jsonl beside the points)."
        ),
    ] = None,
) -> None:
    """Scorer: charge the holder's query budget (against model extraction), then multiply and add
    with plaintext integer points; refuses any secret key. Exits 3 when the budget is spent."""
    import json

    from privacy.he.budget import QueryBudget
    from privacy.he.rounds import score_round

    ledger = budget_ledger or (points if points.is_dir() else points.parent) / "query_budget.jsonl"
    quota = _he_call(QueryBudget, ledger, holder, budget, period)
    manifest = _he_call(score_round, points, in_, out, budget=quota)
    receipt = json.loads(manifest.read_text())["budget"]
    again = " (same ciphertexts as before: not charged again)" if receipt["repeat"] else ""
    left = receipt["limit"] - receipt["spent_after"]
    console.print(
        f"encrypted scores written to {out}; {holder!r} has {left:,} of {budget:,} left this "
        f"{period}{again}"
    )


@he_app.command("decrypt")
def he_decrypt(
    in_: Annotated[Path, typer.Option("--in", help="Folder written by `he score`.")],
    out: Annotated[Path, typer.Option(help="Released scores, .parquet or .csv.")],
) -> None:
    """Holder: decrypt, check integrality and range, clip and release integer scores."""
    from privacy.he.rounds import decrypt_round

    scores = _he_call(decrypt_round, in_, out, _he_dir())
    console.print(f"{len(scores):,} scores released to {out}")


@he_app.command("bench")
def he_bench(
    applicants: Annotated[int, typer.Option(help="Number of synthetic applicants.")] = 4096,
    scheme: Annotated[str, typer.Option(help="bfv or ckks.")] = "bfv",
    columns: Annotated[int, typer.Option(help="One-hot columns of the synthetic model.")] = 60,
) -> None:
    """One synthetic round; the last line is one JSON object with the measured figures."""
    import json

    from privacy.he.rounds import bench

    print(json.dumps(_he_call(bench, applicants, scheme, columns)))


def _print_summary(home: Home, outcome: RunOutcome, seconds: float) -> None:
    from pipelines.runner import summary

    facts = summary(home)
    files = Table(title="landing files (everything ingested into this warehouse)")
    for col in ("entity", "status", "files", "rows read", "rows loaded", "rows quarantined"):
        files.add_column(col, justify="left" if col in ("entity", "status") else "right")
    for row in facts["files"]:
        files.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(files)
    for error in facts["rejected"]:
        console.print(f"[yellow]rejected:[/] {error}", soft_wrap=True)
    outputs = Table(title="outputs")
    outputs.add_column("where")
    outputs.add_column("rows / bytes", justify="right")
    for where, size in facts["outputs"]:
        outputs.add_row(where, f"{size:,}")
    console.print(outputs)
    for stage in outcome.skipped:
        console.print(f"[yellow]skipped:[/] {stage}", soft_wrap=True)
    for failure in outcome.warnings:
        console.print(f"[yellow]check failed (non-blocking):[/] {failure}", soft_wrap=True)
    console.print(f"warehouse: {home.warehouse}\nwall time: {seconds:.1f}s")


if __name__ == "__main__":
    app()
