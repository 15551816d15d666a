"""The audit log's signed checkpoints: every way of altering the log is detected and named, and
the checkpoint key comes from the key vault, never from the table."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.audit import (
    AUDIT_KEY_NAME,
    EVENT_SQL,
    GENESIS_HASH,
    AuditEvent,
    AuditKey,
    AuditTamperedError,
    _canonical,
    _json_string_sql,
    _string,
    append_event,
    append_events,
    audit_key_for_verification,
    event_bytes,
    read_checkpoints,
    read_witness,
    verify_audit,
    verify_chain,
    write_checkpoint,
    write_witness,
)
from privacy.keyvault import MASTER_KEY_ENV, KeyMissingError, open_keyvault


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[duckdb.DuckDBPyConnection]:
    """20 events appended in two batches with checkpoints after events 10 and 20, signed by the
    key vault's audit key."""
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    key = AuditKey.from_keyvault(open_keyvault(con, tmp_path / "keys"))
    for first in (1, 11):
        append_events(
            con,
            [
                AuditEvent("pipeline", "score_issued", f"P{i:03d}", {"n": i, "note": "münze"})
                for i in range(first, first + 10)
            ],
        )
        write_checkpoint(con, key)
    yield con
    con.close()


def _trusted(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> AuditKey | None:
    return audit_key_for_verification(con, tmp_path / "keys")


def _rewrite(con: duckdb.DuckDBPyConnection, seq: int, details: str) -> None:
    """An attacker who knows the hash construction: edit one event and recompute every hash
    from there on, so the hash chain itself verifies again."""
    rows = con.execute(
        "SELECT seq, event_time, actor, action, subject, details FROM audit.events ORDER BY seq"
    ).fetchall()
    prev = GENESIS_HASH
    for s, when, actor, action, subject, old in rows:
        body = event_bytes(s, when, actor, action, subject, details if s == seq else old)
        digest = hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()
        con.execute(
            "UPDATE audit.events SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            [details if s == seq else old, prev, digest, s],
        )
        prev = digest


def test_an_intact_log_verifies_with_both_checkpoints_and_counts_unsigned_events(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    status = verify_audit(log, _trusted(log, tmp_path))
    assert status.ok, status.message
    assert (status.chain.events, status.checkpoints, status.unsigned_events) == (20, 2, 0)
    assert status.last_checkpoint is not None and status.last_checkpoint.event_seq == 20
    cps = read_checkpoints(log)
    assert [c.event_seq for c in cps] == [10, 20]
    assert cps[1].prev_checkpoint_hash == cps[0].digest()
    append_event(log, "pipeline", "late", None, {})
    later = verify_audit(log, _trusted(log, tmp_path))
    assert later.ok and later.unsigned_events == 1
    # No new event: signing again returns the last checkpoint instead of a new one.
    key = AuditKey.from_keyvault(open_keyvault(log, tmp_path / "keys"))
    third = write_checkpoint(log, key)
    assert third is not None and third.event_seq == 21
    assert write_checkpoint(log, key) == third


def test_an_edited_event_is_named(log: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log.execute("UPDATE audit.events SET subject = 'P999' WHERE seq = 7")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_seq == 7
    assert "hash mismatch at seq 7" in status.message


def test_a_deleted_event_is_named(log: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log.execute("DELETE FROM audit.events WHERE seq = 12")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_seq == 13
    assert "sequence gap before seq 13" in status.message


def test_two_swapped_events_are_named(log: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log.execute("UPDATE audit.events SET seq = -1 WHERE seq = 4")
    log.execute("UPDATE audit.events SET seq = 4 WHERE seq = 5")
    log.execute("UPDATE audit.events SET seq = 5 WHERE seq = -1")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_seq == 4


def test_a_cut_tail_is_detected_against_the_last_checkpoint(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    log.execute("DELETE FROM audit.events WHERE seq > 15")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert status.chain.ok  # the hash chain alone cannot see it
    assert not status.ok and status.first_bad_checkpoint == 2 and status.first_bad_seq == 16
    assert "events after seq 15 are missing" in status.message


def test_a_cut_tail_with_its_checkpoint_deleted_is_caught_by_the_published_witness(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    published = write_witness(tmp_path / "out" / "cp.json", read_checkpoints(log)[-1])
    witness = read_witness(published)
    log.execute("DELETE FROM audit.events WHERE seq > 15")
    log.execute("DELETE FROM audit.checkpoints WHERE checkpoint_seq = 2")
    blind = verify_audit(log, _trusted(log, tmp_path))
    # Without the witness only the shorter signed prefix is visible: 5 events after it.
    assert blind.ok and blind.unsigned_events == 5
    status = verify_audit(log, _trusted(log, tmp_path), [witness])
    assert not status.ok and status.first_bad_checkpoint == 2 and status.first_bad_seq == 16
    assert "missing from audit.checkpoints" in status.message


def test_a_rewritten_chain_is_detected_by_the_checkpoint_it_contradicts(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    _rewrite(log, 3, '{"n":-1}')
    status = verify_audit(log, _trusted(log, tmp_path))
    assert status.chain.ok
    assert not status.ok and status.first_bad_checkpoint == 1 and status.first_bad_seq == 10
    assert "rewritten" in status.message


def test_a_whole_chain_rewrite_re_signed_with_a_new_key_is_detected(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    _rewrite(log, 1, '{"n":0}')
    log.execute("DELETE FROM audit.checkpoints")
    forger = AuditKey.from_seed(os.urandom(32))
    write_checkpoint(log, forger)
    assert verify_audit(log, forger).ok  # consistent on its own terms
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_checkpoint == 1
    assert f"signed by key {forger.key_id}" in status.message


def test_deleting_every_checkpoint_is_detected_while_the_key_exists(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    log.execute("DELETE FROM audit.checkpoints")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and "no checkpoint" in status.message


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audit.checkpoints SET event_seq = 9 WHERE checkpoint_seq = 1", "signature"),
        ("UPDATE audit.checkpoints SET signature = repeat('0', 128)", "signature"),
        ("DELETE FROM audit.checkpoints WHERE checkpoint_seq = 1", "checkpoint 1 is missing"),
    ],
)
def test_an_edited_or_deleted_checkpoint_is_named(
    log: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str, expected: str
) -> None:
    log.execute(sql)
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_checkpoint in (1, 2)
    assert expected in status.message


def test_no_checkpoint_is_signed_over_a_broken_chain(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    append_event(log, "pipeline", "x", None, {})
    log.execute("UPDATE audit.events SET actor = 'mallory' WHERE seq = 21")
    key = AuditKey.from_keyvault(open_keyvault(log, tmp_path / "keys"))
    with pytest.raises(AuditTamperedError, match="seq 21"):
        write_checkpoint(log, key)
    _rewrite(log, 2, "{}")
    with pytest.raises(AuditTamperedError, match="seq 20 no longer has the hash"):
        write_checkpoint(log, key)
    assert len(read_checkpoints(log)) == 2


def test_the_trusted_key_comes_from_the_key_vault_and_a_lost_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert audit_key_for_verification(con, tmp_path / "keys") is None
    append_event(con, "a", "b", None, {})
    signer = AuditKey.from_keyvault(open_keyvault(con, tmp_path / "keys"))
    write_checkpoint(con, signer)
    trusted = audit_key_for_verification(con, tmp_path / "keys")
    assert trusted is not None and trusted.key_id == signer.key_id
    with pytest.raises(ValueError, match="cannot sign"):
        AuditKey(trusted.public_key).sign(b"x")
    (tmp_path / "keys" / f"{AUDIT_KEY_NAME}.key").unlink()
    with pytest.raises(KeyMissingError, match=AUDIT_KEY_NAME):
        audit_key_for_verification(con, tmp_path / "keys")
    status = verify_audit(con, None)
    assert not status.ok and "no audit key" in status.message
    con.close()


def test_a_malformed_witness_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_text(json.dumps({"format": "ledgerlens.audit.checkpoint/1", "event_seq": 3}))
    with pytest.raises(ValueError, match=r"cp\.json.*checkpoint_seq"):
        read_witness(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"cp\.json"):
        read_witness(path)


def test_a_forged_witness_is_reported(log: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    real = read_checkpoints(log)[-1]
    forged = replace(real, event_seq=21)
    status = verify_audit(log, _trusted(log, tmp_path), [forged])
    assert not status.ok and "witness checkpoint 2 is not signed" in status.message


_text = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(1, 2**62),
    when=_text,
    actor=_text,
    action=_text,
    subject=st.none() | _text,
    details=_text,
)
def test_the_hand_written_event_encoding_is_the_canonical_json(
    seq: int, when: str, actor: str, action: str, subject: str | None, details: str
) -> None:
    event = {
        "seq": seq,
        "event_time": when,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    assert event_bytes(seq, when, actor, action, subject, details) == _canonical(event).encode()


# -- the SQL encoding verification uses, and the bulk paths ----------------------------------

_HOSTILE = [
    "\\",
    '"',
    "\\u00",
    "\\u000B",
    "\x0b",
    "\x00",
    "\x1f",
    "\n",
    "é",
    "😀",
    "/",
    "\x7f",
    "\u2028",
]
_nasty_text = st.lists(st.sampled_from(_HOSTILE) | st.characters(codec="utf-8"), max_size=12).map(
    "".join
)
_COLUMNS = ("seq", "event_time", "actor", "action", "subject", "details")


@pytest.fixture(scope="module")
def memory() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def _sql_encoding(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str, str, str | None, str]]
) -> list[bytes]:
    types = [pa.int64()] + [pa.string()] * 5
    table = pa.table({c: pa.array([r[k] for r in rows], types[k]) for k, c in enumerate(_COLUMNS)})
    con.register("events", table)
    try:
        out = con.execute(f"SELECT {EVENT_SQL} FROM events").fetchall()
    finally:
        con.unregister("events")
    return [str(r[0]).encode("utf-8") for r in out]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**63), 2**63 - 1),
            _nasty_text,
            _nasty_text,
            _nasty_text,
            st.none() | _nasty_text,
            _nasty_text,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_the_sql_event_encoding_verification_uses_is_the_bytes_appending_hashes(
    memory: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str, str, str | None, str]]
) -> None:
    assert _sql_encoding(memory, rows) == [event_bytes(*r) for r in rows]


def test_every_code_point_is_escaped_in_sql_as_json_dumps_escapes_it() -> None:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    values = chars + ["a\\u000Bb", "\\\x0b", '\\"\x1a', "\\u00\\u001f\x1f"]
    con = duckdb.connect()
    con.register("v", pa.table({"s": values}))
    got = [r[0] for r in con.execute(f"SELECT {_json_string_sql('s')} FROM v").fetchall()]
    con.close()
    wrong = [(v, g) for v, g in zip(values, got, strict=True) if g != _string(v)]
    assert not wrong, wrong[:5]


def test_a_log_of_hostile_text_verifies_and_an_edit_inside_it_is_named(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    when = datetime(2026, 1, 2, tzinfo=UTC)
    texts = ["\x00", "a\x0bb", "\\u000B", 'q"uote', "line\nbreak", "😀", "\\"]
    append_events(con, [AuditEvent(t, f"act{t}", t, {"k": t}, event_time=when) for t in texts])
    assert verify_chain(con).ok
    con.execute("UPDATE audit.events SET actor = '\\u000b' WHERE seq = 3")  # was \u000B
    status = verify_chain(con)
    assert (status.ok, status.first_bad_seq, status.events) == (False, 3, len(texts))
    assert status.message == "hash mismatch at seq 3"
    con.close()


def test_macros_stored_in_the_warehouse_cannot_stand_in_for_the_built_ins(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Each would change every hash or encoding if the verifier called the unqualified name.
    for macro in (
        "sha256(x) AS 'forged'",
        "to_json(x) AS 'forged'",
        "concat(a, b) AS 'forged'",
        "replace(a, b, c) AS 'forged'",
        "strpos(a, b) AS 1",
        "chr(x) AS 'forged'",
        "\"||\"(a, b) AS 'forged'",
    ):
        log.execute(f"CREATE MACRO {macro}")
        log.execute(f"CREATE MACRO audit.{macro}")
    intact = verify_audit(log, _trusted(log, tmp_path))
    assert intact.ok, intact.message
    log.execute("UPDATE audit.events SET details = '{}' WHERE seq = 14")
    status = verify_audit(log, _trusted(log, tmp_path))
    assert not status.ok and status.first_bad_seq == 14
    assert "hash mismatch at seq 14" in status.message


def test_an_intact_log_stored_out_of_seq_order_verifies(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    log.execute("CREATE TABLE audit.shuffled AS SELECT * FROM audit.events ORDER BY seq DESC")
    log.execute("DELETE FROM audit.events")
    log.execute("INSERT INTO audit.events SELECT * FROM audit.shuffled")
    # Storage order is now 20, 19, ..., 1: the storage-order pass fails, the ordered one holds.
    assert log.execute("SELECT seq FROM audit.events LIMIT 1").fetchall() == [(20,)]
    status = verify_audit(log, _trusted(log, tmp_path))
    assert status.ok and status.chain.events == 20, status.message


def test_rows_outside_the_sequence_and_null_fields_are_detected(
    log: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A row below seq 1 was outside the walk before: now it breaks the sequence where it sorts.
    log.execute(
        "INSERT INTO audit.events SELECT 0, event_time, actor, action, subject, details, "
        "prev_hash, hash FROM audit.events WHERE seq = 1"
    )
    status = verify_chain(log)
    assert (status.ok, status.first_bad_seq, status.events) == (False, 0, 21)
    assert status.message == "sequence gap before seq 0"
    log.execute("DELETE FROM audit.events WHERE seq = 0")
    # Without the table's constraints: a NULL seq and a NULL in place of an empty string.
    log.execute("CREATE TABLE audit.loose AS SELECT * FROM audit.events")
    log.execute("DROP TABLE audit.events")
    log.execute("ALTER TABLE audit.loose RENAME TO events")
    assert verify_chain(log).ok
    log.execute(
        "INSERT INTO audit.events SELECT NULL, event_time, actor, action, subject, "
        "details, prev_hash, hash FROM audit.events WHERE seq = 20"
    )
    status = verify_chain(log)
    assert not status.ok and status.first_bad_seq == 21
    assert status.message == "an event without seq after seq 20"
    log.execute("DELETE FROM audit.events WHERE seq IS NULL")
    empty = append_events(log, [AuditEvent("", "x")])
    assert len(empty) == 1 and verify_chain(log).ok
    log.execute("UPDATE audit.events SET actor = NULL WHERE seq = 21")
    status = verify_chain(log)
    assert (status.ok, status.first_bad_seq) == (False, 21)
    assert status.message == "hash mismatch at seq 21"


def test_append_events_builds_the_chain_append_event_builds_and_lands_all_or_nothing(
    tmp_path: Path,
) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    events = [AuditEvent("a", "b", f"S{i}", {"i": i, "t": "ü"}, when) for i in range(5)]
    one = duckdb.connect(str(tmp_path / "one.duckdb"))
    many = duckdb.connect(str(tmp_path / "many.duckdb"))
    singles = [
        append_event(one, e.actor, e.action, e.subject, e.details, event_time=when)
        for e in events[:2]
    ]
    singles += [
        append_event(many, e.actor, e.action, e.subject, e.details, event_time=when)
        for e in events[:2]
    ]
    batched = append_events(many, events[2:])
    singles += [
        append_event(one, e.actor, e.action, e.subject, e.details, event_time=when)
        for e in events[2:]
    ]
    query = "SELECT * FROM audit.events ORDER BY seq"
    assert one.execute(query).fetchall() == many.execute(query).fetchall()
    assert singles[:2] + batched == singles[2:4] + singles[4:]
    assert append_events(many, []) == []
    # One instant in two offsets: each event keeps the time it was given, as written.
    shifted = when.astimezone(timezone(timedelta(hours=8)))
    append_events(
        many, [AuditEvent("a", "utc", event_time=when), AuditEvent("a", "cst", event_time=shifted)]
    )
    assert many.execute(
        "SELECT event_time FROM audit.events WHERE seq > 5 ORDER BY seq"
    ).fetchall() == [(when.isoformat(),), (shifted.isoformat(),)]
    assert when.isoformat() != shifted.isoformat()
    circular: dict[str, object] = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="[Cc]ircular"):
        append_events(many, [AuditEvent("a", "ok"), AuditEvent("a", "bad", None, circular)])
    assert many.execute("SELECT count(*) FROM audit.events").fetchall() == [(7,)]
    assert verify_chain(many).ok
    one.close()
    many.close()


def test_verification_only_reads(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    assert verify_chain(ro).ok and verify_chain(ro).events == 0
    assert verify_audit(ro, None).ok
    ro.close()
    con = duckdb.connect(str(path))
    append_events(con, [AuditEvent("a", "b"), AuditEvent("a", "c")])
    con.close()
    ro = duckdb.connect(str(path), read_only=True)
    status = verify_audit(ro, None)
    assert status.ok and status.chain.events == 2 and status.unsigned_events == 2
    ro.close()
