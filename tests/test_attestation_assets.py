"""The attestation assets over a tiny hand-made warehouse: snapshot roots, score credentials,
the publish gate's file side and the offline verifier, end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.attestations import (
    ISSUER_KEY_ASSET,
    SCORE_CREDENTIALS_KEY,
    SNAPSHOT_COMMITMENT_KEY,
    encode_ahead,
    encode_rows,
    issuer_key,
    score_credentials,
    snapshot_commitment,
)
from assets.resources import ledger_home_resource
from ledger.home import Home
from ledger.ingest import ensure_tables
from privacy.audit import verify_chain
from privacy.keyvault import KeyMissingError
from privacy.leakguard import NeedleSet, scan_paths
from privacy.publish import discard, publish
from zk.envelope import mb_decode, mb_encode, read_document, write_document
from zk.merkle import encode_row, merkle_root, number_text
from zk.presentation import prove_threshold
from zk.verify import verify_file

ASSETS = [issuer_key, snapshot_commitment, score_credentials]
P1, P2 = "a1" * 16, "b2" * 16
V1, V2 = "0f1e2d3c4b5a6978", "8796a5b4c3d2e1f0"
SCORES = [("L0000001", P1, 712, V1), ("L0000002", P2, 455, V1), ("L0000003", P1, 640, V1)]
USERS = ("U0000001", "U0000002")
NONCE, AUDIENCE = "8c1d6f0e2b7a4953", "did:web:lender.example"

# (snapshot, created_at, file, row, txn_id, occurred_at, user, type, direction, asset, amount,
#  fee, counterparty, merchant, loan)
TRANSACTIONS = [
    ("snap-b", "2026-01-06", "transactions/2026-01-05.csv", 1, "tx0003", "2026-01-05 08:00:00",
     USERS[0], "loan_repayment", "out", "USDT", 1e-7, 0.0, None, None, "L0000001"),
    ("snap-a", "2026-01-05", "transactions/2026-01-04.csv", 2, "tx0001",
     "2026-01-04 10:00:00.25", USERS[1], "merchant_payment", "out", "USDC", 100.0, 0.1, None,
     "M001", None),
    ("snap-a", "2026-01-05", "transactions/2026-01-04.csv", 1, "tx0002", "2026-01-04 09:30:00",
     USERS[0], "top_up", "in", "USDT", 12.5, 0.0, "0x52908400098527886e0f7030069857d2e4169ee7",
     None, None),
]  # fmt: skip
# The leaves written out by hand: load order (snapshot, file, row), not txn_id order; the holder
# is the credit-purpose pseudonym (never the ledger's user id); the counterparty address is not
# committed.
EXPECTED_LEAVES = [
    f'["transactions","tx0002","2026-01-04T09:30:00.000000Z","{P1}","top_up","in","USDT",'
    '"12.5","0",null,null]'.encode(),
    f'["transactions","tx0001","2026-01-04T10:00:00.250000Z","{P2}","merchant_payment",'
    '"out","USDC","100","0.1","M001",null]'.encode(),
    f'["transactions","tx0003","2026-01-05T08:00:00.000000Z","{P1}","loan_repayment","out",'
    '"USDT","1e-7","0",null,"L0000001"]'.encode(),
]
HOLDERS = {USERS[0]: P1, USERS[1]: P2}


def _build(root: Path, scores: list[tuple[str, str, int, str]]) -> Home:
    home = Home(root).ensure()
    con = duckdb.connect(str(home.warehouse))
    try:
        ensure_tables(con)
        snaps = sorted({(t[0], t[1]) for t in TRANSACTIONS})
        con.executemany("INSERT INTO ledger.snapshots VALUES (?, ?, 1, 'ab')", snaps)
        con.executemany(
            """INSERT INTO ledger.transactions (_snapshot_id, _source_file, _source_row, txn_id,
                occurred_at, user_id, tx_type, direction, asset, amount, fee, counterparty,
                merchant_id, loan_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(t[0], *t[2:]) for t in TRANSACTIONS],
        )
        con.execute("CREATE SCHEMA minimised")
        con.execute("CREATE TABLE minimised.credit_transactions (txn_id VARCHAR, user_id VARCHAR)")
        con.executemany(
            "INSERT INTO minimised.credit_transactions VALUES (?, ?)",
            [(t[4], HOLDERS[t[6]]) for t in TRANSACTIONS],
        )
        con.execute("CREATE SCHEMA credit")
        con.execute(
            "CREATE TABLE credit.scores (loan_id VARCHAR, subject_id VARCHAR, score BIGINT, "
            "model_version VARCHAR, pd DOUBLE)"
        )
        if scores:
            con.executemany("INSERT INTO credit.scores VALUES (?, ?, ?, ?, 0.1)", scores)
    finally:
        con.close()
    for version in (V1, V2):
        _write_points(home, version)
    return home


