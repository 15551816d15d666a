"""The whole asset graph on a small generated ledger in a temporary LEDGERLENS_HOME."""

from __future__ import annotations

import hashlib

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from ledger.home import Home
from ledger.synthetic import GeneratorConfig, generate
from pipelines.runner import RunOutcome, run_pipeline, summary
from pipelines.settings import Settings

pytestmark = pytest.mark.integration

# A day after the generated window, so no real day is overwritten.
BROKEN_FILE = "2026-12-31.parquet"


def _run(home: Home) -> RunOutcome:
    """One ``ledgerlens run`` of the home, in-process, on the test's Dagster instance."""
    with dg.DagsterInstance.get() as instance:
        return run_pipeline(Settings.for_home(home.root), instance)


def materialise_all(home: Home) -> RunOutcome:
    outcome = _run(home)
    assert outcome.ok, "\n".join(outcome.failures)
    return outcome


def _out_listing(home: Home) -> dict[str, str]:
    return {
        str(p.relative_to(home.out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.out.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = Home(tmp_path_factory.mktemp("home")).ensure()
    generate(home.landing, GeneratorConfig(users=1000, days=150, seed=5, dirty_rate=0.01))
    (home.landing / "transactions" / BROKEN_FILE).write_bytes(b"PAR1 truncated")
    materialise_all(home)
    return home


def _q(home: Home, sql: str, params: list[object] | None = None) -> list[tuple]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _restored(home: Home, relpath: str) -> pq.ParquetFile:
    """A landed file back from the encrypted archive (landing keeps only what was not loaded)."""
    from privacy.archive import restore_archived
    from privacy.keyvault import open_keyvault

    con = duckdb.connect(str(home.warehouse))
    try:
        dest = home.root / "restored" / relpath
        restore_archived(con, open_keyvault(con, home.keys), home.archive, relpath, dest)
    finally:
        con.close()
    return pq.ParquetFile(dest)


def _vaulted_mobile(home: Home) -> str:
    from privacy.keyvault import open_keyvault
    from privacy.vault import PiiVault

    con = duckdb.connect(str(home.warehouse))
    try:
        records = PiiVault(con, open_keyvault(con, home.keys)).get_many()
    finally:
        con.close()
    return next(str(r["mobile"]) for r in records.values() if r.get("mobile"))


def test_identifiers_rest_only_in_the_vault_and_landed_files_are_archived(
    built_home: Home,
) -> None:
    from privacy.at_rest import plaintext_findings

    con = duckdb.connect(str(built_home.warehouse), read_only=True)
    try:
        assert set(plaintext_findings(con).values()) == {0}
    finally:
        con.close()
    mobile = _vaulted_mobile(built_home)
    assert _q(built_home, "SELECT count(*) FROM ledger.users WHERE mobile = ?", [mobile]) == [(0,)]
    # Only the rejected file stays in landing; every loaded one is in the archive, encrypted.
    left = sorted(str(p.relative_to(built_home.landing)) for p in built_home.landing.rglob("*.*"))
    assert left == [f"transactions/{BROKEN_FILE}"]
    [(archived,)] = _q(
        built_home, "SELECT count(*) FROM ledger.files WHERE archived_at IS NOT NULL"
    )
    assert archived == len(list(built_home.archive.rglob("*.enc"))) >= 155
    assert (built_home.warehouse.stat().st_mode & 0o077) == 0


def test_every_landed_row_is_loaded_or_quarantined(built_home: Home) -> None:
    [(read, loaded, quarantined)] = _q(
        built_home,
        "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined) FROM ledger.files "
        "WHERE status = 'loaded'",
    )
    tables = _q(
        built_home,
        "SELECT (SELECT count(*) FROM ledger.transactions) + (SELECT count(*) FROM ledger.users)"
        " + (SELECT count(*) FROM ledger.wallets) + (SELECT count(*) FROM ledger.merchants)"
        " + (SELECT count(*) FROM ledger.prices) + (SELECT count(*) FROM ledger.loans),"
        " (SELECT count(*) FROM ledger.quarantine)",
    )[0]
    assert read == loaded + quarantined
    assert (loaded, quarantined) == tables


def test_quarantine_matches_the_planted_defects(built_home: Home) -> None:
    truth = pq.read_table(built_home.truth / "dirty_rows.parquet").to_pylist()
    got = {
        (f, r): rules
        for f, r, rules in _q(
            built_home, "SELECT source_file, source_row, failed_rules FROM ledger.quarantine"
        )
    }
    assert len(got) == len(truth)
    for planted in truth:
        assert planted["kind"] in got[(planted["file"], planted["row"])]


def test_the_broken_file_is_rejected_and_named(built_home: Home) -> None:
    rows = _q(built_home, "SELECT file_path, error FROM ledger.files WHERE status = 'rejected'")
    assert [r[0] for r in rows] == [f"transactions/{BROKEN_FILE}"]
    assert BROKEN_FILE in rows[0][1]


def test_marts_are_built_from_the_ledger(built_home: Home) -> None:
    [(accounts, users)] = _q(
        built_home,
        "SELECT (SELECT count(*) FROM marts.accounts), (SELECT count(*) FROM ledger.users)",
    )
    assert accounts == users == 1000
    [(days, tx_in_mart, tx)] = _q(
        built_home,
        "SELECT count(DISTINCT activity_date), sum(tx_count),"
        " (SELECT count(*) FROM ledger.transactions) FROM marts.daily_activity",
    )
    assert days == 150 and tx_in_mart == tx
    outcomes = dict(_q(built_home, "SELECT outcome, count(*) FROM marts.loans GROUP BY 1"))
    assert set(outcomes) <= {"on_time", "late_30", "default", "open"} and sum(outcomes.values()) > 0
    # Staging selects no personal data: no PII column survives into the marts.
    cols = {
        c
        for (c,) in _q(
            built_home,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts'",
        )
    }
    assert not cols & {"full_name", "mobile", "email", "resident_id", "ip_address"}
    # The credit events carry a device column for the features: credit-purpose pseudonyms only.
    raw_devices = {
        d for (d,) in _q(built_home, "SELECT DISTINCT device_id FROM ledger.transactions")
    }
    mart_devices = {
        d for (d,) in _q(built_home, "SELECT DISTINCT device_id FROM marts.credit_events")
    }
    assert len(mart_devices) > 10 and not (mart_devices - {None}) & raw_devices


def test_every_application_is_scored_with_reasons_and_priced(built_home: Home) -> None:
    [(loans, scored, lo, hi, with_reason)] = _q(
        built_home,
        "SELECT (SELECT count(*) FROM marts.loans), count(*), min(score), max(score),"
        " count(reason_1) FROM credit.scores",
    )
    assert scored == loans > 100
    assert 300 <= lo <= hi <= 850 and with_reason > 0
    # The integer points table reproduces the score exactly (before clipping to 300-850).
    assert _q(
        built_home,
        "SELECT count(*) FROM credit.scores WHERE score <> least(850, greatest(300, raw_points))",
    ) == [(0,)]
    # Pricing is monotone in risk: for the same term, a higher PD never gets a lower APR.
    priced = _q(built_home, "SELECT term_days, apr FROM credit.pricing ORDER BY term_days, pd, apr")
    assert all(
        b[1] >= a[1] - 1e-12 for a, b in zip(priced, priced[1:], strict=False) if a[0] == b[0]
    )
    [(merchants, priced)] = _q(
        built_home,
        "SELECT (SELECT count(*) FROM marts.merchants), (SELECT count(*) FROM credit.merchant_pricing)",
    )
    assert merchants == priced
    risk = built_home.out_for("risk")
    assert {"scores.parquet", "pricing.parquet", "merchant_pricing.parquet"} <= {
        p.name for p in risk.iterdir()
    }
    card = (risk / "model_card.html").read_text()
    assert "<script src" not in card and "https://" not in card and "<svg" in card
    points = pq.read_table(risk / "model" / "points_table.parquet").to_pandas()
    assert points["points"].dtype.kind == "i" and points["feature"].nunique() > 3
    manifest = (built_home.out / "MANIFEST.txt").read_text()
    assert "risk/scores.parquet" in manifest and "risk/model_card.html" in manifest
    # Everything staged was published, and every file that left is in the manifest.
    assert not any(built_home.staging.rglob("*.*"))
    listed = {line.split()[-1] for line in manifest.splitlines()}
    assert set(_out_listing(built_home)) - {"MANIFEST.txt", "MANIFEST.json"} == listed


def test_a_second_run_changes_nothing(built_home: Home) -> None:
    before = _q(built_home, "SELECT count(*) FROM ledger.transactions")
    materialise_all(built_home)
    assert _q(built_home, "SELECT count(*) FROM ledger.transactions") == before
    statuses = _q(built_home, "SELECT count(*) FROM ledger.files WHERE status = 'loaded'")
    assert statuses == _q(
        built_home, "SELECT count(DISTINCT sha256) FROM ledger.files WHERE status = 'loaded'"
    )


def test_sensor_registers_new_day_files_as_partitions(built_home: Home) -> None:
    from assets.resources import ledger_home_resource
    from pipelines.sensors import landing_sensor

    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance, resources={"ledger_home": ledger_home_resource(built_home)}
        ) as context,
    ):
        result = landing_sensor(context)
        days = sorted(p.name for p in (built_home.landing / "transactions").iterdir())
        assert [r.partition_key for r in result.run_requests if r.partition_key] == days
        assert result.dynamic_partitions_requests[0].partition_keys == days


def test_every_ledger_column_is_classified_and_dbt_reads_pseudonyms(built_home: Home) -> None:
    inventory = dict(
        ((t, c), e)
        for t, c, e in _q(
            built_home, 'SELECT "table", "column", entity_type FROM governance.column_inventory'
        )
    )
    assert inventory[("users", "resident_id")] == "resident_id"
    assert inventory[("users", "mobile")] == "mobile_number"
    assert inventory[("wallets", "address")] == "blockchain_address"
    raw_ids = {u for (u,) in _q(built_home, "SELECT user_id FROM ledger.users")}
    mart_ids = {u for (u,) in _q(built_home, "SELECT user_id FROM marts.accounts")}
    assert len(mart_ids) == len(raw_ids) and not raw_ids & mart_ids
    assert (built_home.out_for("dpo") / "column_inventory.csv").exists()


def test_the_gate_blocks_a_staged_identifier_and_leaves_out_unchanged(built_home: Home) -> None:
    mobile = _vaulted_mobile(built_home)
    digits = "".join(ch for ch in mobile if ch.isdigit())[-11:]
    before = _out_listing(built_home)
    # A product of an earlier run, staged for the risk team, carrying a phone number.
    planted = built_home.staging / "planted-run" / "risk" / "scores.csv"
    planted.parent.mkdir(parents=True)
    planted.write_text(f"applicant,phone\n1,{digits[:3]}-{digits[3:7]}-{digits[7:]}\n")
    outcome = _run(built_home)
    assert not outcome.ok
    message = " ".join(outcome.failures)
    assert "publish gate blocked" in message and "risk/scores.csv" in message
    assert digits not in message and mobile not in message
    assert _out_listing(built_home) == before  # nothing published, nothing removed
    assert not planted.exists()  # the blocked staging is discarded, never published later
    materialise_all(built_home)  # clean again once the file is gone


def test_forgotten_subject_leaves_minimised_tables_and_marts_for_good(built_home: Home) -> None:
    from privacy.erasure import forget
    from privacy.keyvault import open_keyvault

    [(subject,)] = _q(
        built_home,
        "SELECT user_id FROM ledger.transactions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )
    before = _q(built_home, "SELECT count(*) FROM marts.accounts")[0][0]
    con = duckdb.connect(str(built_home.warehouse))
    try:
        forget(con, open_keyvault(con, built_home.keys), subject, reason="test")
    finally:
        con.close()
    # Re-landing must not bring the subject back: their user row lands again, in a new file.
    import pyarrow.compute as pc

    [(users_file,)] = _q(
        built_home,
        "SELECT file_path FROM ledger.files WHERE entity = 'users' AND status = 'loaded'",
    )
    users = _restored(built_home, users_file).read()
    again = users.filter(pc.equal(users["user_id"], subject))
    assert again.num_rows == 1
    pq.write_table(again, built_home.landing / "users" / "relanded.parquet")
    materialise_all(built_home)
    assert _q(built_home, "SELECT count(*) FROM marts.accounts")[0][0] == before - 1
    # ... refused at ingest (quarantined as erased_subject, nothing of it kept), out of every
    # purpose and of the vault.
    assert _q(built_home, "SELECT count(*) FROM ledger.users WHERE user_id = ?", [subject]) == [
        (0,)
    ]
    [(refused,)] = _q(
        built_home,
        "SELECT count(*) FROM ledger.quarantine WHERE list_contains(failed_rules, 'erased_subject') "
        "AND raw_sealed IS NULL AND raw_record IS NULL AND subject_id IS NULL",
    )
    assert refused >= 1
    assert _q(built_home, "SELECT count(*) FROM minimised.credit_users")[0][0] == before - 1
    assert _q(
        built_home, "SELECT count(*) FROM vault.subjects WHERE subject_id = ?", [subject]
    ) == [(0,)]
    assert _q(built_home, "SELECT count(*) FROM vault.erasure_requests") == [(1,)]


def test_run_summary_counts_rows_per_entity_and_lists_outputs(built_home: Home) -> None:
    facts = summary(built_home)
    by_entity = {
        (e, status): (files, read, loaded, q)
        for e, status, files, read, loaded, q in facts["files"]
    }
    files, read, loaded, quarantined = by_entity[("transactions", "loaded")]
    assert files == 150 and read == loaded + quarantined and quarantined > 0
    assert by_entity[("transactions", "rejected")][0] == 1
    assert {"users", "wallets", "merchants", "prices", "loans"} <= {e for e, _ in by_entity}
    assert facts["rejected"] and BROKEN_FILE in facts["rejected"][0]
    outputs = dict(facts["outputs"])
    assert outputs["credit.scores"] > 0 and "out/risk/model_card.html" in outputs


def _land_next_day(home: Home) -> str:
    """A new day file after the last generated one: the last day's rows one day later."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc

    days = sorted(
        p
        for (p,) in _q(
            home,
            "SELECT file_path FROM ledger.files WHERE entity = 'transactions' AND status = 'loaded' "
            "AND file_path LIKE 'transactions/2026-0%'",
        )
    )
    last = days[-1].split("/")[-1]
    table = _restored(home, days[-1]).read()
    shifted = pc.add(
        table["occurred_at"].cast(pa.timestamp("us", "UTC")),
        pa.scalar(86_400_000_000, pa.duration("us")),
    )
    table = table.set_column(
        table.schema.get_field_index("occurred_at"),
        "occurred_at",
        shifted.cast(table["occurred_at"].type),
    )
    table = table.set_column(
        table.schema.get_field_index("txn_id"),
        "txn_id",
        pc.binary_join_element_wise(table["txn_id"], "N", ""),
    )
    name = f"{dt.date.fromisoformat(last.removesuffix('.parquet')) + dt.timedelta(days=1)}.parquet"
    pq.write_table(table, home.landing / "transactions" / name)
    return name


def test_a_new_day_file_flows_through_sensor_and_automation_to_fresh_scores(
    built_home: Home,
) -> None:
    """Under `make ui` nobody presses a button: the landing sensor ingests the file and the
    automation conditions rebuild everything downstream, up to the publish gate."""
    from assets.resources import ledger_home_resource
    from pipelines.definitions import build_definitions
    from pipelines.sensors import landing_sensor

    scores = dg.AssetKey(["credit", "scores"])
    defs = build_definitions(Settings.for_home(built_home.root))
    resources = {"ledger_home": ledger_home_resource(built_home)}
    with dg.DagsterInstance.get() as instance:
        before = instance.get_latest_materialization_event(scores)
        assert before is not None
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            quiet = landing_sensor(context)
        assert quiet.run_requests == []  # nothing landed since the last run: nothing requested
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        name = _land_next_day(built_home)
        with dg.build_sensor_context(
            instance=instance, resources=resources, cursor=quiet.cursor
        ) as context:
            sensed = landing_sensor(context)
        assert [r.partition_key for r in sensed.run_requests] == [name]
        instance.add_dynamic_partitions("landing_files", [name])
        ingest = defs.resolve_job_def("ingest_transactions")
        assert ingest.execute_in_process(partition_key=name, instance=instance).success
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        requested = {
            key
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if tick.get_num_requested(key)
        }
        assert {scores, dg.AssetKey(["governance", "release_manifest"])} <= requested
        assert dg.AssetKey(["marts", "credit_events"]) in requested
        job = defs.resolve_job_def("ledgerlens")
        assert job.execute_in_process(asset_selection=sorted(requested), instance=instance).success
        after = instance.get_latest_materialization_event(scores)
        assert after is not None and after.timestamp > before.timestamp
        settled = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=tick.cursor
        )
        assert settled.total_requested == 0
    [(loaded,)] = _q(
        built_home,
        "SELECT count(*) FROM ledger.transactions WHERE _source_file LIKE ?",
        [f"%{name}"],
    )
    assert loaded > 0
