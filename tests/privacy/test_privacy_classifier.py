"""Classifier precision/recall against ground truth, tricky look-alikes, detectors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
from privacy_testdata import (
    ENTITY_TABLES,
    LEDGER_TRUTH,
    LINEAGE,
    faker_table,
    tricky_table,
)

from privacy.classifier import (
    INVENTORY_TABLE,
    classify_column,
    classify_tables,
    read_inventory,
    write_inventory,
)
from privacy.detectors import DETECTOR_BY_NAME, normalise_phone
from privacy.entities import ENTITY_TYPES


def _precision_recall(pairs: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for truth, pred in pairs:
        if truth == pred:
            tp[truth] += 1
        else:
            fp[pred] += 1
            fn[truth] += 1
    out = {}
    for e in set(tp) | set(fp) | set(fn):
        p = tp[e] / (tp[e] + fp[e]) if tp[e] + fp[e] else 1.0
        r = tp[e] / (tp[e] + fn[e]) if tp[e] + fn[e] else 1.0
        out[e] = (p, r)
    return out


def _classify_dict(name: str, cols: dict[str, list[object]]) -> dict[str, str]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA t")
    con.register("src", pa.table(cols))
    con.execute(f"CREATE TABLE t.{name} AS SELECT * FROM src")
    return {r.column: r.entity_type for r in classify_tables(con, schema="t")}


def test_precision_recall_per_entity_type(source_db: Path) -> None:
    con = duckdb.connect(str(source_db), read_only=True)
    rows = classify_tables(con, ENTITY_TABLES)
    pairs: list[tuple[str, str]] = []
    got = {(r.table, r.column): r.entity_type for r in rows}
    for (table, column), truth in LEDGER_TRUTH.items():
        pairs.append((truth, got[(table, column)]))
    for table in ENTITY_TABLES:
        for column in LINEAGE:
            pairs.append(("lineage", got[(table, column)]))
    cols, truth = faker_table()
    pred = _classify_dict("people", cols)
    pairs += [(truth[c], pred[c]) for c in truth]
    tcols, ttruth = tricky_table()
    tpred = _classify_dict("tricky", tcols)
    pairs += [(ttruth[c], tpred[c]) for c in ttruth]
    wrong = [(t, p) for t, p in pairs if t != p]
    assert not wrong, wrong
    for entity, (p, r) in _precision_recall(pairs).items():
        assert p >= 0.99 and r >= 0.99, (entity, p, r)
    # every column of every table has a known type, graded and with evidence
    for r in rows:
        assert r.entity_type in ENTITY_TYPES
        assert r.evidence and 0 < r.confidence <= 1
        assert r.gbt_grade in ("core", "important", "general")
        assert r.sensitivity_level in ("L1", "L2", "L3", "L4")


def test_tricky_negatives_are_not_identifiers() -> None:
    cols, _ = tricky_table()
    pred = _classify_dict("tricky", cols)
    assert pred["order_no"] != "mobile_number"
    assert pred["reference"] != "mobile_number"
    assert pred["amount"] not in ("resident_id", "bank_card")
    for c in ("payload_hash", "tx_hash", "block_hash"):
        assert pred[c] != "blockchain_address"


def test_all_null_column_is_unknown_and_reported() -> None:
    row = classify_column("t", "mystery", "VARCHAR", [None] * 50)
    assert row.entity_type == "unknown"
    assert "null" in row.evidence


def test_an_all_null_column_with_a_telling_name_keeps_that_meaning_at_low_confidence() -> None:
    # A ledger that sends no phone numbers still has the contract's mobile column (all NULL):
    # it is minimised as a phone column would be (dropped for credit), never kept by mistake.
    row = classify_column("users", "mobile", "VARCHAR", [None] * 50)
    assert row.entity_type == "mobile_number" and row.confidence == 0.5
    assert "classified by its name" in row.evidence


def test_checksum_beats_misleading_name() -> None:
    cols, _ = faker_table(200)
    row = classify_column("t", "customer_ref", "VARCHAR", cols["id_card_no"])
    assert row.entity_type == "resident_id"
    assert "validated" in row.evidence


def test_sensitive_types_graded_higher() -> None:
    for name in ("resident_id", "bank_card", "blockchain_address"):
        et = ENTITY_TYPES[name]
        assert et.pipl_sensitive and et.gbt_grade == "important" and et.level == "L4"
    assert ENTITY_TYPES["asset_code"].level == "L1"


def test_inventory_roundtrip(source_db: Path, tmp_path: Path) -> None:
    src = duckdb.connect(str(source_db), read_only=True)
    rows = classify_tables(src, ["users"])
    con = duckdb.connect(str(tmp_path / "inv.duckdb"))
    assert write_inventory(con, rows) == len(rows)
    back = read_inventory(con)
    assert back == rows
    cols = {r[0] for r in con.execute(f"DESCRIBE {INVENTORY_TABLE}").fetchall()}
    assert {
        "table",
        "column",
        "entity_type",
        "confidence",
        "evidence",
        "pipl_category",
        "pipl_sensitive",
        "gbt_grade",
        "sensitivity_level",
        "gdpr_art9",
        "retention",
    } <= cols


def test_value_detectors() -> None:
    rid = DETECTOR_BY_NAME["resident_id"].match
    assert rid("11010519491231002X") and rid("11010519491231002x")
    assert not rid("110105194912310021")
    card = DETECTOR_BY_NAME["bank_card"].match
    assert card("6212 2602 0000 0000 004".replace(" ", "")[:19]) in (True, False)
    assert card("4111111111111111") and not card("4111111111111112")
    eth = DETECTOR_BY_NAME["chain_address"].match
    assert eth("0x52908400098527886E0F7030069857D2E4169EE7")
    assert not eth("0x52908400098527886e0f7030069857d2e4169ee7")  # unchecksummed: not validated
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    assert normalise_phone("008613812345678") == "13812345678"
    assert normalise_phone("+44 7637 139944") == "447637139944"
    assert normalise_phone("12345") is None