def _write_points(home: Home, version: str) -> Path:
    folder = home.models / "credit" / "candidates" / version  # the registry's layout
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "points_table.json").write_text(json.dumps({"version": version, "points": {}}))
    return folder / "points_table.json"


def _materialize(home: Home) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, resources={"ledger_home": ledger_home_resource(home)})


def _meta(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _query(home: Home, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _credential(home: Home, subject: str, loan: str) -> Path:
    return home.out / "subjects" / subject / f"credential-{loan}.json"


def _opening(home: Home, subject: str, loan: str) -> Path:
    return home.out / "subjects" / subject / f"opening-{loan}.json"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, dg.ExecuteInProcessResult]:
    home = _build(tmp_path_factory.mktemp("attest-home"), SCORES)
    result = _materialize(home)
    publish(home.staging, home.out, snapshot_id="snap-b")
    return home, result


def test_the_snapshot_root_is_the_rfc9162_root_of_the_ledger_rows_in_load_order(
    published: tuple[Home, dg.ExecuteInProcessResult],
) -> None:
    home, result = published
    expected = merkle_root(EXPECTED_LEAVES).hex()
    assert _query(home, "SELECT snapshot_id, root, rows FROM attest.snapshot_roots") == [
        ("snap-b", expected, 3)
    ]
    meta = _meta(result, SNAPSHOT_COMMITMENT_KEY)
    assert (meta["status"], meta["merkle root"], meta["rows"]) == ("committed", expected, 3)
    path = home.out / "dpo" / "attestations" / "snapshot-snap-b.json"
    subject = read_document(path)["credentialSubject"]
    assert (subject["merkleRoot"], subject["treeSize"]) == (expected, 3)
    assert verify_file(path, home=home.root).valid


def test_every_scored_application_gets_a_credential_that_verifies_offline(
    published: tuple[Home, dg.ExecuteInProcessResult],
) -> None:
    home, result = published
    rows = _query(
        home, "SELECT subject, loan_id, status_index, revoked FROM attest.credentials ORDER BY 2"
    )
    assert [(s, loan, revoked) for s, loan, _, revoked in rows] == [
        (P1, "L0000001", False),
        (P2, "L0000002", False),
        (P1, "L0000003", False),
    ]
    assert sorted(r[2] for r in rows) == [0, 1, 2]
    root = merkle_root(EXPECTED_LEAVES).hex()
    points = home.models / "credit" / "candidates" / V1 / "points_table.json"
    for loan, subject, score, _ in SCORES:
        report = verify_file(_credential(home, subject, loan), home=home.root)
        assert report.valid, report.summary()
        cred = read_document(_credential(home, subject, loan))
        claims = cred["credentialSubject"]
        assert claims["id"] == f"urn:ledgerlens:subject:{subject}"
        assert claims["snapshotRoot"] == root
        assert claims["model"] == {
            "version": V1,
            "hash": "sha256:" + hashlib.sha256(points.read_bytes()).hexdigest(),
        }
        opening = read_document(_opening(home, subject, loan))
        assert (opening["credentialId"], opening["score"]) == (cred["id"], score)
    meta = _meta(result, SCORE_CREDENTIALS_KEY)
    assert (meta["credentials issued"], meta["kept (already valid)"]) == (3, 0)
    assert meta["issuer key id"] == _meta(result, ISSUER_KEY_ASSET)["issuer key id"]
    assert meta["snapshot root"] == root


def test_a_threshold_presentation_verifies_only_for_its_nonce_and_audience(
    published: tuple[Home, dg.ExecuteInProcessResult], tmp_path: Path
) -> None:
    home, _ = published
    cred, opening = _credential(home, P1, "L0000001"), _opening(home, P1, "L0000001")
    out = tmp_path / "presentation.json"
    prove_threshold(cred, opening, 700, NONCE, AUDIENCE, out=out)
    report = verify_file(out, nonce=NONCE, audience=AUDIENCE, home=home.root)
    assert report.valid, report.summary()
    assert verify_file(out, nonce="another", audience=AUDIENCE, home=home.root).failed == "context"
    assert verify_file(out, nonce=NONCE, audience="did:web:x", home=home.root).failed == "context"
    with pytest.raises(ValueError, match="below|threshold") as err:
        prove_threshold(cred, opening, 713, NONCE, AUDIENCE)
    assert "712" not in str(err.value)
    with pytest.raises(ValueError):
        prove_threshold(
            _credential(home, P2, "L0000002"), _opening(home, P2, "L0000002"), 600, NONCE, AUDIENCE
        )


def test_a_tampered_or_swapped_credential_is_rejected(
    published: tuple[Home, dg.ExecuteInProcessResult], tmp_path: Path
) -> None:
    home, _ = published
    cred = read_document(_credential(home, P1, "L0000001"))
    other = read_document(_credential(home, P2, "L0000002"))
    extended = json.loads(json.dumps(cred))
    extended["validUntil"] = "2099-01-01T00:00:00Z"
    swapped = json.loads(json.dumps(cred))
    swapped["credentialSubject"]["score"] = other["credentialSubject"]["score"]
    for name, doc in (("extended", extended), ("swapped", swapped)):
        path = write_document(tmp_path / f"{name}.json", doc)
        assert verify_file(path, home=home.root).failed == "signature", name
    raw = bytearray(_credential(home, P1, "L0000001").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    flipped = tmp_path / "flipped.json"
    flipped.write_bytes(bytes(raw))
    assert not verify_file(flipped, home=home.root).valid


def test_openings_exist_only_in_their_subjects_folder_and_nowhere_else_on_disk(
    published: tuple[Home, dg.ExecuteInProcessResult],
) -> None:
    home, _ = published
    openings = sorted(p.relative_to(home.root) for p in home.root.rglob("opening-*"))
    assert [p.parts for p in openings] == [
        ("out", "subjects", P1, "opening-L0000001.json"),
        ("out", "subjects", P1, "opening-L0000003.json"),
        ("out", "subjects", P2, "opening-L0000002.json"),
    ]
    blindings = {read_document(home.root / p)["blinding"].encode() for p in openings}
    for path in (p for p in home.root.rglob("*") if p.is_file()):
        if path.name.startswith("opening-"):
            continue
        data = path.read_bytes()
        leaked = [b for b in blindings if b in data or bytes.fromhex(b.decode()) in data]
        assert not leaked, f"a blinding factor is in {path.relative_to(home.root)}"
    assert not any((home.out / "risk").rglob("*")) and not any((home.out / "buyers").rglob("*"))


def test_the_leak_guard_passes_every_attestation_file_and_finds_no_ledger_id(
    published: tuple[Home, dg.ExecuteInProcessResult],
) -> None:
    home, _ = published
    needles = NeedleSet()
    needles.add_many([("account_id", u) for u in USERS])
    report = scan_paths(home.out, needles)
    assert report.ok, report.summary()
    # key, status list, snapshot, 3 credentials, 3 openings, 2 inclusion proofs, 2 manifests
    assert report.files_scanned == 13


def _inclusion(home: Home, subject: str) -> Path:
    return home.out / "subjects" / subject / "inclusion-snap-b.json"


def test_each_subject_receives_the_inclusion_proofs_of_exactly_their_rows(
    published: tuple[Home, dg.ExecuteInProcessResult],
) -> None:
    home, result = published
    for subject, indices in ((P1, [0, 2]), (P2, [1])):
        report = verify_file(_inclusion(home, subject), home=home.root)
        assert report.valid, report.summary()
        doc = read_document(_inclusion(home, subject))
        assert doc["indices"] == indices
        leaves = [mb_decode(leaf, "leaf") for leaf in doc["leaves"]]
        assert leaves == [EXPECTED_LEAVES[i] for i in indices]
        assert not any(u.encode() in leaf for u in USERS for leaf in leaves)
        signed = doc["snapshot"]["credentialSubject"]
        assert signed["merkleRoot"] == merkle_root(EXPECTED_LEAVES).hex()
        assert signed["treeSize"] == 3
    meta = _meta(result, SCORE_CREDENTIALS_KEY)
    assert meta["inclusion proofs staged"] == 2
    assert meta["inclusion proofs"] == "3 rows of 2 subjects in snapshot snap-b of 3"


def test_a_tampered_row_multiproof_index_or_count_fails_the_merkle_inclusion_check(
    published: tuple[Home, dg.ExecuteInProcessResult], tmp_path: Path
) -> None:
    home, _ = published
    doc = read_document(_inclusion(home, P1))
    assert doc["indices"] == [0, 2]
    nodes = mb_decode(doc["multiproof"], "multiproof")
    changes: dict[str, dict[str, Any]] = {
        "row": {
            "leaves": [doc["leaves"][0], mb_encode(EXPECTED_LEAVES[2].replace(b"1e-7", b"1e-6"))]
        },
        "multiproof": {"multiproof": mb_encode(bytes([nodes[0] ^ 1]) + nodes[1:])},
        "index": {"indices": [1, 2]},  # another holder's slot
        "count": {"indices": [2], "leaves": doc["leaves"][1:]},
    }
    for name, change in changes.items():
        changed = {**doc, **change}
        report = verify_file(write_document(tmp_path / f"{name}.json", changed), home=home.root)
        assert report.failed == "merkle_inclusion", (name, report.summary())
        assert "is not in snapshot snap-b" in report.summary()


def _audited(home: Home) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = _query(
        home,
        "SELECT actor, action, subject, details FROM audit.events "
        "WHERE action LIKE 'attest.%' ORDER BY seq",
    )
    return [(a, b, c, json.loads(d)) for a, b, c, d in rows]


def _values(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _values(x)] + list(obj)
    if isinstance(obj, list):
        return [v for x in obj for v in _values(x)]
    return [obj]


def _assert_no_personal_value(
    home: Home, events: list[tuple[str, str, str, dict[str, Any]]]
) -> None:
    """No score, opening, pseudonym, loan id or ledger user id in any attestation audit event."""
    openings = [read_document(p) for p in (home.out / "subjects").glob("*/opening-*.json")]
    assert openings
    secrets = {o["blinding"] for o in openings} | {o["subject"] for o in openings}
    names = {*USERS, P1, P2, *(loan for loan, *_ in SCORES)} | secrets
    scores = {score for _, _, score, _ in SCORES} | {o["score"] for o in openings}
    for actor, action, subject, details in events:
        for value in [actor, action, subject, *_values(details)]:
            assert not (type(value) is int and value in scores), (action, value)
            assert not any(name in str(value) for name in names), (action, value)


def test_reruns_keep_valid_credentials_and_reissue_what_the_gate_discarded_or_a_new_model_scored(
    tmp_path: Path,
) -> None:
    home = _build(tmp_path / "home", SCORES)
    _materialize(home)
    discard(home.staging)  # a blocked gate: the openings are gone with the staged files
    second = _meta(_materialize(home), SCORE_CREDENTIALS_KEY)
    assert (second["credentials issued"], second["revoked (superseded or undelivered)"]) == (3, 3)
    publish(home.staging, home.out, snapshot_id="snap-b")

    third = _materialize(home)
    meta = _meta(third, SCORE_CREDENTIALS_KEY)
    assert (meta["credentials issued"], meta["kept (already valid)"]) == (0, 3)
    assert _meta(third, SNAPSHOT_COMMITMENT_KEY)["status"].startswith("already committed")
    assert not any(home.staging.glob("*/subjects/*"))
    publish(home.staging, home.out, snapshot_id="snap-b")
    old = tmp_path / "old-credential.json"
    shutil.copy(_credential(home, P1, "L0000001"), old)
    assert verify_file(old, home=home.root).valid

    con = duckdb.connect(str(home.warehouse))
    con.execute("UPDATE credit.scores SET model_version = ? WHERE loan_id = 'L0000001'", [V2])
    con.close()
    fourth = _meta(_materialize(home), SCORE_CREDENTIALS_KEY)
    assert (fourth["credentials issued"], fourth["revoked (superseded or undelivered)"]) == (1, 1)
    publish(home.staging, home.out, snapshot_id="snap-b")
    assert verify_file(old, home=home.root).failed == "revocation"
    new = _credential(home, P1, "L0000001")
    assert verify_file(new, home=home.root).valid
    assert read_document(new)["credentialSubject"]["model"]["version"] == V2
    indices = _query(home, "SELECT status_index, revoked FROM attest.credentials ORDER BY 1")
    assert [i for i, _ in indices] == list(range(7))
    assert sum(r for _, r in indices) == 4

    # Each issuance and revocation is in the audit chain, with counts, indexes and reasons only.
    events = _audited(home)
    issued = [
        (d["credentials"], d["status_list_indexes"]) for _, a, _, d in events if "issued" in a
    ]
    assert issued == [(3, [[0, 2]]), (3, [[3, 5]]), (1, [[6, 6]])]
    revoked = {
        (subject, d["status_list_index"], d["reason"])
        for _, a, subject, d in events
        if a == "attest.credential_revoked"
    }
    ids = dict(_query(home, "SELECT status_index, credential_id FROM attest.credentials"))
    undelivered = "never delivered (the publish gate discarded it)"
    assert revoked == {(ids[i], i, undelivered) for i in (0, 1, 2)} | {
        (ids[3], 3, f"superseded by model version {V2}")
    }
    assert all(d["snapshot_id"] == "snap-b" for *_, d in events)
    _assert_no_personal_value(home, events)
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        assert verify_chain(con).ok
    finally:
        con.close()

    (home.keys / "attest_issuer.key").unlink()  # a lost issuer secret is never regenerated
    with pytest.raises(Exception) as err:
        _materialize(home)
    assert any(
        isinstance(e, KeyMissingError) and e.key_name == "attest_issuer" for e in _chain(err.value)
    )
    assert not (home.keys / "attest_issuer.key").exists()


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and what Dagster wrapped (``user_exception``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "user_exception", None)]
    return seen


def test_without_scores_credentials_are_skipped_with_the_reason(tmp_path: Path) -> None:
    home = _build(tmp_path / "home", [])
    result = _materialize(home)
    meta = _meta(result, SCORE_CREDENTIALS_KEY)
    assert meta["status"] == "skipped"
    assert "credit.scores is empty" in meta["reason"]
    assert _meta(result, SNAPSHOT_COMMITMENT_KEY)["rows"] == 3
    assert _query(home, "SELECT count(*) FROM attest.credentials") == [(0,)]
    staged = sorted(p.relative_to(home.staging).parts[1:] for p in home.staging.rglob("*.json"))
    assert staged == [
        ("dpo", "attestations", "snapshot-snap-b.json"),
        ("issuer", "issuer_key.json"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_text_is_the_rfc8785_spelling_of_every_finite_float(value: float) -> None:
    assert number_text(value) == rfc8785.dumps(value).decode()


_texts = st.one_of(
    st.none(), st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
)
_floats = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_texts, _floats, _texts), min_size=1, max_size=40))
def test_arrow_row_encoding_equals_encode_row_row_by_row(
    rows: list[tuple[str | None, float | None, str | None]],
) -> None:
    # Quotes, backslashes, control characters (U+0000 included), non-ASCII text, -0.0, exponent
    # forms and nulls: the vectorised encoding must give the very bytes of the per-row one.
    a, f, b = (list(c) for c in zip(*rows, strict=True))
    batch = pa.record_batch(
        {
            "a": pa.array(a, pa.string()),
            "f": pa.array(f, pa.float64()),
            "b": pa.array(b, pa.string()),
        }
    )
    expected = [
        encode_row("transactions", [x, None if y is None else number_text(y), z]).decode()
        for x, y, z in rows
    ]
    assert encode_rows("transactions", batch).to_pylist() == expected
    # Batches sliced from a larger one share its buffers: each slice is scanned for escapes and
    # exponents over its own bytes only, and must still find those it holds.
    for start in range(len(rows)):
        for stop in (start + 1, len(rows)):
            part = batch.slice(start, stop - start)
            assert encode_rows("transactions", part).to_pylist() == expected[start:stop]


