"""``ledgerlens insights …``: the DP report catalogue, releases through the publish gate, budgets
and the privacy-loss ledger.

Exit codes: 0 done; 1 the gate blocked a release, the ledger does not verify, the warehouse or
key vault is not usable, or the data's ledger snapshot has no committed Merkle root to attest the
release against (nothing charged); 2 a bad request (unknown report or buyer, an invalid
catalogue, a period that is not ``YYYY-MM`` / ``YYYY-Qn``, a missing insights column, no budget
left), nothing charged.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from pipelines.settings import Settings

insights_app = typer.Typer(
    help="Differentially private insight reports for data buyers, and their privacy budgets.",
    no_args_is_help=True,
)
ledger_app = typer.Typer(help="The hash-chained privacy-loss ledger.", no_args_is_help=True)
insights_app.add_typer(ledger_app, name="ledger")

CatalogueOption = Annotated[
    Path | None,
    typer.Option(help="Report catalogue YAML (default: the shipped privacy/dp/catalogue.yaml)."),
]


def _exit(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _catalogue(path: Path | None):  # type: ignore[no-untyped-def]
    from privacy.dp.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue(path)
    except CatalogueError as exc:
        raise _exit(str(exc), 2) from None


def _warehouse() -> Path:
    home = Settings.from_env().home
    if not home.warehouse.exists():
        raise _exit(f"no warehouse at {home.warehouse}: run `ledgerlens run` first", 1)
    return home.warehouse


@insights_app.command("list")
def list_(catalogue: CatalogueOption = None) -> None:
    """The catalogue's reports: id first, then rho per release and the title."""
    from privacy.dp.commands import list_reports

    for r in list_reports(_catalogue(catalogue)):
        typer.echo(f"{r.id}\trho={r.rho:g}\t{r.title}")


@insights_app.command("release")
def release(
    report: Annotated[str, typer.Argument(help="Report id (see `ledgerlens insights list`).")],
    buyer: Annotated[str, typer.Option(help="Registered buyer id.")],
    period: Annotated[
        str | None,
        typer.Option(help="Dataset period YYYY-MM or YYYY-Qn (default: the latest month)."),
    ] = None,
    catalogue: CatalogueOption = None,
) -> None:
    """Release REPORT for a buyer: charged to the ledger, attested (signed over the manifest, the
    ledger snapshot's Merkle root, rho and the ledger entry), then published through the gate
    into out/buyers/<buyer>/<report>/<release id>/ only if the leak guard passes."""
    from privacy.dp.attestation import ReleaseAttestationError, issuer_from_vault
    from privacy.dp.base import latest_period
    from privacy.dp.commands import REFUSALS, SELECTION_KEY_NAME, attested_release
    from privacy.dp.ledger import connect_writer, warehouse_lock
    from privacy.dp.outputs import write_release
    from privacy.keyvault import KeyVaultError, open_keyvault
    from privacy.leakguard import scan_outputs
    from privacy.publish import discard, publish
    from zk.signatures import write_issuer_public_key

    cat = _catalogue(catalogue)
    home = Settings.from_env().home
    warehouse = _warehouse()
    home.ensure()
    actor = "ledgerlens insights release"
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
            try:
                keyvault = open_keyvault(con, home.keys)
            except KeyVaultError as exc:
                raise _exit(str(exc), 1) from None
            chosen = period or latest_period(con)
            if chosen is None:
                raise _exit("no insights-purpose transactions: nothing to release", 1)
            issuer = issuer_from_vault(keyvault)
            try:
                rel, attester = attested_release(
                    con,
                    cat,
                    report,
                    buyer,
                    chosen,
                    keyvault.key(SELECTION_KEY_NAME),
                    issuer,
                    actor=actor,
                )
            except ReleaseAttestationError as exc:  # no committed snapshot root: nothing charged
                raise _exit(" ".join(str(exc).split()), 1) from None
            except REFUSALS as exc:
                raise _exit(" ".join(str(exc).split()), 2) from None
            run_id = f"insights-{uuid.uuid4().hex[:16]}"
            folder = write_release(rel, home.staging / run_id / "buyers", attester)
            write_issuer_public_key(home.staging / run_id / "issuer" / "issuer_key.json", issuer)
            guard = scan_outputs(con, keyvault, home.staging, [])
            if not guard.ok:
                discard(home.staging)
                from privacy.audit import append_event

                append_event(
                    con,
                    actor,
                    "insights.release_blocked",
                    f"{buyer}/{report}/{chosen}",
                    {"release_id": rel.release_id, "findings": len(guard.findings)},
                )
                first = guard.findings[0] if guard.findings else guard.unreadable[0]
                raise _exit(
                    f"the publish gate blocked release {rel.release_id}; out/ is unchanged: "
                    f"{first}",
                    1,
                )
        finally:
            con.close()
    receipt = publish(home.staging, home.out, snapshot_id=rel.snapshot_id)
    published = home.out / folder.relative_to(home.staging / run_id)
    state = "charged" if rel.charged else "already released: served from the store, not charged"
    typer.echo(
        f"{rel.release_id} {state}: rho={rel.entry.rho:g} (epsilon={rel.entry.epsilon:.3f}, "
        f"delta={rel.entry.delta:g}), ledger seq {rel.entry.seq}; published "
        f"{len(receipt.files)} file(s) to {published}; attested over ledger snapshot "
        f"{attester.snapshot_id} (check: ledgerlens verify {published / 'attestation.json'})",
    )


@insights_app.command("budget")
def budget(
    buyer: Annotated[
        str | None, typer.Option(help="Only this buyer (and the global line).")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="Only this period (YYYY-MM / YYYY-Qn).")
    ] = None,
    catalogue: CatalogueOption = None,
) -> None:
    """Budget, spent and remaining rho per dataset period: per buyer and for all buyers together."""
    from privacy.dp.commands import budget as budget_of
    from privacy.dp.release import ReleaseRequestError

    cat = _catalogue(catalogue)
    try:
        lines = budget_of(_warehouse(), buyer, period, catalogue=cat)
    except ReleaseRequestError as exc:
        raise _exit(str(exc), 2) from None
    if not lines:
        typer.echo("no releases charged yet: every budget is untouched")
    for b in lines:
        typer.echo(
            f"{b.period}\t{b.scope}\tbudget={b.budget_rho:g}\tspent={b.spent_rho:g}\t"
            f"remaining={b.remaining_rho:g}"
        )


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute the hash chain; exit 1 naming the first edited, deleted or reordered entry."""
    from privacy.dp.commands import verify

    status = verify(_warehouse())
    if not status.ok:
        where = f"seq {status.first_bad_seq}" if status.first_bad_seq is not None else "the store"
        release = f" (release {status.first_bad_release})" if status.first_bad_release else ""
        raise _exit(f"privacy-loss ledger broken at {where}{release}: {status.reason}", 1)
    typer.echo(f"privacy-loss ledger verifies: {status.entries} entries, chain intact")