def test_a_non_finite_amount_fails_naming_the_column_and_row_but_not_the_value() -> None:
    batch = pa.record_batch({"amount": pa.array([1.5, 2.5, float("inf")], pa.float64())})
    with pytest.raises(ValueError, match="column amount: the value in row 12 ") as err:
        encode_rows("transactions", batch, first_row=10)
    assert "inf" not in str(err.value)


def test_rows_encoded_ahead_on_threads_come_in_order_and_a_bad_row_stops_them() -> None:
    # Batches are encoded on two threads several batches ahead: the output keeps load order and
    # row numbers count across batches; a non-finite value fails naming its row in load order,
    # and no encoding thread outlives the failure.
    def batches(bad_at: int | None) -> list[pa.RecordBatch]:
        out = []
        for b in range(9):
            amounts = [float(b * 10 + i) for i in range(10)]
            if bad_at is not None and b == bad_at // 10:
                amounts[bad_at % 10] = float("nan")
            holders = [f"ps_{b}_{i}" for i in range(10)]
            out.append(pa.record_batch({"amount": amounts, "holder": holders}))
        return out

    got = list(encode_ahead("transactions", batches(None), workers=2))
    assert [h for _, holders in got for h in holders.to_pylist()] == [
        f"ps_{b}_{i}" for b in range(9) for i in range(10)
    ]
    expected = [
        encode_row("transactions", [number_text(float(k)), f"ps_{k // 10}_{k % 10}"])
        for k in range(90)
    ]
    assert [row.encode() for encoded, _ in got for row in encoded.to_pylist()] == expected
    with pytest.raises(ValueError, match="the value in row 57 ") as err:
        list(encode_ahead("transactions", batches(57), workers=2))
    assert "nan" not in str(err.value).lower()
    assert not [t for t in threading.enumerate() if t.name.startswith("encode")]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("../../../out/risk/x", P2, 700, V1), "row 0 (ordered by loan_id), column loan_id"),
        (("L0000009", P2, 1024, V1), "row 0: the score must be an integer in [0, 2^10)"),
    ],
)
def test_a_hostile_score_row_fails_naming_row_and_column_but_not_the_value(
    tmp_path: Path, row: tuple[str, str, int, str], expected: str
) -> None:
    home = _build(tmp_path / "home", [row])
    result = dg.materialize(
        ASSETS, resources={"ledger_home": ledger_home_resource(home)}, raise_on_error=False
    )
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert expected in message
    assert row[0] not in message and str(row[2]) not in message
    assert _query(home, "SELECT count(*) FROM attest.credentials") == [(0,)]
    assert not any(home.root.rglob("credential-*")) and not any(home.root.rglob("x"))


def test_without_holder_pseudonyms_the_snapshot_is_not_committed_and_says_why(
    tmp_path: Path,
) -> None:
    home = _build(tmp_path / "home", [])
    con = duckdb.connect(str(home.warehouse))
    con.execute("DROP TABLE minimised.credit_transactions")
    con.close()
    result = dg.materialize(
        [issuer_key, snapshot_commitment], resources={"ledger_home": ledger_home_resource(home)}
    )
    meta = _meta(result, SNAPSHOT_COMMITMENT_KEY)
    assert meta["status"] == "skipped"
    assert meta["reason"] == (
        "minimised.credit_transactions lacks txn_id, user_id: the leaves name the holder"
    )
    assert _query(home, "SELECT count(*) FROM attest.snapshot_roots") == [(0,)]
